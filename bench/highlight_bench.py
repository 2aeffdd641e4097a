"""Highlighting cost: a 2,000-line Python file streamed in 4-character chunks, against one pygments pass.

Issue 7's target: streaming a file through the parser and the highlighter costs at most 1.3 times one pygments pass
over the whole file. The baseline is what a non-incremental Scribe would do once the file is complete: one
``get_tokens_unprocessed`` pass with the same lexer, cut into lines and rendered with the same ``render_tokens`` the
highlighter uses (so both sides produce the same html, and the comparison is of lexing work, not of formatters).
Stock ``pygments.highlight`` with ``HtmlFormatter`` is printed beside it for scale only.

Streaming rows feed the whole markdown answer (a short intro, the file as a ```python block, a closing sentence) to
the real ``MessageRenderer`` in 4-character chunks. ``take_ops`` runs at the app's cadence (2,000 characters/s with
a 40 ms flush interval: every 80 characters, every 20 chunks) for the target row, and after every chunk for the
worst case. The machine is shared, so each round times every scenario once, in turn, and a scenario's ratio is the
median over rounds of its time divided by the same round's baseline. ``--instructions`` also counts instructions
under valgrind (deterministic, slow): each scenario once and twice in a fresh process, the difference is one run.

Exactness is checked on every streamed run: the code block the operations build (applied the way stream_view.js
applies them) must equal the baseline's html line for line, and its text the file.
"""

from __future__ import annotations

import argparse
import gc
import html
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygments
from pygments import highlight
from pygments.formatters.html import HtmlFormatter
from pygments.lexers import get_lexer_by_name

from bench.answer import python_code
from services.highlighter import CodeHighlighter, render_tokens, split_lines
from services.parser import StreamParser
from services.rendering import MessageRenderer, apply_tail

TARGET = 1.3
LINES = 2000
CHUNK = 4
SPEED = 2000.0          # characters per second
FLUSH = 0.04            # seconds between flushes
SEED = 7
RESULTS = Path(__file__).resolve().parent / 'results' / 'highlight.json'

# --------------------------------------------------------------------------------------------------------------
# The file: bench/answer.py's scheduler module, then more modules' worth of varied, realistic code
# --------------------------------------------------------------------------------------------------------------

_REPOSITORY = '''class @Name@Repository:
    """Stores @what@ in PostgreSQL.

    Every method takes a connection from the pool and returns plain dataclasses, so callers never see a cursor.
    Queries are written out in full: ``@table@`` has @columns@ columns and a partial index on ``tenant_id``.
    """

    _SELECT = """
        SELECT id, name, created_at, updated_at, payload
        FROM @table@
        WHERE tenant_id = %(tenant)s AND deleted_at IS NULL
        ORDER BY created_at DESC
        LIMIT %(limit)s
    """

    def __init__(self, pool: Pool, *, schema: str = "public") -> None:
        self._pool = pool
        self._schema = schema
        self._cache: dict[int, @Name@] = {}

    async def get(self, item_id: int) -> @Name@ | None:
        if item_id in self._cache:
            return self._cache[item_id]
        async with self._pool.connection() as conn:
            row = await conn.fetchrow(f"SELECT * FROM {self._schema}.@table@ WHERE id = $1", item_id)
        if row is None:
            return None
        item = @Name@(**dict(row))
        self._cache[item_id] = item
        return item

    async def list(self, tenant: str, limit: int = @limit@) -> list[@Name@]:
        async with self._pool.connection() as conn:
            rows = await conn.fetch(self._SELECT, {"tenant": tenant, "limit": limit})
        return [@Name@(**dict(r)) for r in rows if r["payload"] is not None]

    def _key(self, item: @Name@) -> str:
        # stable across restarts: the hash of a str is salted per process
        return hashlib.sha256(f"{item.id}:{item.name!r}".encode()).hexdigest()[:@keylen@]


'''

