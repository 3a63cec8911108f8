"""scrobblerd: tells Trakt.tv what mpv, Kodi and VLC play."""

__version__ = "0.1.0"
# The v2 counterpart of v1's media-center version fields: sent as app_date with every scrobble.
__date__ = "2026-11-26"
