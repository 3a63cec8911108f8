"""Files that are never a watch: samples, trailers, extras, openings, and personal recordings.

Plex and Jellyfin name extras by folder (`Extras/`, `Other/`, `Behind The Scenes/`) or by a
suffix after a hyphen (`Title-deleted.mkv`, `Title-featurette.mkv`); Kodi and guessit by `-x01-`.
Releases of a show's extras carry words such as `Extras`, `Bonus.Features` or `Gag.Reel` after
the title; anime releases carry NCOP/NCED. Phones, action cameras and screen recorders name
their files by pattern (`VID_20240301_123456`, `GX010123`, `Screen Recording ...`). Pure.
"""

from __future__ import annotations

import re

# Plex "Local Files for Trailers and Extras" and Jellyfin's extras folders.
EXTRAS_DIRS = frozenset(
    {
        "extras",
        "extra",
        "featurettes",
        "featurette",
        "behind the scenes",
        "deleted scenes",
        "interviews",
        "scenes",
        "shorts",
        "trailers",
        "trailer",
        "samples",
        "sample",
        "other",
        "others",
        "clips",
        "backdrops",
        "theme-music",
        "home videos",
        "dcim",
    }
)
# Plex and Jellyfin extras suffixes: `Title-behindthescenes.mkv`.
_SUFFIX_RE = re.compile(
    r"-(behindthescenes|deleted|deletedscene|featurette|interview|scene|short|trailer|other|clip|"
    r"extra|sample|teaser|bts|gag|bloopers)$",
    re.IGNORECASE,
)
_SAMPLE_RE = re.compile(r"(?:^|[ ._\-\[(])sample(?:$|[ ._\-\])])", re.IGNORECASE)
# Tokens after the title (never at its start: "Extras.S02E06" and "Trailer.Park.Boys" are shows).
_TOKEN_RE = re.compile(
    r"(?<=[ ._\-\[(0-9])(trailer|teaser|featurettes?|extras|bonus(?:[ ._-]features?)?|bloopers|"
    r"gag[ ._-]?reel|making[ ._-]of|appendices|behind[ ._-]?the[ ._-]?scenes|deleted[ ._-]?scenes?)"
    r"(?=$|[ ._\-\])\d])",
    re.IGNORECASE,
)
# Anime openings and endings without credits, and Kodi/guessit `-x01-` extras.
_CLIP_RE = re.compile(r"(?<![A-Za-z])(?:NC-?OP|NC-?ED|OPED)(?![A-Za-z])|(?:^|[ ._-])x\d{1,2}-")
# "Season 2 + Extras": a season pack that also holds extras; its episodes are episodes.
_PACK_WITH_EXTRAS_RE = re.compile(r"(?:\+|&|\bwith|\bincl\.?|\band)\s*(?:extras|bonus)", re.I)
_HOME_VIDEO_RE = re.compile(
    r"^(?:(?:VID|IMG|PXL|MVI|DSCF?|DJI|MAH|YDXJ|GOPR|G[HX]\d\d)[_-]?\d{3,}|C\d{4}$|RPReplay_|"
    r"signal-\d{4}-|WhatsApp Video |Screen Recording |Screencast |Screenshot |video_\d{4}-\d\d|"
    r"\d{8}_\d{6}|\d{4}-\d\d-\d\d \d\d-\d\d-\d\d$)",
    re.IGNORECASE,
)


def extra_reason(folders: list[str], stem: str) -> str | None:
    """Why a file in `folders` named `stem` (no extension) is never a watch, or None."""
    for index, folder in enumerate(folders):
        if index and folder.casefold() in EXTRAS_DIRS:  # inside a film's or show's folder, not a root
            return f"inside an extras folder ({folder!r})"
    if _HOME_VIDEO_RE.match(stem):
        return "a personal recording (camera, phone or screen capture), not a film or an episode"
    found = _SUFFIX_RE.search(stem) or _SAMPLE_RE.search(stem) or _CLIP_RE.search(stem)
    found = found or _TOKEN_RE.search(stem)
    if found is None and folders and not _PACK_WITH_EXTRAS_RE.search(folders[-1]):
        found = _TOKEN_RE.search(folders[-1])  # "Show.S08.Extras.1080p/..."
    if found is not None:
        return f"looks like a sample or extra ({found.group(0).strip(' ._-[]()')!r})"
    return None
