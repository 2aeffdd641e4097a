"""What the app does when NiceGUI deletes a page's client (its tab closed, or not back within the reconnect
timeout): free what the page held, then reclaim the memory (``services/reclaim.py``)."""

from __future__ import annotations

from nicegui import app
from nicegui.client import Client
from nicegui.functions.refreshable import RefreshableTarget

from services.app_services import AppServices


def page_deleted(client: Client, services: AppServices) -> None:
    """NiceGUI keeps an in-memory ``app.storage.tab`` dict for every tab ever opened, for 30 days, whether or not
    the app uses it. Scribe keeps nothing there, and a thousand of those small dicts, allocated all through a
    process's life, pin a thousand scattered pages of the allocator (the memory bench measured the process
    growing by tens of MB that way). A tab's dict goes when its last client does; a reloaded tab that comes back
    later gets a new one from NiceGUI, as after a restart."""
    tab_id = _tab_of(client)  # ``tab_id`` itself is already None once the last socket went
    tabs = getattr(app.storage, '_tabs', None)
    if tab_id and isinstance(tabs, dict) and not any(
            _tab_of(other) == tab_id for other in Client.instances.values() if other is not client):
        tabs.pop(tab_id, None)
    _forget_last_refresh(client)
    services.reclaimer.soon()


def _forget_last_refresh(client: Client) -> None:
    """NiceGUI remembers the last ``ui.refreshable`` that ran in a class attribute (for ``ui.state``) and never
    clears it: a page whose project list was the last to refresh stayed reachable, all of it, after it closed."""
    target = RefreshableTarget.current_target
    container = getattr(target, 'container', None)
    if container is not None and (getattr(container, 'client', None) is client or container.is_deleted):
        RefreshableTarget.current_target = None


def _tab_of(client: Client) -> str | None:
    """The tab a client belongs to for good (NiceGUI's own check before it closes a tab's storage)."""
    pinned = getattr(client, '_pinned_tab_id', None)
    return pinned if isinstance(pinned, str) else client.tab_id


def install(services: AppServices) -> None:
    app.on_delete(lambda client: page_deleted(client, services))
