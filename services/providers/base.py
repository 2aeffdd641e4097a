"""The one interface every provider implements: an async generator of text chunks.

A provider knows how to talk to one API and nothing else. Accumulation, timing, storage and retries belong to the
stream manager, so a provider stays a thin translation layer that is easy to test against a wire-faithful server.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Literal

Role = Literal['system', 'user', 'assistant']


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """Everything a provider needs for one answer; ``messages`` is the conversation so far, oldest first."""

    messages: tuple[ChatMessage, ...]
    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


class Provider(ABC):
    """A source of streamed answers.

    ``stream`` yields text chunks of any size (never empty strings) and raises only ``services.errors.ProviderError``
    subclasses; it must end normally only when the provider signalled the end of the answer.
    """

    name: str = ''
    default_model: str = ''
    supports_streaming: bool = True

    @abstractmethod
    def stream(self, request: CompletionRequest) -> AsyncGenerator[str, None]:
        """Yield the answer's text as it arrives."""

    async def models(self) -> list[str]:
        """The models this provider offers; the built-in list when the provider cannot be asked."""
        return [self.default_model]

    def check(self) -> None:  # noqa: B027  (optional hook: the demo provider always works)
        """Raise a ``ProviderError`` if this provider cannot be asked at all (e.g. its key is missing), so the user
        hears it at the prompt box before anything is stored."""

    def continuation_request(self, request: CompletionRequest, partial: str, *, model: str,
                             prefill: bool = True) -> tuple[CompletionRequest, bool, str]:
        """A request that continues ``partial``: (request, sent as a prefill?, whitespace stripped for it).

        The portable way, for APIs without a prefill (OpenAI) or models that refuse one: the partial as the
        assistant's turn, then a user turn asking to go on exactly where it stopped. Providers whose API continues
        a trailing assistant message override this when ``prefill`` is allowed.
        """
        messages = (*request.messages, ChatMessage('assistant', partial), ChatMessage('user', CONTINUE_PROMPT))
        return CompletionRequest(messages=messages, model=model, temperature=request.temperature,
                                 max_tokens=request.max_tokens, extra=dict(request.extra)), False, ''

    async def aclose(self) -> None:  # noqa: B027  (optional hook: most providers hold nothing to release)
        """Release connections; called once at shutdown."""


CONTINUE_PROMPT = (
    'Your previous answer was cut off. Continue it exactly where it stopped: do not repeat anything, do not '
    'start over and do not comment; write only the rest, starting with the very next character.'
)
