"""The page's scroll behaviour (``autoscroll.js``): follow the newest text until the reader scrolls up, offer a
"Jump to latest" button while they are away from the bottom, and ask for earlier messages as the reader nears them,
keeping the view still when those land above.

It is one element per page, and the only code that moves the page's scroll position: a message's body only renders
text, so several live answers, a reload or a batch of earlier messages can never fight over where the page is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui.element import Element


class AutoScroll(Element, component='autoscroll.js'):
    def __init__(self, content: Element, *, sentinel: Element | None = None,
                 on_load: Callable[[], Awaitable[bool]] | None = None) -> None:
        """``content``: the column whose growth is followed. ``sentinel``: the control above the oldest shown
        message; when it nears the viewport or is clicked, ``on_load`` renders the previous batch and says whether
        more remain. (The control needs no click handler of its own: one path, one guard against double loads.)"""
        super().__init__()
        self._props['content'] = content.html_id
        self._props['sentinel'] = sentinel.html_id if sentinel is not None else None
        self._on_load = on_load
        self._loading = False
        self.on('load', self._load)

    def jump(self) -> None:
        """Scroll to the bottom and follow again (the reader just sent a prompt: they want to see the answer)."""
        self.run_method('jump')

    def loaded(self, more: bool) -> None:
        """A batch of earlier messages was added: settle, and ask again if the control is still in view and
        ``more`` remain."""
        self.run_method('loaded', more)

    async def _load(self) -> None:
        if self._on_load is None or self._loading:
            return
        self._loading = True
        more = True
        try:
            more = await self._on_load()
        finally:
            self._loading = False
            self.loaded(more)
