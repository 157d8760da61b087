"""The release dashboard (function target `release_dashboard`): server-rendered pages of what
runs where, each release's rollouts and evidence, flags, migrations, dead letters and DORA's
metrics; approvers approve or reject from it. See docs/DASHBOARD.md."""
