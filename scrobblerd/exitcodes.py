"""The process exit codes, in one place (INTERFACE.md: 0, 1, 2, 78)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h: systemd's RestartPreventExitStatus=78 stops a restart loop
