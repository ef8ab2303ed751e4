"""Schema migrations of the hub, applied in the order of their numbers."""
