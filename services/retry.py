"""How long to wait before trying a provider again.

Scribe owns retries; the SDKs are created with ``max_retries=0``. Had both retried, attempts would multiply
(3 SDK attempts × 3 of ours = 9 requests) and the user would see nothing of them. Here every attempt is visible
("retrying (2 of 3) in 4 s") and recorded in the message's event log.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 3  # further attempts on one provider before falling back to the next
    base_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.25  # ± this fraction of the delay, so many clients do not retry in step
    max_retry_after: float = 60.0  # a longer Retry-After means: fall back rather than wait
    continuations: int = 3  # attempts to continue an answer cut after text was shown

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds before retry number ``attempt`` (1-based); the server's Retry-After wins when it gives one."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        base = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        spread = (rng or random.Random()).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a server asked us to wait: ``retry-after-ms`` (OpenAI, some proxies), else the standard
    ``retry-after`` in seconds or as an HTTP date; None when it did not say (or said something unreadable)."""
    raw_ms = headers.get('retry-after-ms')
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get('retry-after')
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None
