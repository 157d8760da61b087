"""DORA delivery metrics from the release history."""
