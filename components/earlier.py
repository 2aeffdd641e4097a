"""The messages above the newest ones, shown a batch at a time, newest batch first.

A stored answer costs a highlighter pass to show and a few kilobytes of page, so a project with hundreds of long
messages would take most of a minute to open if every one were built at once, and hold them all in memory for as
long as the page is open. The page reads and builds only the newest batch; this element knows how many older ones
there are and, when asked (``AutoScroll`` asks as its control nears the viewport, or when it is clicked), gets the
previous batch through ``fetch`` (given by the page: a component never reads the database) and renders it.

Batches go into wrappers with ``display: contents``, so each card is laid out exactly as if it were a direct child
of the message column.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from nicegui import ui

from services.storage import MessageRecord

# (before seq, how many) -> (that many of the newest messages before it, in order; how many older ones remain)
Fetch = Callable[[int, int], Awaitable[tuple[Sequence[MessageRecord], int]]]


class EarlierMessages(ui.element):
    def __init__(self, remaining: int, before: int, *, batch_size: int, fetch: Fetch,
                 prepare: Callable[[Sequence[MessageRecord]], Awaitable[None]],
                 render: Callable[[MessageRecord], None]) -> None:
        """``remaining`` messages come before seq ``before``. ``prepare`` does a batch's slow work off the event
        loop (rendering stored answers); ``render`` then builds one message's card in the current context."""
        super().__init__('div')
        self.classes('scribe-earlier')
        self._remaining = remaining
        self._before = before
        self._batch_size = batch_size
        self._fetch = fetch
        self._prepare = prepare
        self._render = render
        self._lock = asyncio.Lock()  # two requests at once must not both show the same batch
        with self:
            self.control = ui.button().props(
                'flat dense no-caps size=sm icon=expand_less data-testid=load-earlier').classes('scribe-load-earlier')
            self.batches = ui.element('div').classes('scribe-batch')
        self._label()

    @property
    def remaining(self) -> int:
        return self._remaining

    async def load(self) -> bool:
        """Render the previous batch above the ones shown; True if still more remain."""
        async with self._lock:
            if self._remaining <= 0:
                return False
            batch, remaining = await self._fetch(self._before, self._batch_size)
            if not batch:  # the older messages went meanwhile
                self._remaining = 0
                self._label()
                return False
            await self._prepare(batch)
            # Only now: a failed fetch or prepare leaves the batch to be asked for again.
            self._remaining, self._before = remaining, batch[0].seq
            with self.batches:
                wrapper = ui.element('div').classes('scribe-batch')
                with wrapper:
                    for message in batch:
                        self._render(message)
            wrapper.move(target_index=0)
            self._label()
            return remaining > 0

    def _label(self) -> None:
        count = self._remaining
        self.control.text = f'Show earlier messages ({count})'
        self.control.set_visibility(count > 0)
