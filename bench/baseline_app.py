"""The baseline: stock NiceGUI streaming the way its chat examples do, ``ui.markdown`` with ``content +=`` per chunk.

Run by ``bench/stream_bench.py`` as ``python bench/baseline_app.py --port N --script FILE --speed 2000 --chunk 4``.
One page: a Start button launches a background task that appends the script to a ``ui.markdown`` in fixed-size
chunks, paced like Scribe's demo provider (each chunk is due when the characters before it have had their share of
time, measured from one start on a monotonic clock, so a late wake-up never accumulates drift), then sets the label
``data-testid=done``. Nothing here is tuned: this is what a NiceGUI app gets out of the box.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from nicegui import background_tasks, ui


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--port', type=int, default=8090)
    parser.add_argument('--script', required=True, help='the UTF-8 text to stream')
    parser.add_argument('--speed', type=float, default=2000.0, help='characters per second')
    parser.add_argument('--chunk', type=int, default=4, help='characters per chunk')
    args = parser.parse_args()
    text = Path(args.script).read_text(encoding='utf-8')
    chunks = [text[i:i + args.chunk] for i in range(0, len(text), args.chunk)]

    @ui.page('/')
    def index() -> None:
        md = ui.markdown('').props('data-testid=baseline-markdown')
        done = ui.label('').props('data-testid=done')

        async def stream() -> None:
            start = time.monotonic()
            print(f'bench: stream started at {time.time():.6f}', flush=True)  # the provider's t0, for the bench
            sent = 0
            for chunk in chunks:
                await asyncio.sleep(max(0.0, start + sent / args.speed - time.monotonic()))
                md.content += chunk
                sent += len(chunk)
            done.text = f'done in {time.monotonic() - start:.2f} s'

        ui.button('Start', on_click=lambda: background_tasks.create(stream())).props('data-testid=start-button')

    ui.run(host='127.0.0.1', port=args.port, show=False, reload=False, title='NiceGUI ui.markdown baseline',
           uvicorn_logging_level='warning', show_welcome_message=False)


if __name__ in {'__main__', '__mp_main__'}:
    main()