_PARSER = r'''_@NAME@_PATTERN = re.compile(r"^(?P<key>[a-z_]\w*)\s*=\s*(?P<value>\"[^\"]*\"|\d+(?:\.\d+)?)$", re.I)


def parse_@name@(text: str) -> dict[str, str | float]:
    """Parse ``key = value`` lines of the @what@ file; blank lines and ``#`` comments are skipped."""
    result: dict[str, str | float] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _@NAME@_PATTERN.match(line)
        if match is None:
            raise ValueError(f"line {lineno}: cannot parse {raw!r}")
        value = match["value"]
        result[match["key"]] = value[1:-1] if value.startswith('"') else float(value)
    return result


def handle_@name@(command: tuple[str, ...], state: dict[str, Any]) -> str:
    match command:
        case ("set", key, value):
            state[key] = value
            return f"ok: {key}={value}"
        case ("get", key) if key in state:
            return str(state[key])
        case ("incr", key, *rest):
            step = int(rest[0]) if rest else @step@
            state[key] = state.get(key, 0) + step
            return f"{state[key]:>{WIDTH}}"
        case ("mask", key):
            return hex(state.get(key, 0) & 0xFF_FF) + " / " + oct(0o755) + " / " + bin(0b1010) + f" {1e-3:.2%}"
        case _:
            return "unknown command: " + " ".join(command) + "\n\t(try 'help')"


'''

_TESTS = '''@pytest.mark.parametrize(("raw", "expected"), [
    ("a = 1", {"a": 1.0}),
    ('name = "@what@"', {"name": "@what@"}),
    ("# only a comment\\n\\n", {}),
    ("x = 2.5  # trailing", {"x": 2.5}),
])
def test_parse_@name@(raw: str, expected: dict[str, object]) -> None:
    assert parse_@name@(raw) == expected


def test_handle_@name@_round_trip() -> None:
    state: dict[str, Any] = {}
    assert handle_@name@(("set", "k", "v"), state) == "ok: k=v"
    assert handle_@name@(("get", "k"), state) == "v"
    assert handle_@name@(("incr", "n"), state).strip() == "@step@"
    squares = {i: i ** 2 for i in range(@limit@) if i % 3 != 0}
    assert sum(squares.values()) > 0 and all(isinstance(k, int) for k in squares)
    payload = b"\\x00\\x01@table@" + bytes(range(4))
    assert len(payload) == @paylen@, payload.hex()
    assert (lambda x, /, *, y=0: x + y)(2, y=@step@) == 2 + @step@


'''

_TOPICS = (
    ('Customer', 'customers and their billing addresses', 'customers'),
    ('Invoice', 'issued invoices with their line items', 'invoices'),
    ('Shipment', 'shipments and their tracking events', 'shipments'),
    ('Product', 'the catalogue, one row per variant', 'products'),
    ('Warehouse', 'warehouses and their stock levels', 'warehouses'),
    ('Coupon', 'coupons, their rules and redemptions', 'coupons'),
    ('Review', 'product reviews awaiting moderation', 'reviews'),
    ('Refund', 'refund requests and their outcomes', 'refunds'),
)


