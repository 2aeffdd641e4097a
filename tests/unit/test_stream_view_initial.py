"""components/stream_view.py: a stored answer's operations given as JSON bytes reach the page as the very JSON the
list of operations would have made, through NiceGUI's own serialiser."""

from __future__ import annotations

import orjson
from nicegui import json as nicegui_json

from components import stream_view
from services.rendering import render_static

TEXT = 'Intro with `code` and ünïcode ✍️ </script>\n\n```python\ndef f(x):\n    return "<b>" + x\n```\n\nThe end.\n'


def test_nicegui_embeds_the_encoded_operations_as_they_are() -> None:
    assert stream_view._EMBEDS_FRAGMENTS  # Scribe installs orjson, so NiceGUI serialises with it
    ops = render_static(TEXT)
    page_with_bytes = nicegui_json.dumps({'props': {'initial': orjson.Fragment(orjson.dumps(ops))}})
    page_with_lists = nicegui_json.dumps({'props': {'initial': ops}})
    assert page_with_bytes == page_with_lists
    assert nicegui_json.loads(page_with_bytes)['props']['initial'] == ops
