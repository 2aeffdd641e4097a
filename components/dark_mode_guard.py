"""Stop NiceGUI's ``ui.dark_mode`` from restyling the whole page on every update.

NiceGUI renders a page as one Vue tree, and every update (a new message, a changed label) re-renders all of it.
``ui.dark_mode``'s component re-applies its value in its ``updated`` hook, through the global ``setDark``, which
rewrites the ``<meta name="color-scheme">`` tag even when the value is unchanged; Chromium treats that as a change
of the platform colours and recalculates the style of every element. On a project with a few dozen answers that is
10-30 ms in the frame that would show a new answer's first character, growing with the page.

The guard wraps ``setDark`` so that only a change of value reaches it. It is installed when the page's scripts have
run (``DOMContentLoaded`` comes after NiceGUI's deferred ``nicegui.js`` and the module that mounts the app): the
first call, at mount, has gone through, and the value it applied is read back from the meta tag. Theme changes
still apply at once: they change the value.
"""

from __future__ import annotations

from nicegui import ui

SCRIPT = '''<script>
document.addEventListener("DOMContentLoaded", () => {
  const setDark = window.setDark;
  if (typeof setDark !== "function" || setDark.scribeGuarded) return;
  // The value applied at mount, as setDark wrote it into the meta tag (unknown: the next call applies).
  const applied = { dark: true, light: false, normal: null };
  const content = document.getElementById("nicegui-color-scheme")?.getAttribute("content");
  let last = content in applied ? applied[content] : {};
  const guarded = (dark) => {
    if (dark === last) return;
    last = dark;
    setDark(dark);
  };
  guarded.scribeGuarded = true;
  window.setDark = guarded;
});
</script>'''


def guard_dark_mode() -> None:
    """Install the guard on the current page (once per page; a second call adds nothing that acts)."""
    ui.add_body_html(SCRIPT)
