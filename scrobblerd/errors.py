"""The project's one error hierarchy. Third-party errors are translated into these once,
in the module that owns the dependency."""

from __future__ import annotations


class ScrobblerdError(Exception):
    """Base of every error we raise on purpose."""


class ConfigError(ScrobblerdError):
    """The configuration is invalid. `problems` holds every `file:line: key.path: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class AuthError(ScrobblerdError):
    """No usable token: the user must run `scrobblerd auth`."""


class TraktError(ScrobblerdError):
    """Any failed exchange with Trakt. `status` is the HTTP status, None for network errors."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class TransientError(TraktError):
    """Worth retrying later: network trouble, timeouts, 429, 5xx, Cloudflare 52x.

    `retry_after` is the server's Retry-After in seconds when it sent one.
    """

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status)


class PermanentError(TraktError):
    """Retrying the same request will not help: 400, 403, 404, 405, 412, 420, 422."""


class AccountLimitError(PermanentError):
    """420: the account hit a Trakt limit (e.g. list sizes on a free account). That item fails
    visibly with the reason; retrying it will not help until the user acts."""


class AccountLockedError(TransientError):
    """423: Trakt locked the account. Writes pause (the queue keeps everything) and are tried
    again now and then (`retry_after`), so delivery resumes by itself once Trakt unlocks it."""


class VipOnlyError(PermanentError):
    """426: a feature only paid (VIP) accounts have. The feature is switched off, said once."""


class AppRejectedError(PermanentError):
    """403: Trakt refused the app's API key (client_id). Trakt removes apps whose users never
    complete OAuth; with the user's own client_id the message says how to go back to the built-in app."""


class UnauthorizedError(TraktError, AuthError):
    """401 even after a refresh: delivery pauses until the user re-authorises."""


class StoreError(ScrobblerdError):
    """The local database could not be used."""


class PlayerError(ScrobblerdError):
    """A player interface answered with something we cannot use."""
