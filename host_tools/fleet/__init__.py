"""The fleet view on the hub (docs/fleet.md): summaries kept at ingest
(summary.py), the lists and charts' data read from them (queries.py),
alerts (alerts.py), and the operator's pages (web.py, static/)."""
