"""`scrobblerd doctor`: checks of everything a working setup needs, each with a one-line fix.

`check.py` is the result type, then one module per area: `local.py` (config, state dir, token,
queue), `remote.py` (Trakt and the clock), `players.py` (mpv, VLC, Kodi), `service.py` (systemd).
`run.py` runs them in order. Only the CLI prints them.
"""
