"""The websocket's state as the browser sees it: connected, reconnecting or offline."""

from __future__ import annotations

from nicegui import ui

_SCRIPT = '''
<script>
(function () {
  function label(state) {
    const el = document.querySelector('[data-testid="connection-status"]');
    if (!el) return;
    el.dataset.state = state;
    el.textContent = state;
  }
  function watch() {
    if (!window.socket) return setTimeout(watch, 50);
    const s = window.socket;
    label(s.connected ? "connected" : "reconnecting");
    s.on("connect", () => label("connected"));
    s.on("disconnect", () => label(navigator.onLine ? "reconnecting" : "offline"));
    s.io.on("reconnect_attempt", () => label(navigator.onLine ? "reconnecting" : "offline"));
    window.addEventListener("offline", () => label("offline"));
    window.addEventListener("online", () => label(s.connected ? "connected" : "reconnecting"));
  }
  document.addEventListener("DOMContentLoaded", watch);
})();
</script>
'''


def connection_status() -> ui.element:
    ui.add_body_html(_SCRIPT)
    return ui.element('span').classes('scribe-conn').props(
        'data-testid=connection-status data-state=reconnecting')
