"""Read-side presentation shared by `releasectl` and the dashboard (pure)."""
