"""The release control plane: domain, handlers, ports and adapters."""
