"""One message of a conversation: its body, its status and the controls that apply to it.

An assistant card follows its message's events from the position of the snapshot it was built with. It receives
data and callbacks from the page; it never talks to a provider or the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from nicegui import background_tasks, ui
from nicegui.element import Element

from components.stream_view import Op, StreamView
from services.event_bus import BusEvent, Subscription

STATUS_ICONS = {
    'pending': ('hourglass_empty', 'waiting'),
    'streaming': ('edit_note', 'streaming'),
    'completed': ('check_circle', 'completed'),
    'interrupted': ('stop_circle', 'interrupted'),
    'error': ('error', 'error'),
}
LIVE = ('pending', 'streaming')
#: Seconds between updates of the live rate: each is a websocket message, and a rate read once a second is calm.
RATE_EVERY = 1.0
SEND_PART_CHARS = 300_000  # a held backlog goes out in messages of about this size (Socket.IO's limit is 1 MB)


def _ends(event: BusEvent) -> bool:
    """Whether the event says the answer is over (completed, stopped, failed), and not by a pause that outlasted
    its limit: that one stays paused, and Resume continues it."""
    payload = event.payload
    return 'status' in payload and payload['status'] not in LIVE and not (payload.get('meta') or {}).get('paused')


def _model_of(meta: dict[str, Any]) -> str:
    provider, model = meta.get('provider'), meta.get('model')
    return ' · '.join(str(x) for x in (provider, model) if x)


def _op_size(op: Op) -> int:
    size = 8
    for part in op[1:]:
        if isinstance(part, str):
            size += len(part)
        elif isinstance(part, list):
            size += sum(len(x) + 3 for x in part if isinstance(x, str))
    return size


#: Tail operations: the whole tail ('p' prose, 't' code), or its change after a kept prefix ('q', 'u').
_WHOLE_TAIL = {'p': 'p', 'q': 'p', 't': 't', 'u': 't'}


def compact(batches: list[list[Op]]) -> list[list[Op]]:
    """The same display with fewer bytes: a live tail operation that a later whole tail of the same block replaces,
    or that the block's close ('X') clears, is dropped. Batches keep their number (an emptied one stays, empty),
    so the browser's sequence check is unchanged."""
    replaced: set[tuple[str, int]] = set()  # (whole-tail kind or 'X', block) seen later in the stream
    out: list[list[Op]] = []
    for batch in reversed(batches):
        kept: list[Op] = []
        for op in reversed(batch):
            kind = op[0]
            whole = _WHOLE_TAIL.get(kind)
            if whole is not None:
                if (whole, op[1]) in replaced or ('X', op[1]) in replaced:
                    continue
                if kind == whole:  # a delta ('q', 'u') builds on what came before: it replaces nothing
                    replaced.add((kind, op[1]))
            elif kind == 'X':
                replaced.add(('X', op[1]))
            kept.append(op)
        kept.reverse()
        out.append(kept)
    out.reverse()
    return out


def _totals(meta: dict[str, Any]) -> str:
    chars = int(meta.get('characters') or 0)
    parts = [f'{chars:,} chars']
    if meta.get('duration'):
        parts.append(f'in {float(meta["duration"]):.1f} s')
    if meta.get('chars_per_second'):
        parts.append(f'{float(meta["chars_per_second"]):,.0f} chars/s')
    if meta.get('time_to_first_char') is not None:
        parts.append(f'first char {float(meta["time_to_first_char"]):.2f} s')
    return ' · '.join(parts)


class Text(Element):
    """A text element without ``ui.label``'s bindings: a card holds several, and every element built is time
    before the first character (server) and work in each of the page's re-renders (browser). Setting ``text``
    sends an update only when it changes."""

    def __init__(self, text: str = '', *, tag: str = 'span', classes: str = '', props: dict[str, Any] | None = None
                 ) -> None:
        super().__init__(tag)
        self._text = text
        if classes:
            self._classes.extend(classes.split())
        if props:
            self._props.update(props)

    @property
    def text(self) -> str:
        return self._text or ''

    @text.setter
    def text(self, value: str) -> None:
        if value != self._text:
            self._text = value
            self.update()


