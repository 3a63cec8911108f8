"""The local page, /api/status, /healthz and /metrics: an HTTP server from the standard library.

The daemon hands it a Provider (what to show, what to do); this room never imports the daemon.
"""
