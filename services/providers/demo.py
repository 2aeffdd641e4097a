"""The offline demo provider: Scribe runs, and can be tested and benchmarked, without any API key.

It behaves like a streaming model where it matters to the rest of the pipeline: a short "thinking" pause before the
first character, token-sized chunks of uneven length, and a steady average pace. It is deterministic per prompt
(the answer and its chunking are a function of the last user message), so tests and benchmarks can compare what
arrived against ``demo_answer(prompt)`` exactly.

A recorded answer can be replayed instead (``script``): every prompt is then answered with that exact text, cut
into ``chunk_size``-character chunks (token-like sizes when unset) and paced the same way, without the thinking
pause, so the first chunk is due the moment the request arrives. Benchmarks use it to stream a fixed text at a fixed
pace (``bench/stream_bench.py``: 20,000 characters in 4-character chunks at 2,000 characters per second).

Continuations are honoured too: when the conversation ends with (a) an assistant prefill, or (b) an assistant
partial followed by a user turn asking to continue, and that partial is a prefix of the demo answer to the user's
question, only the rest of that answer is streamed. That lets the stream manager's continue-after-failure path be
exercised end to end offline.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from functools import lru_cache

from services.errors import ConfigError
from services.providers.base import ChatMessage, CompletionRequest, Provider
from services.providers.demo_answers import demo_answer, seeded

__all__ = ['DemoProvider', 'demo_answer', 'demo_chunks', 'fixed_chunks', 'thinking_delay']

MODELS = ('scribe-demo', 'scribe-demo-fast')
FAST_FACTOR = 4.0  # 'scribe-demo-fast' streams this many times faster than the configured speed

# Chunk lengths 1..8, weighted like the token lengths of real streaming APIs (mostly 2-5 characters).
_SIZES = (1, 2, 3, 4, 5, 6, 7, 8)
_WEIGHTS = (8, 14, 18, 20, 16, 11, 8, 5)


@lru_cache(maxsize=64)
def _chunks(prompt: str) -> tuple[str, ...]:
    text = demo_answer(prompt)
    rng = seeded(prompt, 'chunks')
    sizes = rng.choices(_SIZES, _WEIGHTS, k=len(text) // 2 + 1)  # mean > 2, so always enough
    chunks: list[str] = []
    position = 0
    for size in sizes:
        if position >= len(text):
            break
        chunks.append(text[position:position + size])
        position += size
    return tuple(chunks)


def demo_chunks(prompt: str) -> list[str]:
    """The exact chunks ``DemoProvider.stream`` yields for ``prompt``; ``''.join`` gives ``demo_answer(prompt)``."""
    return list(_chunks(prompt))


def fixed_chunks(text: str, size: int) -> list[str]:
    """``text`` cut into ``size``-character pieces (the last one may be shorter)."""
    if size < 1:
        raise ConfigError(f'demo chunk size must be a positive number of characters, got {size}')
    return [text[i:i + size] for i in range(0, len(text), size)]


@lru_cache(maxsize=8)
def _script_chunks(script: str, size: int | None) -> tuple[str, ...]:
    """The chunks of a replayed answer: fixed ``size`` pieces, or token-like sizes seeded by the text itself."""
    if size is not None:
        return tuple(fixed_chunks(script, size))
    rng = seeded(script, 'script-chunks')
    chunks: list[str] = []
    position = 0
    while position < len(script):
        size_now = rng.choices(_SIZES, _WEIGHTS)[0]
        chunks.append(script[position:position + size_now])
        position += size_now
    return tuple(chunks)


def thinking_delay(prompt: str) -> float:
    """The pause before the first chunk at a finite speed: 150-300 ms, fixed per prompt."""
    return 0.15 + 0.15 * seeded(prompt, 'latency').random()


def _plan(messages: tuple[ChatMessage, ...],
          answer_for: Callable[[str], str] = demo_answer) -> tuple[str, str]:
    """(the question, what the answer already contains) for this conversation; ``answer_for`` gives the full
    answer to a question (the demo answer, or the replayed script)."""
    users = [index for index, message in enumerate(messages) if message.role == 'user']
    if not users:
        return '', ''
    last = users[-1]
    prompt = messages[last].content
    if messages[-1].role == 'assistant' and last == len(messages) - 2:  # prefill after the question
        prefix = messages[-1].content
        if answer_for(prompt).startswith(prefix):
            return prompt, prefix
    asks_to_continue = 'continu' in prompt.lower()  # a stopped answer followed by a new question is not one
    if asks_to_continue and last >= 2 and messages[last - 1].role == 'assistant' and messages[last - 2].role == 'user':
        asked, partial = messages[last - 2].content, messages[last - 1].content
        answer = answer_for(asked)
        if partial and len(partial) < len(answer) and answer.startswith(partial):  # "please continue"
            return asked, partial
    return prompt, ''


class DemoProvider(Provider):
    """Deterministic, offline, paced answers; see the module docstring."""

    name = 'demo'
    default_model = 'scribe-demo'

    def __init__(self, speed: float = 400.0, *, script: str | None = None, chunk_size: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """``script``: answer every prompt with this text (see the module docstring); ``chunk_size``: cut answers
        into chunks of exactly this many characters instead of token-like sizes. ``clock`` and ``sleep`` are
        replaceable so tests can check the pacing on a virtual clock."""
        if math.isnan(speed) or speed < 0:
            raise ConfigError(f'demo speed must be a positive number of characters per second, got {speed}')
        if chunk_size is not None and (isinstance(chunk_size, bool) or chunk_size < 1):
            raise ConfigError(f'demo chunk size must be a positive number of characters, got {chunk_size}')
        if script is not None and not script:
            raise ConfigError('the demo script is empty: give it the text to replay')
        self.speed = speed
        self.script = script
        self.chunk_size = chunk_size
        self._clock = clock
        self._sleep = sleep

    async def models(self) -> list[str]:
        return list(MODELS)

    def _speed_for(self, model: str) -> float:
        """Characters per second for ``model``; 0 and inf both mean as fast as possible. Unknown model names are
        served like the default model, so a fallback that keeps another provider's model name still answers."""
        if self.speed == 0 or math.isinf(self.speed):
            return math.inf
        return self.speed * FAST_FACTOR if model == 'scribe-demo-fast' else self.speed

    def answer(self, prompt: str) -> str:
        """The full answer this provider gives to ``prompt``."""
        return self.script if self.script is not None else demo_answer(prompt)

    def chunks(self, prompt: str) -> list[str]:
        """The exact chunks a fresh answer to ``prompt`` is streamed in."""
        return list(self._chunks_for(prompt))

    def _chunks_for(self, prompt: str) -> tuple[str, ...]:
        if self.script is not None:
            return _script_chunks(self.script, self.chunk_size)
        if self.chunk_size is not None:
            return tuple(fixed_chunks(demo_answer(prompt), self.chunk_size))
        return _chunks(prompt)

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[str, None]:
        prompt, already = _plan(request.messages, self.answer)
        chunks = self._chunks_for(prompt)
        skip = len(already)
        speed = self._speed_for(request.model)
        if math.isinf(speed):
            for chunk in _remaining(chunks, skip):
                yield chunk
                await asyncio.sleep(0)  # stay cancellable and let consumers run, without any waiting
            return
        # Each chunk is due when the characters before it have had their share of time, measured from one start
        # on a monotonic clock: a late wake-up shortens the next sleep, so drift never accumulates.
        # A replayed script has no thinking pause: its first chunk is due at once (benchmarks time from the start).
        start = self._clock() + (0.0 if self.script is not None else thinking_delay(prompt))
        sent = 0
        for chunk in _remaining(chunks, skip):
            await self._sleep(max(0.0, start + sent / speed - self._clock()))
            yield chunk
            sent += len(chunk)


def _remaining(chunks: tuple[str, ...], skip: int) -> list[str]:
    """The chunks after the first ``skip`` characters, the chunk that straddles the boundary cut at it."""
    if not skip:
        return list(chunks)
    rest: list[str] = []
    position = 0
    for chunk in chunks:
        end = position + len(chunk)
        if end > skip:
            rest.append(chunk[max(0, skip - position):])
        position = end
    return rest
