"""``python -m bench``: Scribe's benchmarks.

Without ``--suite`` this is the streaming benchmark (``bench/stream_bench.py``), with all its options
(``python -m bench --help`` shows them). ``--suite NAME[,NAME…]`` runs other suites, or several in sequence:

    stream     bench/stream_bench.py     paced and unpaced stream into Chromium, Scribe vs stock NiceGUI
    ttfc       bench/ttfc_bench.py       time from the Send click to the first visible character
    load       bench/load_bench.py       many viewers and streams at once
    memory     bench/memory_bench.py     memory held per stream and per page, and released after
    highlight  bench/highlight_bench.py  the incremental highlighter against one pygments pass
    floor      bench/floor_bench.py      a blank page showing the same answer: renderer CPU against lag, per cadence
    all        every suite above that exists, in that order

With one suite, the rest of the command line goes to it (``python -m bench --suite ttfc --prompts 40``); with
several, each runs with its own defaults. A suite whose file is not there is skipped with a note. The exit status
is the first non-zero one.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITES = {'stream': 'stream_bench', 'ttfc': 'ttfc_bench', 'load': 'load_bench', 'memory': 'memory_bench',
          'highlight': 'highlight_bench', 'floor': 'floor_bench'}


def main(argv: list[str]) -> int:
    if argv[:1] in (['-h'], ['--help']) and '--suite' not in argv:
        print(__doc__)
        print('Options of the default suite (stream):\n')
    names: list[str] = ['stream']
    rest = list(argv)
    for i, arg in enumerate(argv):
        if arg == '--suite' or arg.startswith('--suite='):
            value = arg.split('=', 1)[1] if '=' in arg else (argv[i + 1] if i + 1 < len(argv) else '')
            rest = argv[:i] + argv[i + (1 if '=' in arg else 2):]
            names = [n.strip() for n in value.split(',') if n.strip()]
            break
    if names == ['all']:
        names = list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown or not names:
        print(f'python -m bench: unknown suite {unknown or names!r}; choose from {", ".join(SUITES)} or all',
              file=sys.stderr)
        return 2
    status = 0
    for name in names:
        module = SUITES[name]
        if not (HERE / f'{module}.py').exists():
            print(f'[bench] suite {name}: bench/{module}.py is not there, skipped')
            continue
        if len(names) > 1:
            print(f'\n[bench] suite {name} (bench/{module}.py)', flush=True)
        code = importlib.import_module(f'bench.{module}').main(rest if len(names) == 1 else [])
        status = status or int(code or 0)
    return status


raise SystemExit(main(sys.argv[1:]))
