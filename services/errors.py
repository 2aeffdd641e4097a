"""Scribe's exceptions, in one place so callers can catch by meaning rather than by library.

SDK and transport exceptions (``openai.*``, ``anthropic.*``, ``httpx.*``) are translated into these at the provider
boundary, and nowhere else, so the stream manager decides retry, fallback and continuation on one tree::

    ScribeError
    ├── ConfigError                 a bad option, setting or environment value
    ├── InvalidRequest              what the user asked for cannot be sent (empty or oversized prompt, ...)
    ├── NotFound                    no such project or message (or not the user's)
    └── ProviderError               the provider could not produce (all of) the answer
        ├── ProviderAuthError       401/403, missing key: not retried
        ├── ProviderBadRequest      400, unknown model, context too long: not retried
        ├── ProviderQuotaError      insufficient quota or credit: not retried
        ├── ProviderRateLimited     429: retried, honouring retry_after
        ├── ProviderUnavailable     5xx, overloaded: retried
        └── ProviderStreamError     the connection dropped, stalled or ended without its terminal event
"""

from __future__ import annotations


class ScribeError(Exception):
    """Base of every error Scribe raises on purpose; its message is fit to show to a user."""


class ConfigError(ScribeError):
    pass


class InvalidRequest(ScribeError):
    pass


class NotFound(ScribeError):
    pass


class ProviderError(ScribeError):
    """A provider failure; ``retryable`` tells the stream manager whether another attempt can help."""

    retryable = False

    def __init__(self, message: str, *, provider: str = '', status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    pass


class ProviderBadRequest(ProviderError):
    pass


class ProviderQuotaError(ProviderError):
    pass


class ProviderRateLimited(ProviderError):
    retryable = True


class ProviderUnavailable(ProviderError):
    retryable = True


class ProviderStreamError(ProviderError):
    retryable = True
