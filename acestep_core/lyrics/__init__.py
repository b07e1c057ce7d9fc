"""lyrics package."""