class UserCard(ui.element):
    def __init__(self, message_id: str, text: str) -> None:
        super().__init__('div')
        self.classes('scribe-msg scribe-user')
        self._props.update({'data-testid': 'message', 'data-message-id': message_id, 'data-role': 'user',
                            'data-status': 'completed'})
        with self:
            Text(text, tag='div', classes='scribe-user-text', props={'data-testid': 'message-content'})


#: The controls, in the order they appear: (label, icon). Each exists only while it applies (see ``_controls``).
CONTROLS = {
    'stop': ('Stop', 'stop'),
    'pause': ('Pause', 'pause'),
    'resume': ('Resume', 'play_arrow'),
    'continue': ('Continue', 'play_arrow'),
    'retry': ('Retry', 'refresh'),
}


class AssistantCard(ui.element):
    def __init__(self, message_id: str, *, ops: list[Op] | bytes, position: int, status: str, metadata: dict[str, Any],
                 error: str | None = None, subscription: Subscription | None = None,
                 on_stop: Callable[[str], Awaitable[None]] | None = None,
                 on_continue: Callable[[AssistantCard], Awaitable[None]] | None = None,
                 on_retry: Callable[[AssistantCard], Awaitable[None]] | None = None,
                 on_pause: Callable[[AssistantCard, bool], Awaitable[None]] | None = None,
                 snapshot: Callable[[str], tuple[int, list[Op]]] | None = None,
                 live_display: bool = True, speed: str = 'provider') -> None:
        """``live_display``: the user's "streaming" preference; off, a live answer shows a progress bar and
        appears whole when it ends. ``speed``: 'instant' shows held text at once instead of catching up."""
        super().__init__('div')
        self.message_id = message_id
        self.status = status
        self._on_stop = on_stop
        self._on_continue = on_continue
        self._on_retry = on_retry
        self._on_pause = on_pause
        self.has_text = len(ops) > 2 if isinstance(ops, bytes) else bool(ops)  # bytes: encoded, '[]' when empty
        self.paused = bool(metadata.get('paused'))
        self._held: list[BusEvent] = []
        self._drain: asyncio.Task[None] | None = None
        self._outgoing: list[list[Op]] = []
        self._outgoing_first = 0
        self._last_event = time.monotonic()
        self._first_char_s: float | None = None
        self._snapshot = snapshot
        self._rate_base: tuple[float, int] | None = None
        self._rate_shown_at = 0.0
        self._live_display = live_display
        self._instant = speed == 'instant'
        self._quiet_shown = False
        self._buttons: dict[str, Text] = {}
        self._notice: Text | None = None
        self._progress: Element | None = None
        self._error: Text | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.classes('scribe-msg scribe-assistant')
        self._props.update({'data-testid': 'message', 'data-message-id': message_id, 'data-role': 'assistant',
                            'data-status': status})
        # Only what applies now is built (the controls, a notice, the progress bar, the error come and go): each
        # element is time before the first character on the server and work in every re-render of the page.
        with self:
            with Element('div').classes('scribe-msg-head') as self.head:
                icon, word = STATUS_ICONS[status]
                self.status_box = Text(word, classes='scribe-status scribe-icon', props={
                    'data-testid': 'stream-status', 'data-status': status, 'data-icon': icon})
                self.rate = Text('' if status in LIVE else _totals(metadata), classes='scribe-rate',
                                 props={'data-testid': 'stream-rate'})
                self.model = Text(_model_of(metadata), classes='scribe-model', props={
                    'data-testid': 'stream-model', 'data-provider': str(metadata.get('provider') or ''),
                    'data-model': str(metadata.get('model') or '')})
            # Streaming off: even the text written before this card was built waits for the end (a snapshot to
            # send first, then the events after it).
            hold = not live_display and status in LIVE and self.has_text
            self._pending_snapshot: tuple[int, list[Op]] | None = None
            if hold:  # a live answer's operations come from its session, as a list
                self._pending_snapshot = (position, ops if isinstance(ops, list) else orjson.loads(ops))
            self.view = StreamView([] if hold else ops, position, streaming=status in LIVE, on_resync=self._resync)
            self.view.props['data-testid'] = 'message-content'
        self._set_notice(metadata.get('switched') or '')
        self._set_error(error or '')
        self._task: asyncio.Task[None] | None = None
        self._controls()
        self._show_quiet()
        self._tick_while_live()
        self.client.on_delete(self._cancel)
        self._subscription: Subscription | None = subscription
        if subscription is not None:
            self._task = background_tasks.create(self._follow(subscription), name=f'follow-{message_id}')

    def _insert(self, element: Element, before: Element | None) -> None:
        """Move a child built late to its place: just before ``before`` (the end when None)."""
        children = self.default_slot.children
        index = children.index(before) if before is not None else len(children)
        if children.index(element) != index - 1:
            element.move(self, target_index=index)

    def _line(self, current: Text | None, text: str, classes: str, props: dict[str, Any],
              before: Element | None) -> Text | None:
        """A line that exists only while it has text: built, updated or deleted to match; returns what is there."""
        if not text:
            if current is not None:
                current.delete()
            return None
        if current is not None:
            current.text = text
            return current
        with self:
            line = Text(text, tag='div', classes=classes, props=props)
        self._insert(line, before)
        return line

    def _set_notice(self, text: str) -> None:
        self._notice = self._line(self._notice, text, 'scribe-notice', {'data-testid': 'stream-notice'},
                                  self._progress or self.view)

    def _set_error(self, text: str) -> None:
        self._error = self._line(self._error, text, 'scribe-error', {}, None)

    def _button(self, name: str, wanted: bool) -> None:
        button = self._buttons.get(name)
        if not wanted:
            if button is not None:
                del self._buttons[name]
                button.delete()
            return
        if button is not None:
            return
        label, icon = CONTROLS[name]
        with self.head:
            button = Text(label, tag='button', classes='scribe-ctl scribe-icon', props={
                'type': 'button', 'data-icon': icon, 'data-testid': f'{name}-button'})
        button.on('click', getattr(self, f'_{name}'))
        self._buttons[name] = button
        # After the status, the rate, the model and the controls that come before it.
        order = list(CONTROLS)
        later = [self._buttons[n] for n in order[order.index(name) + 1:] if n in self._buttons]
        if later:
            button.move(self.head, target_index=self.head.default_slot.children.index(later[0]))

    def _enable(self, name: str, enabled: bool) -> None:
        button = self._buttons.get(name)
        if button is not None and bool(button.props.get('disabled')) == enabled:
            button.props['disabled'] = not enabled

    def _controls(self) -> None:
        """Show only the controls that can act now."""
        live = self.status in LIVE
        can_pause = self._on_pause is not None
        self._button('stop', live)
        self._enable('stop', True)
        self._button('pause', live and not self.paused and can_pause)
        # A pause that outlasted its limit ended the request: Resume continues the answer from its text.
        self._button('resume', can_pause and self.paused and (live or self.status == 'interrupted'))
        self._button('continue', not live and self.has_text and self._on_continue is not None
                     and self.status in ('interrupted', 'error') and not self.paused)
        self._button('retry', not live and self._on_retry is not None)

    def follow(self, ops: list[Op], position: int, status: str, subscription: Subscription) -> None:
        """Follow the message live again (after Continue): its state at ``position``, then its events."""
        self._cancel()
        self.paused = False
        self._held.clear()
        self._outgoing = []
        self._pending_snapshot = None
        self.view.reset(position, ops)
        self.view.set_streaming(True)
        self._set_status(status, {}, None)
        self._show_quiet()
        self._set_error('')
        self._tick_while_live()
        self._rate_base = None
        self._subscription = subscription
        self._task = background_tasks.create(self._follow(subscription), name=f'follow-{self.message_id}')

    async def _continue(self) -> None:
        self._enable('continue', False)
        try:
            if self._on_continue is not None:
                await self._on_continue(self)
        finally:
            self._enable('continue', True)

    async def _retry(self) -> None:
        self._enable('retry', False)
        try:
            if self._on_retry is not None:
                await self._on_retry(self)
        finally:
            self._enable('retry', True)

    def _cancel(self) -> None:
        for task in (self._task, self._drain, self._ticker):
            if task is not None and not task.done():
                task.cancel()
        self._ticker = None  # cancelled is not yet done: let ``_tick_while_live`` start a new one at once
        # A task cancelled before its first step never runs _follow's ``finally``: close the subscription here too
        # (closing twice is harmless), or its topic and every event in it would outlive the stream.
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def _stop(self) -> None:
        self._enable('stop', False)
        if self._on_stop is not None:
            await self._on_stop(self.message_id)

    def _resync(self, _seen: int) -> None:
        if self._snapshot is not None:
            position, ops = self._snapshot(self.message_id)
            self.view.reset(position, ops)

    async def _follow(self, subscription: Subscription) -> None:
        try:
            async for batch in subscription:
                for event in batch:
                    if self._held or self.paused:
                        self._held.append(event)
                        if event.payload.get('paused') is False:
                            self._release()
                        elif self.paused and self._drain is None and _ends(event):
                            self._release(at_once=True)  # no pause left to keep: show it all, as it ended
                    else:
                        self._take(event)
                self._send()
        except asyncio.CancelledError:
            pass
        finally:
            subscription.close()

    def _take(self, event: BusEvent) -> None:
        """Apply one event's effects on the card; its operations wait in ``_outgoing`` for ``_send``."""
        payload = event.payload
        if not self._outgoing:
            self._outgoing_first = event.position
        self._outgoing.append(payload.get('ops', []))
        self._last_event = time.monotonic()
        if 'n' in payload:
            self._count(int(payload['n']))
            self.has_text = True
        if 'notice' in payload:
            self._set_notice(payload['notice'])
        if 'paused' in payload:
            self._set_paused(bool(payload['paused']))
        if 'status' in payload:
            self._set_status(payload['status'], payload.get('meta') or {}, payload.get('error'))

    @property
    def quiet(self) -> bool:
        """Streaming is off and the answer is not finished: its text waits in ``_outgoing``."""
        return not self._live_display and self.status in LIVE

    def set_display(self, *, streaming: bool, speed: str) -> None:
        """The user changed their preferences, possibly mid-answer: turning streaming on shows the text so far at
        once and goes on live; turning it off hides the text until the answer ends."""
        self._live_display = streaming
        self._instant = speed == 'instant'
        self._show_quiet()
        self._send()

    def _show_quiet(self) -> None:
        quiet = self.quiet
        if quiet == self._quiet_shown:
            return
        self._quiet_shown = quiet
        if quiet:
            self.classes(add='scribe-quiet')
            with self:
                self._progress = Element('div').classes('scribe-progress').props('data-testid=stream-progress')
            self._insert(self._progress, self.view)
        else:
            self.classes(remove='scribe-quiet')
            if self._progress is not None:
                self._progress.delete()
                self._progress = None

    def _send(self) -> None:
        if self.quiet:
            return
        if self._pending_snapshot is not None:
            position, ops = self._pending_snapshot
            self._pending_snapshot = None
            self.view.reset(position, ops)
        if not self._outgoing:
            return
        batches, first = self._outgoing, self._outgoing_first
        self._outgoing = []
        if len(batches) <= 8:
            self.view.apply(first, batches)
            return
        # A backlog (streaming was off, or a pause ends at once): in one go, in messages under the size limit.
        part: list[list[Op]] = []
        size = 0
        for batch in compact(batches):
            batch_size = sum(_op_size(op) for op in batch)
            if part and size + batch_size > SEND_PART_CHARS:
                self.view.apply(first, part)
                first += len(part)
                part, size = [], 0
            part.append(batch)
            size += batch_size
        if part:
            self.view.apply(first, part)

    def _release(self, *, at_once: bool = False) -> None:
        """Stop holding the display and play what was held (once, however many resumes arrive); ``at_once`` (or
        speed 'instant') shows it without the catch-up."""
        self.paused = False
        if self._drain is None and self._held and (at_once or self._instant or self.quiet):
            # Speed 'instant' shows the held text at once; with streaming off nothing is shown until the end anyway.
            taken = 0
            for event in self._held:
                self._take(event)
                taken += 1
                if self.paused:  # paused again by a later event: the rest stays held
                    break
            del self._held[:taken]
            self._send()
            if not self.paused:
                self._set_paused(False)
        elif self._drain is None and self._held:
            self._drain = background_tasks.create(self._play_held(), name='resume-display')
        elif not self._held:
            self._set_paused(False)

    async def _play_held(self) -> None:
        """Resume: play what arrived during the pause in small steps over about a second, so the display catches
        up smoothly instead of jumping, then follow live again."""
        try:
            steps = 30
            while self._held and not self.paused:
                take = max(1, len(self._held) // steps)
                steps = max(1, steps - 1)
                for event in self._held[:take]:
                    self._take(event)
                    if self.paused:  # paused again while catching up
                        take = self._held.index(event) + 1
                        break
                del self._held[:take]
                self._send()
                await asyncio.sleep(0.03)
            if not self.paused:
                self._set_paused(False)
        finally:
            self._drain = None

    def _set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.status_box.text = 'paused' if paused else STATUS_ICONS[self.status][1]
        self.view.set_streaming(not paused and self.status in LIVE)
        self._controls()

    async def _pause(self) -> None:
        if self._on_pause is not None:
            await self._on_pause(self, True)

    async def _resume(self) -> None:
        self._enable('resume', False)
        try:
            if self._on_pause is not None:
                await self._on_pause(self, False)
            if (self.paused and self.status in LIVE) or self._held:
                self._release()  # this page's own hold ends now, whatever the server still had to say
        finally:
            self._enable('resume', True)

    def _tick_while_live(self) -> None:
        """Once a second while the answer is live, ``_tick``. A task rather than a ``ui.timer``: that is an element
        (a Vue component in the page), kept on every card, live or not."""
        if self.status in LIVE and (self._ticker is None or self._ticker.done()):
            self._ticker = background_tasks.create(self._ticking(), name=f'tick-{self.message_id}')

    async def _ticking(self) -> None:
        while self.status in LIVE:
            await asyncio.sleep(1.0)
            self._tick()

    def _tick(self) -> None:
        """Slow or stuck: while nothing arrives, say for how long."""
        if self.status not in LIVE or self.paused:
            return
        quiet = time.monotonic() - self._last_event
        if quiet >= 2:
            self.rate.text = f'waiting for the provider, {quiet:.0f} s'

    def _count(self, n: int) -> None:
        now = time.monotonic()
        if self._rate_base is None:
            self._rate_base = (now, n)
            return
        if now - self._rate_shown_at < RATE_EVERY:
            return
        self._rate_shown_at = now
        t0, n0 = self._rate_base
        if now > t0:
            first = f' · first char {self._first_char_s:.2f} s' if self._first_char_s is not None else ''
            self.rate.text = f'{(n - n0) / (now - t0):,.0f} chars/s · {n:,} chars{first}'

    def _set_status(self, status: str, meta: dict[str, Any], error: str | None) -> None:
        if status == self.status and status in LIVE:
            return
        previous, self.status = self.status, status
        icon, word = STATUS_ICONS.get(status, STATUS_ICONS['error'])
        self._props['data-status'] = status
        self.status_box.props.update({'data-status': status, 'data-icon': icon})
        live = status in LIVE
        self.status_box.text = 'paused' if self.paused and live else word
        if live:
            self._tick_while_live()
        if meta.get('time_to_first_char') is not None:
            self._first_char_s = float(meta['time_to_first_char'])
        if status == 'streaming' and previous != 'streaming':
            # Text is flowing: a retry notice is resolved; a fallback notice stays to say who answered.
            self._set_notice(meta.get('switched') or '')
        if meta.get('model') or meta.get('provider'):
            self.model.text = _model_of(meta)
            self.model.props.update({'data-provider': str(meta.get('provider') or ''),
                                     'data-model': str(meta.get('model') or '')})
        if not live:
            self.view.set_streaming(False)
            self.rate.text = _totals(meta)
            self.paused = bool(meta.get('paused'))
            if status == 'completed':
                self._set_notice(meta.get('switched') or '')
        if error:
            self._set_error(error)
        self._show_quiet()
        self._controls()

