"""posdiag hub: the web service terminals upload to (docs/hub.md)."""
