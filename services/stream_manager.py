"""Generation as server-side tasks that no page owns.

The StreamManager starts one asyncio task per assistant message. The task pulls chunks from a provider, feeds the
message's renderer, publishes batched display operations on the event bus and checkpoints the text to storage
about once a second. Pages only ``attach`` (snapshot + subscription) and send commands (``stop``); closing every
tab changes nothing for the task. ``StreamSession`` is the response object in Simon Willison's ``llm`` sense: it
owns accumulation, timing and the batching of what has been written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from services.continuation import ContinuationJoiner
from services.errors import InvalidRequest, NotFound, ProviderError, ProviderStreamError
from services.event_bus import EventBus, Subscription
from services.load_governor import LoadGovernor
from services.preferences import Preferences, PreferenceStore
from services.providers.base import ChatMessage, CompletionRequest, Provider
from services.rendering import MessageRenderer, Op
from services.retry import RetryPolicy
from services.storage import Checkpoint, EventRecord, MessageRecord, Storage, clean_text

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 100_000
#: Queued text is parsed and highlighted in steps of this many characters as it arrives (a few milliseconds of
#: work each), so a burst never leaves one flush to block the event loop with all of it.
PARSE_AHEAD = 1024
#: The checkpoint tick never spins faster than this, even when tests ask for a checkpoint "every time".
MIN_CHECKPOINT_INTERVAL = 0.01
#: Smoothing ("typewriter") never lets the display fall further behind the provider than this...
MAX_DISPLAY_LAG = 0.5
#: ...and eats into a backlog at least this fast (the backlog's size divided by this many seconds), so a burst
#: speeds the typing up smoothly instead of only jumping when the deadline above is reached.
CATCH_UP = 0.25
#: The typewriter's frame: shorter flush intervals are used as they are, longer ones would look jerky.
PACE_TICK = 1 / 30


def _history(messages: list[MessageRecord]) -> list[ChatMessage]:
    """The conversation as the provider sees it: each prompt with its newest answer (a retried prompt's older
    answers stay in the project but are not sent), empty answers left out."""
    latest = {m.reply_to: m.id for m in messages if m.role == 'assistant' and m.reply_to}
    history: list[ChatMessage] = []
    for m in messages:
        if m.role == 'assistant' and m.reply_to and latest.get(m.reply_to) != m.id:
            continue
        text = m.content or (m.partial_content if m.role == 'assistant' else '')
        if text and m.role in ('user', 'assistant', 'system'):
            history.append(ChatMessage(m.role, text))  # type: ignore[arg-type]
    return history


def _short(exc: ProviderError) -> str:
    """A failure in a few words for a notice: the status code or the kind of failure."""
    if exc.status:
        return f'{exc.status}'
    return type(exc).__name__.removeprefix('Provider').replace('Error', ' error').strip().lower()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class Attachment:
    """What a page needs to show a live message: the state at ``position`` and the events after it."""

    ops: list[Op]
    position: int
    status: str
    metadata: dict[str, Any]
    subscription: Subscription


class StreamSession:
    """One assistant message being generated."""

    def __init__(self, manager: StreamManager, message: MessageRecord, provider: Provider, model: str,
                 request: CompletionRequest, *, initial: str = '', owner: str = 'local') -> None:
        self.manager = manager
        self.owner = owner
        self.message_id = message.id
        self.project_id = message.project_id
        self.provider = provider
        self.model = model
        self.request = request
        self.renderer = MessageRenderer()
        self.display: Preferences = manager.display_for(owner)
        self.status = 'pending'
        #: Characters given to the renderer: all of ``length`` except what smoothing still holds back.
        self.shown = 0
        self._backlog: deque[tuple[float, str]] = deque()  # (arrival time, text) not yet shown
        self._backlog_chars = 0
        self._paced_at = 0.0
        self._pace_carry = 0.0
        self._unflushed = 0
        #: Set by the first flush that shows text: a page may wait a moment for it and show the answer's card
        #: with its first characters in one update instead of two.
        self.first_output = asyncio.Event()
        self._parts: list[str] = []
        self.length = 0
        self._started = time.monotonic()
        self._first_char: float | None = None
        self.metadata: dict[str, Any] = {
            **(message.stream_metadata if initial else {}),
            'start_time': _now_iso(), 'provider': provider.name, 'model': model, 'characters': len(initial),
            'retries': 0,
        }
        self._events: list[EventRecord] = [EventRecord('continue' if initial else 'start', len(initial), metadata={
            'provider': provider.name, 'model': model, **({'reason': 'asked by the user'} if initial else {})})]
        self._base_length = len(initial)
        if initial:
            # A continued answer: the display starts from what was already written, then grows.
            self.metadata.pop('notice', None)
            self.metadata.pop('paused', None)
            self._parts.append(initial)
            self.length = len(initial)
            self.renderer.feed(initial)
            self.shown = len(initial)
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._published_any = False
        self._checkpointed = self.length  # characters saved by the last checkpoint
        self._finishing = False  # set once the end is being written: no checkpoint may land after it
        self.task: asyncio.Task[None] | None = None
        self.stop_reason = 'stopped by the user'
        self.paused = False
        self._pause_timer: asyncio.TimerHandle | None = None
        self._pause_expired_at: int | None = None

    @property
    def topic(self) -> str:
        return self.message_id

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts = [''.join(self._parts)]
        return self._parts[0] if self._parts else ''

    # --- the hot path: one call per chunk -------------------------------------------------------------------

    def feed(self, chunk: str) -> None:
        chunk = clean_text(chunk)  # what viewers see is exactly what storage keeps
        if not chunk:
            return
        if self._first_char is None:
            self._first_char = time.monotonic()
            self.metadata['time_to_first_char'] = round(self._first_char - self._started, 4)
            self._set_status('streaming')
        self._parts.append(chunk)
        self.length += len(chunk)
        if self._smoothing():
            now = time.monotonic()
            if not self._backlog:
                self._paced_at = max(self._paced_at, now - PACE_TICK)
            self._backlog.append((now, chunk))
            self._backlog_chars += len(chunk)
        else:
            self._show(chunk)
        if self._unflushed >= self.display.buffer_size:
            self.flush()  # a burst larger than the buffer goes out now rather than at the next tick
        else:
            self._schedule()

    def _smoothing(self) -> bool:
        return self.display.speed == 'smooth'

    def _show(self, text: str) -> None:
        self.renderer.feed(text)
        self.renderer.parse_ahead(PARSE_AHEAD)
        self.shown += len(text)
        self._unflushed += len(text)

    def _schedule(self, delay: float | None = None) -> None:
        if self._flush_handle is not None:
            return
        if delay is None:
            delay = 0.0 if not self._published_any else max(
                0.0, self._last_flush + self.manager.governor.interval(self.display.flush_interval) - time.monotonic())
        self._flush_handle = asyncio.get_running_loop().call_later(delay, self.flush)

    def _release(self, now: float, everything: bool = False) -> None:
        """Smoothing: move the characters due by now from the backlog to the display. Due are ``smooth_cps`` per
        second since the last release, at least a ``CATCH_UP`` share of the backlog, and everything that arrived
        more than ``MAX_DISPLAY_LAG`` ago."""
        if not self._backlog:
            return
        if everything:
            count = self._backlog_chars
        else:
            elapsed = max(0.0, now - self._paced_at)
            budget = self.display.smooth_cps * elapsed + self._pace_carry
            count = max(int(budget), math.ceil(self._backlog_chars * min(1.0, elapsed / CATCH_UP)))
            overdue = 0
            for arrived, text in self._backlog:
                if now - arrived < MAX_DISPLAY_LAG:
                    break
                overdue += len(text)
            count = max(count, overdue)
            self._pace_carry = budget - int(budget) if count == int(budget) else 0.0
        self._paced_at = now
        parts: list[str] = []
        while count > 0 and self._backlog:
            arrived, text = self._backlog[0]
            if len(text) <= count:
                self._backlog.popleft()
                parts.append(text)
                count -= len(text)
            else:
                parts.append(text[:count])
                self._backlog[0] = (arrived, text[count:])
                count = 0
        shown = ''.join(parts)
        self._backlog_chars -= len(shown)
        if shown:
            self._show(shown)

    def set_display(self, prefs: Preferences) -> None:
        """The owner changed their preferences: pace, flush interval and buffer size apply from the next chunk;
        turning smoothing off shows what it was holding back at once."""
        self.display = prefs
        if not self._smoothing() and self._backlog:
            self.flush()

    def flush(self) -> None:
        """Publish what was written since the last flush as one event (DESIGN.md's adaptive batching)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        now = time.monotonic()
        if self._backlog:
            self._release(now, everything=not self._smoothing())
        ops = self.renderer.take_ops()
        self._last_flush = now
        self._unflushed = 0
        if ops:
            self._published_any = True
            self.manager.bus.publish(self.topic, {'ops': ops, 'n': self.shown})
            self.first_output.set()
        if self._backlog:  # the typewriter's next frame
            self._schedule(min(max(self.display.flush_interval, 0.001), PACE_TICK))

    async def _drain(self) -> None:
        """Let smoothing finish typing what has arrived (at most about ``MAX_DISPLAY_LAG``) before the end is
        announced; a Stop meanwhile shows the rest at once."""
        try:
            while self._backlog:
                self._schedule(PACE_TICK)
                await asyncio.sleep(PACE_TICK)
        except asyncio.CancelledError:
            pass
        self._release(time.monotonic(), everything=True)

    def rate(self) -> float:
        """Characters per second since the first character."""
        if self._first_char is None:
            return 0.0
        elapsed = time.monotonic() - self._first_char
        return (self.length - self._base_length) / elapsed if elapsed > 0.05 else 0.0

    def announce(self) -> None:
        """Open the message's topic before the task runs, so a page can attach to it at once."""
        self._set_status('pending')

    def _set_status(self, status: str, error: str | None = None) -> None:
        self.status = status
        self.metadata['characters'] = self.length
        self.manager.bus.publish(self.topic, {'status': status, 'meta': dict(self.metadata), 'error': error})

    def checkpoint_due(self) -> Checkpoint | None:
        """What to save on the manager's checkpoint tick: the text and metadata so far and the events since the
        last checkpoint, when anything was written since then (a stalled or paused stream is not saved again)."""
        if self._finishing or (self.length == self._checkpointed and not self._events):
            return None
        self._checkpointed = self.length
        self.metadata['characters'] = self.length
        events, self._events = self._events, []
        events.append(EventRecord('checkpoint', self.length))
        return Checkpoint(self.message_id, self.text, dict(self.metadata), events)

    # --- the task ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        status, error = 'completed', None
        try:
            async with self.manager.slot(self):
                await self._generate()
        except asyncio.CancelledError:
            status = 'interrupted'
            self.metadata['interrupted_at'] = self.length
            self._events.append(EventRecord('interrupt', self.length, data=self.stop_reason))
        except ProviderError as exc:
            status, error = 'error', str(exc)
            self._events.append(EventRecord('error', self.length, data=error,
                                            metadata={'type': type(exc).__name__, 'status': exc.status,
                                                      'provider': exc.provider or self.provider.name}))
        except Exception as exc:  # a bug must still end the message, never leave it 'streaming'
            log.exception('stream %s failed', self.message_id)
            status, error = 'error', f'Scribe failed while streaming this answer: {exc!r}'
            self._events.append(EventRecord('error', self.length, data=error))
        finally:
            await self._finish(status, error)

    async def _generate(self) -> None:
        """Stream from the provider; retry and fall back before the first character, continue after it.

        Before anything is visible a failure costs nothing but time, so a retryable one is retried with backoff
        (honouring Retry-After) and then handed to the next provider by priority. Once text is shown it must
        never be lost or repeated, so a cut stream is continued from the partial and joined seamlessly.
        """
        policy = self.manager.retry_policy
        chain = self.manager.fallback_chain(self.provider, self.model)
        link, attempt, continuations, prefill_ok = 0, 0, 0, True
        while True:
            provider, model = chain[link]
            joiner: ContinuationJoiner | None = None
            request = self.request if self.length == 0 else None
            if request is None:
                request, prefill, stripped = provider.continuation_request(
                    self.request, self.text, model=model, prefill=prefill_ok)
                joiner = ContinuationJoiner(self.text, prefill=prefill, stripped=stripped)
            elif model != self.request.model:
                request = replace(self.request, model=model)
            try:
                async with contextlib.aclosing(provider.stream(request)) as chunks:
                    async for chunk in self._watched(chunks, provider):
                        self.feed(joiner.feed(chunk) if joiner else chunk)
                if joiner is not None:
                    self.feed(joiner.flush())
                return
            except ProviderError as exc:
                if joiner is not None:
                    self.feed(joiner.flush())  # what the continuation wrote before failing is still the answer
                reason = f'{type(exc).__name__}: {exc}'
                if self.length == 0:
                    if exc.retryable and attempt < policy.retries and (
                            exc.retry_after is None or exc.retry_after <= policy.max_retry_after):
                        attempt += 1
                        delay = policy.delay(attempt, exc.retry_after)
                        self.metadata['retries'] = self.metadata.get('retries', 0) + 1
                        self._events.append(EventRecord('retry', 0, data=reason, metadata={
                            'attempt': attempt, 'delay': round(delay, 3), 'provider': provider.name}))
                        await self._countdown(f'{provider.name} failed ({_short(exc)}): retrying '
                                              f'({attempt} of {policy.retries})', delay)
                        continue
                    # A bad key, a bad request or an empty account is the user's to fix: say so, don't hide it.
                    if exc.retryable and link + 1 < len(chain):
                        link, attempt = link + 1, 0
                        nxt, nxt_model = chain[link]
                        self._events.append(EventRecord('fallback', 0, data=reason, metadata={
                            'from': provider.name, 'to': nxt.name, 'model': nxt_model}))
                        self.provider, self.model = nxt, nxt_model
                        self.metadata.update(provider=nxt.name, model=nxt_model,
                                             fallback_from=f'{provider.name} / {model}')
                        self._notice(f'{provider.name} failed ({_short(exc)}): switched to {nxt.name} / {nxt_model}',
                                     sticky=True)
                        continue
                    raise
                if getattr(exc, 'prefill_rejected', False) and prefill_ok:
                    prefill_ok = False  # this model refuses a prefill: continue with an explicit request instead
                    continue
                if not exc.retryable or continuations >= policy.continuations:
                    raise
                continuations += 1
                self.metadata['continuations'] = continuations
                self._events.append(EventRecord('continue', self.length, data=reason, metadata={
                    'attempt': continuations, 'provider': provider.name}))
                delay = policy.delay(continuations, exc.retry_after) if exc.retry_after is not None else 0.0
                await self._countdown(f'the stream was cut ({_short(exc)}): continuing from character '
                                      f'{self.length:,} ({continuations} of {policy.continuations})', delay)

    async def _watched(self, chunks: AsyncIterator[str], provider: Provider) -> AsyncIterator[str]:
        """The watchdog: a provider silent for longer than ``stall_timeout`` is treated as a cut stream (and
        continued), whatever its SDK's own read timeout does, so no answer stays 'streaming' forever.

        One timer for the whole stream, pushed back at most every ``slack`` seconds rather than a timeout per
        chunk (a tenth of a stream's CPU at 4-character chunks): silence is caught after ``limit - slack`` to
        ``limit`` seconds. The timer may fire while the caller handles a chunk; the caller does not await, so the
        cancellation lands in ``anext`` below, inside the timer's scope, as the timeout."""
        limit = self.manager.stall_timeout
        slack = min(1.0, limit / 10)
        loop = asyncio.get_running_loop()
        iterator = chunks.__aiter__()
        try:
            async with asyncio.timeout(limit) as timer:
                while True:
                    try:
                        chunk = await anext(iterator)
                    except StopAsyncIteration:
                        return
                    now = loop.time()
                    deadline = timer.when()
                    if deadline is not None and deadline - now < limit - slack:
                        timer.reschedule(now + limit)
                    yield chunk
        except TimeoutError:
            raise ProviderStreamError(f'{provider.name} sent nothing for {limit:.0f} s',
                                      provider=provider.name) from None

    async def _countdown(self, text: str, delay: float) -> None:
        """Show what is going on, with the seconds left, while waiting."""
        end = time.monotonic() + delay
        while True:
            left = end - time.monotonic()
            self._notice(f'{text} in {left:.0f} s' if left >= 0.5 else f'{text}…')
            if left <= 0:
                return
            await asyncio.sleep(min(1.0, left))

    def pause(self, limit: float) -> None:
        """Hold every viewer's display; the answer keeps arriving and being saved. Past ``limit`` seconds the
        provider request is closed (nothing is billed while nobody reads), and Resume continues from the text."""
        if self.paused:
            return
        self.paused = True
        self.metadata['paused'] = True
        self._events.append(EventRecord('pause', self.length))
        self.flush()
        self.manager.bus.publish(self.topic, {'paused': True})
        self._pause_timer = asyncio.get_running_loop().call_later(limit, self._pause_expired, limit)

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        self.metadata.pop('paused', None)
        if self._pause_timer is not None:
            self._pause_timer.cancel()
            self._pause_timer = None
        self._events.append(EventRecord('resume', self.length))
        self.manager.bus.publish(self.topic, {'paused': False})

    def _pause_expired(self, limit: float) -> None:
        self._pause_timer = None
        if self.task is not None and not self.task.done():
            self.stop_reason = f'paused for longer than {limit / 60:g} min: the provider request was closed'
            self._pause_expired_at = self.length
            self.task.cancel()

    def queued(self, ahead: int) -> None:
        self._notice(f'queued: {ahead} of your answers {"is" if ahead == 1 else "are"} ahead of this one '
                     f'(at most {self.manager.max_concurrent} are written at once)')

    def _notice(self, text: str, *, sticky: bool = False) -> None:
        """A line under the message saying what Scribe is doing about a failure; sticky ones stay after success."""
        self.metadata['notice'] = text
        if sticky:
            self.metadata['switched'] = text
        self.manager.bus.publish(self.topic, {'notice': text})

    async def _finish(self, status: str, error: str | None) -> None:
        self._finishing = True
        if self._pause_timer is not None:
            self._pause_timer.cancel()
            self._pause_timer = None
        if self._pause_expired_at is None:
            self.metadata.pop('paused', None)  # only a pause that closed the request outlives the stream
        if self._backlog:
            if status == 'completed':
                await self._drain()
            else:
                self._release(time.monotonic(), everything=True)
        self.renderer.finish()
        self.flush()
        end = time.monotonic()
        self.metadata.update(end_time=_now_iso(), characters=self.length, duration=round(end - self._started, 4))
        if self._first_char is not None and end > self._first_char:
            self.metadata['chars_per_second'] = round((self.length - self._base_length) / (end - self._first_char), 1)
        if status == 'completed':
            self._events.append(EventRecord('complete', self.length))
        try:
            # Earlier checkpoints run on the same storage worker, so this write lands after them.
            await asyncio.shield(self.manager.storage.finish(
                self.message_id, status=status, content=self.text, metadata=dict(self.metadata), error=error,
                events=self._events))
        except Exception:
            log.exception('could not store the end of message %s', self.message_id)
        finally:
            self._set_status(status, error)
            self.manager._ended(self)


class StreamManager:
    def __init__(self, storage: Storage, bus: EventBus, providers: Mapping[str, Provider], *,
                 default_provider: str = 'demo', default_model: str | None = None,
                 flush_interval: float = 0.04, checkpoint_interval: float = 1.0,
                 retry_policy: RetryPolicy | None = None, max_concurrent: int = 4, requests_per_minute: int = 30,
                 max_prompt_chars: int = MAX_PROMPT_CHARS, stall_timeout: float = 120.0,
                 pause_limit: float = 600.0, preferences: PreferenceStore | None = None,
                 on_ended: Callable[[], None] | None = None) -> None:
        self.storage = storage
        self.bus = bus
        self.providers = dict(providers)
        self.default_provider = default_provider
        self.default_model = default_model
        self.flush_interval = flush_interval
        self.checkpoint_interval = checkpoint_interval
        self.retry_policy = retry_policy or RetryPolicy()
        self.max_concurrent = max_concurrent
        self.requests_per_minute = requests_per_minute
        self.max_prompt_chars = max_prompt_chars
        self.stall_timeout = stall_timeout
        self.pause_limit = pause_limit
        self.preferences = preferences
        self._on_ended = on_ended  # called after each answer ends (the app reclaims memory a moment later)
        self._base_display = Preferences(flush_interval_ms=round(flush_interval * 1000))
        #: Stretches every stream's flush interval while the event loop is overloaded. It measures only once
        #: started (``AppServices.start`` does); until then the preferred intervals apply as they are.
        self.governor = LoadGovernor()
        if preferences is not None:
            preferences.subscribe(self._preferences_changed)
        self._sessions: dict[str, StreamSession] = {}
        self._checkpointer: asyncio.Task[None] | None = None
        self._totals: dict[str, int] = {'started': 0, 'completed': 0, 'interrupted': 0, 'error': 0}
        self._running: dict[str, int] = {}  # owner → answers generating now
        self._waiting: dict[str, list[StreamSession]] = {}  # owner → answers queued, oldest first
        self._wakeup: dict[str, asyncio.Event] = {}
        self._recent: dict[str, deque[float]] = {}  # owner → monotonic times of recent requests
        self._watchers: dict[str, set[Callable[[list[MessageRecord]], None]]] = {}  # project → open pages

    def display_for(self, owner: str) -> Preferences:
        """The owner's preferences as far as a stream's pacing and batching go."""
        return self.preferences.cached(owner) if self.preferences is not None else self._base_display

    def _preferences_changed(self, owner: str, prefs: Preferences) -> None:
        for session in list(self._sessions.values()):
            if session.owner == owner:
                session.set_display(prefs)

    async def _choices(self, owner: str, provider: str | None, model: str | None) -> tuple[
            str | None, str | None, float | None, int | None]:
        """Provider, model, temperature and max tokens for a new request: what the caller asked for, else the
        owner's preferences (a preferred model only goes with the preferred provider)."""
        if self.preferences is None:
            return provider, model, None, None
        prefs = await self.preferences.get(owner)
        if provider is None or provider == prefs.provider:
            provider = prefs.provider
            model = model or prefs.model
        return provider, model, prefs.temperature, prefs.max_tokens

    def watch_project(self, project_id: str, callback: Callable[[list[MessageRecord]], None]) -> Callable[[], None]:
        """Tell ``callback`` about new messages in the project (a prompt sent from another tab); returns the
        function that stops watching."""
        self._watchers.setdefault(project_id, set()).add(callback)

        def unwatch() -> None:
            watchers = self._watchers.get(project_id)
            if watchers is not None:
                watchers.discard(callback)
                if not watchers:
                    del self._watchers[project_id]
        return unwatch

    def _announce(self, project_id: str, *messages: MessageRecord) -> None:
        for callback in list(self._watchers.get(project_id, ())):
            try:
                callback(list(messages))
            except Exception:
                log.exception('a page failed to show new messages')

    @contextlib.asynccontextmanager
    async def slot(self, session: StreamSession) -> AsyncIterator[None]:
        """At most ``max_concurrent`` answers per user generate at once; the others wait in a visible queue,
        first come first served, and start by themselves."""
        owner = session.owner
        queue = self._waiting.setdefault(owner, [])
        queue.append(session)
        try:
            while self._running.get(owner, 0) >= self.max_concurrent or queue[0] is not session:
                ahead = queue.index(session) + self._running.get(owner, 0) - self.max_concurrent + 1
                session.queued(ahead)
                event = self._wakeup.setdefault(owner, asyncio.Event())
                await event.wait()
        finally:
            queue.remove(session)
        self._running[owner] = self._running.get(owner, 0) + 1
        self._notify(owner)
        try:
            yield
        finally:
            self._running[owner] -= 1
            if not self._running[owner]:
                del self._running[owner]
            self._notify(owner)
            if not queue:
                self._waiting.pop(owner, None)

    def _notify(self, owner: str) -> None:
        event = self._wakeup.pop(owner, None)
        if event is not None:
            event.set()

    def _admit(self, owner: str) -> None:
        """Refuse a request over the per-minute limit, with the time until one is possible again."""
        now = time.monotonic()
        recent = self._recent.setdefault(owner, deque())
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= self.requests_per_minute:
            wait = 60 - (now - recent[0])
            raise InvalidRequest(f'You have sent {len(recent)} requests in the last minute, the limit is '
                                 f'{self.requests_per_minute}: try again in {wait:.0f} s.')
        recent.append(now)

    def fallback_chain(self, provider: Provider, model: str) -> list[tuple[Provider, str]]:
        """The chosen provider first, then the other real providers in priority order (the order of
        ``providers``). The demo provider is never a fallback for a real one: a canned answer is not an answer."""
        chain = [(provider, model)]
        for name, other in self.providers.items():
            if other is not provider and name != 'demo':
                chain.append((other, other.default_model))
        return chain

    def resolve(self, provider: str | None, model: str | None) -> tuple[Provider, str]:
        name = provider or self.default_provider
        found = self.providers.get(name)
        if found is None:
            raise InvalidRequest(f'Unknown provider {name!r}: choose one of {", ".join(sorted(self.providers))}.')
        if model is None:
            model = self.default_model if name == self.default_provider and self.default_model else None
        return found, (model or found.default_model)

    def validate(self, prompt: str, provider: str | None = None, model: str | None = None) -> tuple[Provider, str]:
        """Refuse a request that cannot be sent before anything is stored."""
        if not prompt.strip():
            raise InvalidRequest('The prompt is empty: type what you want the model to write.')
        if len(prompt) > self.max_prompt_chars:
            raise InvalidRequest(f'The prompt is {len(prompt):,} characters; the limit is {self.max_prompt_chars:,}.')
        chosen, model_name = self.resolve(provider, model)
        chosen.check()
        return chosen, model_name

    async def start(self, project_id: str, prompt: str, *, owner: str = 'local', provider: str | None = None,
                    model: str | None = None) -> tuple[MessageRecord, MessageRecord]:
        """Store the prompt and an empty answer, then generate the answer in the background."""
        provider, model, temperature, max_tokens = await self._choices(owner, provider, model)
        chosen, model_name = self.validate(prompt, provider, model)
        self._admit(owner)
        try:
            history, user, answer = await self.storage.add_exchange(project_id, prompt, provider=chosen.name,
                                                                    model=model_name, owner=owner)
        except NotFound:
            self._recent[owner].pop()  # a request that stored nothing does not count against the limit
            raise NotFound('This project does not exist (or is not yours).') from None
        request = CompletionRequest(messages=(*_history(history), ChatMessage('user', prompt)), model=model_name,
                                    temperature=temperature, max_tokens=max_tokens)
        self._launch(StreamSession(self, answer, chosen, model_name, request, owner=owner))
        self._announce(project_id, user, answer)
        return user, answer

    def counts(self) -> dict[str, int]:
        """Answers started, and ended by status, since the process started (read by /metrics)."""
        return dict(self._totals)

    def _launch(self, session: StreamSession) -> None:
        self._totals['started'] += 1
        self._sessions[session.message_id] = session
        session.announce()
        session.task = asyncio.create_task(session.run(), name=f'stream-{session.message_id}')
        if self._checkpointer is None or self._checkpointer.done():
            self._checkpointer = asyncio.create_task(self._checkpoints(), name='stream-checkpoints')

    async def _checkpoints(self) -> None:
        """Every ``checkpoint_interval``, save every live answer that grew, in one transaction; ends when no
        answer is live (the next one starts it again). One tick for all answers rather than a timer each: a
        transaction per answer per second was most of the storage thread's work at a hundred answers."""
        while self._sessions:
            await asyncio.sleep(max(self.checkpoint_interval, MIN_CHECKPOINT_INTERVAL))
            due = [c for session in list(self._sessions.values()) if (c := session.checkpoint_due()) is not None]
            if not due:
                continue
            try:
                missing = await asyncio.shield(self.storage.checkpoint_many(due))
            except Exception:
                log.exception('could not save a checkpoint of %d answer(s)', len(due))
                continue
            for message_id in missing:
                log.warning('message %s is gone (its project was deleted?): its checkpoint was not saved', message_id)

    async def _conversation_until(self, message: MessageRecord, owner: str) -> tuple[MessageRecord, list[ChatMessage]]:
        """The prompt an answer replies to, and the conversation up to and including it."""
        messages = await self.storage.list_messages(message.project_id, owner)
        prompt = next((m for m in messages if m.id == message.reply_to), None)
        if prompt is None:
            raise NotFound('The prompt this answer replies to is gone.')
        return prompt, _history([m for m in messages if m.seq <= prompt.seq])

    async def continue_message(self, message_id: str, *, owner: str = 'local') -> MessageRecord:
        """Go on with an interrupted, failed or cut answer, appending to the same message."""
        message = await self.storage.get_message(message_id, owner)
        if message is None or message.role != 'assistant':
            raise NotFound('This answer does not exist (or is not yours).')
        if message_id in self._sessions:
            raise InvalidRequest('This answer is still being written.')
        if message.streaming_status not in ('interrupted', 'error', 'completed'):
            raise InvalidRequest(f'An answer that is {message.streaming_status} cannot be continued.')
        text = message.content or message.partial_content
        if not text:
            raise InvalidRequest('There is nothing to continue yet: use Retry.')
        chosen, model_name = self.resolve(message.provider, message.model)
        _provider, _model, temperature, max_tokens = await self._choices(owner, chosen.name, model_name)
        _prompt, history = await self._conversation_until(message, owner)
        self._admit(owner)
        request = CompletionRequest(messages=tuple(history), model=model_name, temperature=temperature,
                                    max_tokens=max_tokens)
        self._launch(StreamSession(self, message, chosen, model_name, request, initial=text, owner=owner))
        return message

    async def retry(self, message_id: str, *, owner: str = 'local', provider: str | None = None,
                    model: str | None = None) -> MessageRecord:
        """A new answer to the same prompt; the old one stays in the project."""
        message = await self.storage.get_message(message_id, owner)
        if message is None or message.role != 'assistant':
            raise NotFound('This answer does not exist (or is not yours).')
        chosen, model_name = self.resolve(provider or message.provider, model or message.model)
        _provider, _model, temperature, max_tokens = await self._choices(owner, chosen.name, model_name)
        prompt, history = await self._conversation_until(message, owner)
        self._admit(owner)
        answer = await self.storage.add_message(message.project_id, 'assistant', '', status='pending',
                                                reply_to=prompt.id, provider=chosen.name, model=model_name,
                                                owner=owner)
        request = CompletionRequest(messages=tuple(history), model=model_name, temperature=temperature,
                                    max_tokens=max_tokens)
        self._launch(StreamSession(self, answer, chosen, model_name, request, owner=owner))
        self._announce(message.project_id, answer)
        return answer

    async def first_output(self, message_id: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the answer's first visible text; whether it came."""
        session = self._sessions.get(message_id)
        if session is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await session.first_output.wait()
        except TimeoutError:
            return False
        return True

    def session(self, message_id: str) -> StreamSession | None:
        return self._sessions.get(message_id)

    def active_ids(self) -> list[str]:
        return list(self._sessions)

    def attach(self, message_id: str) -> Attachment | None:
        """Snapshot + subscription from the same position (atomic: no await between them)."""
        session = self._sessions.get(message_id)
        if session is None or not self.bus.is_open(session.topic):
            return None
        session.flush()
        position = self.bus.position(session.topic)
        return Attachment(session.renderer.snapshot_ops(), position, session.status, dict(session.metadata),
                          self.bus.subscribe(session.topic, position))

    async def stop(self, message_id: str, reason: str = 'stopped by the user') -> bool:
        session = self._sessions.get(message_id)
        if session is None or session.task is None or session.task.done():
            return False
        session.stop_reason = reason
        session.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await session.task
        return True

    def pause(self, message_id: str) -> bool:
        session = self._sessions.get(message_id)
        if session is None:
            return False
        session.pause(self.pause_limit)
        return True

    async def resume(self, message_id: str, *, owner: str = 'local') -> bool:
        """Play on; an answer whose pause outlasted the limit is continued from its saved text."""
        session = self._sessions.get(message_id)
        if session is not None:
            session.resume()
            return True
        message = await self.storage.get_message(message_id, owner)
        if message is None or not message.stream_metadata.get('paused'):
            return False
        await self.continue_message(message_id, owner=owner)
        return True

    def _ended(self, session: StreamSession) -> None:
        self._totals[session.status] = self._totals.get(session.status, 0) + 1
        self._sessions.pop(session.message_id, None)
        self.bus.close_topic(session.topic)
        if self._on_ended is not None:
            self._on_ended()

    async def shutdown(self) -> None:
        """Server stopping: every running answer is saved as interrupted, never left 'streaming'."""
        tasks = [s.task for s in self._sessions.values() if s.task is not None and not s.task.done()]
        for session in self._sessions.values():
            session.stop_reason = 'the server stopped'
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        await self.governor.stop()
