"""Mobile release trains: Play staged rollouts and App Store phased releases (docs/MOBILE.md)."""
