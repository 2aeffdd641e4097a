"""What the app does when a page ends: free what it held, then reclaim the memory (``services/reclaim.py``).

NiceGUI deletes a page's client when its socket has been gone for the reconnect timeout (3 s): a socket that
drops on a bad network comes back to the same page within it. A page that is closed, reloaded or left is not
coming back, and says so (``watch_page_end``): its elements go at once. Pages that end are what fills the heap:
with ten tabs a second closing, those waiting out the timeout were 30-40 MB of the process's peak, and what a peak
leaves behind in glibc's heap stays resident.
"""

from __future__ import annotations

from fastapi import Request, Response
from nicegui import app, ui
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


#: Where a page says that its document is discarded for good (its body: the page's client id).
GONE_PATH = '/_scribe/page-gone'
#: ``pagehide`` fires when a tab closes, reloads or navigates away; ``persisted`` is true when the browser may keep
#: the page in its back-forward cache to show it again, and then nothing is said. A beacon, not a socket message:
#: the browser sends it after the page is gone, and NiceGUI drops socket events that arrive after the disconnect
#: (which a closing tab's socket races). If it is lost, the reconnect timeout ends the page as before.
GONE_SCRIPT = ('<script>addEventListener("pagehide", (e) => { if (!e.persisted && window.clientId) '
               f'navigator.sendBeacon((window.path_prefix || "") + "{GONE_PATH}", window.clientId); }});</script>')


def watch_page_end() -> None:
    """Called while a page is built: the page will say when it is gone."""
    ui.add_head_html(GONE_SCRIPT)


def page_gone(client: Client, services: AppServices) -> None:
    """The page's document is gone: its elements go now, instead of after the reconnect timeout. The client itself
    is left for NiceGUI to delete then, as it would anyway (it may already be counting down, and deleting a client
    twice fails); without its elements it holds next to nothing. A stream the page followed is not touched: it
    belongs to the server, and the card's subscription closes with the client."""
    if client.is_deleted:
        return
    client.layout.clear()
    client.outbox.message_history.clear()  # what a reconnect would have replayed: none will come
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

    @app.post(GONE_PATH, include_in_schema=False)
    async def gone(request: Request) -> Response:
        client_id = (await request.body())[:100].decode('ascii', 'replace').strip()
        client = Client.instances.get(client_id)
        if client is not None:
            page_gone(client, services)
        return Response(status_code=204)
