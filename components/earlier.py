"""The messages above the newest ones, shown a batch at a time, newest batch first.

A stored answer costs a highlighter pass to show and a few kilobytes of page, so a project with hundreds of long
messages would take most of a minute to open if every one were built at once. The page builds only the newest
batch; this element holds the older records (given by the page: a component never reads the database) and renders
the previous batch when asked (``AutoScroll`` asks as its control nears the viewport, or when it is clicked).

Batches go into wrappers with ``display: contents``, so each card is laid out exactly as if it were a direct child
of the message column.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from nicegui import ui

from services.storage import MessageRecord


class EarlierMessages(ui.element):
    def __init__(self, older: Sequence[MessageRecord], *, batch_size: int,
                 prepare: Callable[[Sequence[MessageRecord]], Awaitable[None]],
                 render: Callable[[MessageRecord], None]) -> None:
        """``prepare`` does a batch's slow work off the event loop (rendering stored answers); ``render`` then
        builds one message's card in the current context."""
        super().__init__('div')
        self.classes('scribe-earlier')
        self._older = list(older)
        self._batch_size = batch_size
        self._prepare = prepare
        self._render = render
        with self:
            self.control = ui.button().props(
                'flat dense no-caps size=sm icon=expand_less data-testid=load-earlier').classes('scribe-load-earlier')
            self.batches = ui.element('div').classes('scribe-batch')
        self._label()

    @property
    def remaining(self) -> int:
        return len(self._older)

    async def load(self) -> bool:
        """Render the previous batch above the ones shown; True if still more remain."""
        if not self._older:
            return False
        batch = self._older[-self._batch_size:]
        await self._prepare(batch)
        del self._older[-len(batch):]  # only now: a failed prepare leaves the batch to be asked for again
        with self.batches:
            wrapper = ui.element('div').classes('scribe-batch')
            with wrapper:
                for message in batch:
                    self._render(message)
        wrapper.move(target_index=0)
        self._label()
        return bool(self._older)

    def _label(self) -> None:
        count = len(self._older)
        self.control.text = f'Show earlier messages ({count})'
        self.control.set_visibility(count > 0)
