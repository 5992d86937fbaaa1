"""Reports over stored cost events."""