def build_code(lines: int = LINES, seed: int = SEED) -> str:
    """Deterministic, realistic Python of exactly ``lines`` lines: whole pieces while they fit, then comments."""
    rng = random.Random(seed)
    pieces = [python_code(40_000, rng)]
    i = 0
    while True:
        name, what, table = _TOPICS[i % len(_TOPICS)]
        suffix = '' if i < len(_TOPICS) else str(i // len(_TOPICS))
        fields = {'@Name@': name + suffix, '@NAME@': (name + suffix).upper(), '@name@': (name + suffix).lower(),
                  '@what@': what, '@table@': table + suffix, '@columns@': str(rng.randint(5, 40)),
                  '@limit@': str(rng.choice((50, 100, 500))), '@keylen@': str(rng.choice((12, 16, 24))),
                  '@step@': str(rng.randint(1, 9))}
        fields['@paylen@'] = str(4 + len(fields['@table@']) + 2)
        template = (_REPOSITORY, _PARSER, _TESTS)[i % 3]
        for key, value in fields.items():
            template = template.replace(key, value)
        if sum(piece.count('\n') for piece in pieces) + template.count('\n') > lines:
            break
        pieces.append(template)
        i += 1
    code = ''.join(pieces)
    missing = lines - code.count('\n')
    code += ''.join(f'# end of module, filler line {n} of {missing}\n' for n in range(1, missing + 1))
    assert code.count('\n') == lines and code.endswith('\n')
    return code


def build_answer(code: str) -> str:
    return ('Here is the whole module, with the repositories, the parsers and their tests in one file.\n\n'
            '```python\n' + code + '```\n\nRun the tests with `pytest -q` before you deploy it.\n')


def chunked(text: str, size: int = CHUNK) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------------------------------------------
# Scenarios: each returns the code block's html lines (for the exactness check)
# --------------------------------------------------------------------------------------------------------------

_LEXER = get_lexer_by_name('python', stripnl=False, ensurenl=False)


def one_pass(code: str) -> list[str]:
    """One pygments pass over the whole file, cut at line ends, rendered like the highlighter renders a line."""
    lines: list[str] = []
    toks: list[tuple[Any, str]] = []
    for _index, ttype, value in _LEXER.get_tokens_unprocessed(code):
        while '\n' in value:
            head, _, value = value.partition('\n')
            toks.append((ttype, head + '\n'))
            lines.append(render_tokens(toks))
            toks = []
        if value:
            toks.append((ttype, value))
    if toks:
        lines.append(render_tokens(toks))
    return lines


def pygments_html(code: str) -> str:
    return highlight(code, _LEXER, HtmlFormatter())


def highlighter_commits(code: str) -> list[str]:
    """The highlighter alone, every line committed as it would arrive, then closed (no tails)."""
    highlighter = CodeHighlighter('python')
    lines: list[str] = []
    for raw in split_lines(code):
        update = highlighter.commit(raw)
        lines[update.start:update.start + len(update.lines)] = update.lines
    update = highlighter.close()
    if update is not None:
        lines[update.start:update.start + len(update.lines)] = update.lines
    return lines


def parser_only(chunks: list[str]) -> None:
    parser = StreamParser()
    for chunk in chunks:
        parser.feed(chunk)
    parser.flush()


class _CodeDisplay:
    """The code block as stream_view.js builds it from the operations."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.tail = ''
        self.blocks: set[int] = set()

    def apply(self, ops: list[list[Any]]) -> None:
        for op in ops:
            kind = op[0]
            if kind == 'C':
                self.blocks.add(op[1])
            elif kind == 'L':
                self.lines[op[2]:op[2] + len(op[3])] = op[3]
            elif kind in ('t', 'u'):
                self.tail = apply_tail(self.tail, op)
            elif kind == 'X' and op[1] in self.blocks:
                self.tail = ''


def streamed(chunks: list[str], flush_every: int) -> list[str]:
    """The real pipeline: parser, prose renderer, highlighter and operations, ``take_ops`` every ``flush_every``
    chunks."""
    renderer = MessageRenderer()
    display = _CodeDisplay()
    for n, chunk in enumerate(chunks, 1):
        renderer.feed(chunk)
        if n % flush_every == 0:
            display.apply(renderer.take_ops())
    renderer.finish()
    display.apply(renderer.take_ops())
    assert len(display.blocks) == 1 and not display.tail
    return display.lines


# --------------------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------------------

_TAG = re.compile(r'<[^>]*>')


def _text(lines: list[str]) -> str:
    return html.unescape(_TAG.sub('', ''.join(lines))).replace('&#13;', '\r')


def scenarios(code: str, flush_every: int) -> dict[str, tuple[str, Callable[[], Any]]]:
    answer = build_answer(code)
    chunks = chunked(answer)
    return {
        'one_pass': ('one pygments pass, Scribe html (baseline)', lambda: one_pass(code)),
        'pygments_html': ('one pygments.highlight, HtmlFormatter (scale)', lambda: pygments_html(code)),
        'parser': ('parser alone, 4-char chunks', lambda: parser_only(chunks)),
        'commits': ('highlighter alone, commits + close', lambda: highlighter_commits(code)),
        'stream_app': (f'stream, take_ops every {flush_every} chunks (app)', lambda: streamed(chunks, flush_every)),
        'stream_worst': ('stream, take_ops every chunk (worst)', lambda: streamed(chunks, 1)),
    }


def check_exact(code: str, flush_every: int) -> dict[str, bool]:
    reference = one_pass(code)
    assert _text(reference) == code
    result: dict[str, bool] = {}
    for name, lines in (('commits', highlighter_commits(code)),
                        ('stream_app', streamed(chunked(build_answer(code)), flush_every)),
                        ('stream_worst', streamed(chunked(build_answer(code)), 1))):
        result[f'{name}_text'] = _text(lines) == code
        result[f'{name}_html'] = lines == reference
    return result


def time_rounds(runs: dict[str, tuple[str, Callable[[], Any]]], rounds: int) -> dict[str, dict[str, list[float]]]:
    """Every scenario once per round, in turn, after one warm-up each (grammars, regex caches)."""
    for _label, fn in runs.values():
        fn()
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (_label, fn) in runs.items():
            gc.collect()
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            c1, w1 = time.process_time(), time.perf_counter()
            wall[name].append(w1 - w0)
            cpu[name].append(c1 - c0)
    return {'wall': wall, 'cpu': cpu}


def _ratios(samples: dict[str, list[float]], base: str = 'one_pass') -> dict[str, float]:
    """Median over rounds of (scenario / the same round's baseline)."""
    return {name: statistics.median(v / b for v, b in zip(values, samples[base], strict=True))
            for name, values in samples.items()}


def count_instructions(name: str, lines: int, flush_every: int) -> int | None:
    """Instructions of one run of a scenario: valgrind counts a process that runs it twice minus one that runs it
    once, so start-up, imports and the warm-up cancel out."""
    if shutil.which('valgrind') is None:
        return None
    counts: list[int] = []
    for reps in (1, 2):
        with tempfile.NamedTemporaryFile(suffix='.out') as out:
            cmd = ['valgrind', '--tool=cachegrind', '--cache-sim=no', f'--cachegrind-out-file={out.name}',
                   sys.executable, '-m', 'bench.highlight_bench', '--one', name, '--reps', str(reps),
                   '--lines', str(lines), '--flush-every', str(flush_every)]
            env = {**os.environ, 'PYTHONHASHSEED': '0'}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                  cwd=Path(__file__).resolve().parent.parent, check=False)
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                return None
            summary = [ln for ln in Path(out.name).read_text().splitlines() if ln.startswith('summary:')]
            counts.append(int(summary[0].split()[1]))
    return counts[1] - counts[0]


def _run_one(name: str, reps: int, lines: int, flush_every: int) -> None:
    runs = scenarios(build_code(lines), flush_every)
    fn = runs[name][1]
    fn()     # the warm-up both processes share
    for _ in range(reps - 1):
        fn()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m bench.highlight_bench', description=__doc__.split('\n\n')[0])
    parser.add_argument('--rounds', type=int, default=9, help='timed rounds (each runs every scenario once)')
    parser.add_argument('--lines', type=int, default=LINES, help='lines of Python in the file')
    parser.add_argument('--flush-every', type=int, default=round(SPEED * FLUSH / CHUNK),
                        help='chunks between take_ops calls at the app cadence (2,000 chars/s, 40 ms: 20)')
    parser.add_argument('--instructions', action='store_true',
                        help='also count instructions under valgrind (slow: about a minute per scenario)')
    parser.add_argument('--json', type=Path, default=RESULTS,
                        help='where to write the results (bench/results/highlight.json)')
    parser.add_argument('--one', help=argparse.SUPPRESS)
    parser.add_argument('--reps', type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        _run_one(args.one, args.reps, args.lines, args.flush_every)
        return 0

    code = build_code(args.lines)
    answer = build_answer(code)
    runs = scenarios(code, args.flush_every)
    exact = check_exact(code, args.flush_every)
    timings = time_rounds(runs, args.rounds)
    wall_ratio = _ratios(timings['wall'])
    cpu_ratio = _ratios(timings['cpu'])
    instructions: dict[str, int | None] = {}
    if args.instructions:
        for name in runs:
            instructions[name] = count_instructions(name, args.lines, args.flush_every)
    base_instr = instructions.get('one_pass')

    print(f'{args.lines} lines, {len(code):,} characters of Python; answer {len(answer):,} characters in '
          f'{len(chunked(answer)):,} chunks of {CHUNK}; {args.rounds} rounds; pygments {pygments.__version__}, '
          f'Python {platform.python_version()}')
    header = f'{"scenario":<46} {"wall ms":>8} {"cpu ms":>8} {"× wall":>7} {"× cpu":>7}'
    if args.instructions:
        header += f' {"Minstr":>8} {"× instr":>8}'
    print(header)
    print('-' * len(header))
    rows: dict[str, dict[str, Any]] = {}
    for name, (label, _fn) in runs.items():
        wall_ms = statistics.median(timings['wall'][name]) * 1000
        cpu_ms = statistics.median(timings['cpu'][name]) * 1000
        row = f'{label:<46} {wall_ms:>8.1f} {cpu_ms:>8.1f} {wall_ratio[name]:>6.2f}× {cpu_ratio[name]:>6.2f}×'
        instr = instructions.get(name)
        instr_ratio = instr / base_instr if instr is not None and base_instr else None
        if args.instructions:
            row += (f' {instr / 1e6:>8.1f} {instr_ratio:>7.2f}×' if instr is not None and instr_ratio is not None
                    else f' {"n/a":>8} {"n/a":>8}')
        print(row)
        rows[name] = {'label': label, 'wall_ms_median': round(wall_ms, 3), 'cpu_ms_median': round(cpu_ms, 3),
                      'wall_ratio': round(wall_ratio[name], 4), 'cpu_ratio': round(cpu_ratio[name], 4),
                      'wall_ms': [round(v * 1000, 3) for v in timings['wall'][name]],
                      'cpu_ms': [round(v * 1000, 3) for v in timings['cpu'][name]],
                      'instructions': instr, 'instr_ratio': round(instr_ratio, 4) if instr_ratio else None}
    app = wall_ratio['stream_app']
    verdict = 'PASS' if app <= TARGET else 'FAIL'
    print(f'\ntarget: streaming at the app cadence ≤ {TARGET}× one pass: {app:.2f}× wall, '
          f'{cpu_ratio["stream_app"]:.2f}× cpu'
          + (f', {rows["stream_app"]["instr_ratio"]:.2f}× instructions' if rows['stream_app']['instr_ratio'] else '')
          + f' → {verdict}')
    exact_ok = all(exact.values())
    print('exact: ' + ', '.join(f'{k} {"yes" if v else "NO"}' for k, v in exact.items()))

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        'bench': 'highlight', 'target': TARGET, 'verdict': verdict, 'exact': exact,
        'lines': args.lines, 'code_chars': len(code), 'answer_chars': len(answer), 'chunk': CHUNK,
        'flush_every': args.flush_every, 'rounds': args.rounds,
        'python': platform.python_version(), 'pygments': pygments.__version__, 'machine': platform.machine(),
        'cpus': os.cpu_count(), 'scenarios': rows,
    }, indent=2) + '\n')
    print(f'results: {args.json}')
    return 0 if exact_ok else 1


if __name__ == '__main__':
    raise SystemExit(main())
