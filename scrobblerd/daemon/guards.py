"""What keeps one failing piece from stopping the rest: the parts the daemon started, undone in
reverse with each failure logged, and scheduled jobs whose failures are logged, not raised."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger()


class Parts(contextlib.ExitStack):
    """What the daemon has started, so stopping undoes exactly that, in reverse; one part that
    fails to stop is logged and the others still stop."""

    def push_part(self, name: str, undo: Callable[[], None]) -> None:
        def undo_logged() -> None:
            try:
                undo()
            except Exception as exc:  # stopping must go on whatever one part does
                log.error("stop_failed", part=name, error=repr(exc), traceback=traceback.format_exc())

        self.callback(undo_logged)


def guarded(name: str, func: Callable[[], Any]) -> Callable[[], None]:
    """`func` as a job: one that raises is logged and runs again at its next interval."""

    def job() -> None:
        try:
            func()
        except Exception as exc:  # a job that raises is logged and runs again at its next interval
            log.error("job_failed", job=name, error=repr(exc), traceback=traceback.format_exc())

    return job
