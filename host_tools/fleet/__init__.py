"""The fleet view on the hub (docs/fleet.md): summaries kept at ingest
(summary.py, ingest.py), the lists and charts' data read from them
(queries.py), alerts to a webhook (alerts.py), and the operator's pages and
API (web.py mounts them: webkit, layout, session, export, overview,
worklists, api; static/ holds the script, styles and uPlot)."""
