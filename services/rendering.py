"""From raw answer text to the small display operations the browser element applies.

One ``MessageRenderer`` per streaming message. ``feed`` runs per chunk and only queues it; ``take_ops``, once per
flush, parses what arrived since the last flush in one go, commits the finished code lines (each highlighted once)
and does the throw-away work — re-rendering the growing prose tail and re-lexing the unfinished code line — so the
cost scales with the number of flushes and the length of the text, not with the number of chunks. Operations are
JSON lists kept short because they cross the websocket:

    ['P', i, html]             append committed prose html to prose block i (creating it)
    ['p', i, html]             prose block i's live tail is now html
    ['q', i, keep, html]       ... is now its first ``keep`` UTF-16 code units followed by html (a growing tail
                               sends only what changed; units, as JavaScript counts them)
    ['C', i, language, info]   code block i opens
    ['L', i, start, [html…]]   code lines from index start are these (replace, then append)
    ['t', i, html]             code block i's unfinished last line is now html
    ['u', i, keep, html]       the same as a change after ``keep`` UTF-16 code units
    ['g', i, language]         code block i's language became known (guessed)
    ['X', i]                   block i is finished

A snapshot is the same operations describing the whole state, so a page that joins late, or a client that saw a
gap, rebuilds with the code path it uses for live updates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from services.blocks import BlockClosed, BlockEvent, CodeLine, CodeOpened, CodeTail, ProseExtended
from services.highlighter import CodeHighlighter, HighlightUpdate, prepare_language
from services.parser import StreamParser
from services.prose import ProseRenderer

Op = list[Any]


def _keep_cr(html: str) -> str:
    """The browser's HTML parser turns CR and CRLF into LF; a character reference survives it, so the code's text
    in the page stays exactly what the model sent."""
    return html.replace('\r', '&#13;') if '\r' in html else html


def _dedent(line: str, indent: int) -> str:
    """CommonMark removes up to the opening fence's indentation from each content line."""
    n = 0
    while n < indent and n < len(line) and line[n] == ' ':
        n += 1
    return line[n:]


@dataclass(slots=True)
class _Prose:
    index: int
    renderer: ProseRenderer = field(default_factory=ProseRenderer)
    committed: list[str] = field(default_factory=list)
    tail: str = ''
    dirty: bool = False
    closed: bool = False


@dataclass(slots=True)
class _Code:
    index: int
    info: str
    indent: int
    highlighter: CodeHighlighter
    lines: list[str] = field(default_factory=list)
    tail_text: str = ''
    tail_html: str = ''
    tail_dirty: bool = False
    closed: bool = False


class MessageRenderer:
    def __init__(self) -> None:
        self._parser = StreamParser()
        self._blocks: list[_Prose | _Code] = []
        self._ops: list[Op] = []
        self._unparsed: list[str] = []
        self.unparsed = 0  # characters queued by feed and not parsed yet
        self.finished = False

    def feed(self, chunk: str) -> None:
        """Only queues the chunk. Nothing is shown before the next ``take_ops``, and the parser's result does not
        depend on how the text is cut, so parsing what arrived since the last flush in one go gives the same
        operations as parsing it chunk by chunk, for a fraction of the cost: providers send a few characters at a
        time, and at 4-character chunks the parser's per-call overhead alone costs a quarter of a pygments pass."""
        if chunk:
            self._unparsed.append(chunk)
            self.unparsed += len(chunk)

    def _parse(self) -> None:
        if self._unparsed:
            text = ''.join(self._unparsed) if len(self._unparsed) > 1 else self._unparsed[0]
            self._unparsed.clear()
            self.unparsed = 0
            self._apply(self._parser.feed(text))

    def parse_ahead(self, limit: int) -> None:
        """Parse and highlight what is queued once it reaches ``limit`` characters, without producing operations
        yet: a provider that bursts (or one read as fast as possible) would otherwise leave the whole burst to
        the next flush, one callback that blocks the event loop for tens of milliseconds. Done in steps of
        ``limit``, the work is spread over the task steps that feed it, and the flush sends the same operations."""
        if self.unparsed >= limit:
            self._parse()

    def finish(self) -> None:
        """The answer ended (completely or not): resolve what the parser withheld and close every block."""
        if self.finished:
            return
        self._parse()
        self._apply(self._parser.flush())
        for block in self._blocks:
            if not block.closed:
                self._close(block)
        self.finished = True

    def take_ops(self) -> list[Op]:
        """Operations since the last call, with live tails rendered now (once per flush)."""
        self._parse()
        for block in self._blocks:
            if isinstance(block, _Prose) and block.dirty and not block.closed:
                self._render_prose(block)
            elif isinstance(block, _Code) and block.tail_dirty and not block.closed:
                block.tail_dirty = False
                html = _keep_cr(block.highlighter.tail(block.tail_text)) if block.tail_text else ''
                if html != block.tail_html:
                    self._ops.append(_tail_op('t', 'u', block.index, block.tail_html, html))
                    block.tail_html = html
        ops, self._ops = self._ops, []
        return ops

    def snapshot_ops(self) -> list[Op]:
        """The whole state as operations, as of the last ``take_ops`` (call it first, and publish what it returns,
        so the snapshot and the live operations after it meet exactly)."""
        ops: list[Op] = []
        for block in self._blocks:
            if isinstance(block, _Prose):
                if block.committed:
                    ops.append(['P', block.index, ''.join(block.committed)])
                if block.tail:
                    ops.append(['p', block.index, block.tail])
            else:
                ops.append(['C', block.index, block.highlighter.language, block.info])
                if block.lines:
                    ops.append(['L', block.index, 0, list(block.lines)])
                if block.tail_html:
                    ops.append(['t', block.index, block.tail_html])
            if block.closed:
                ops.append(['X', block.index])
        return ops

    # --- event handling -------------------------------------------------------------------------------------

    def _apply(self, events: list[BlockEvent]) -> None:
        for event in events:
            match event:
                case ProseExtended(index, text):
                    if index == len(self._blocks):
                        self._blocks.append(_Prose(index))
                    prose = self._blocks[index]
                    assert isinstance(prose, _Prose)
                    prose.renderer.feed(text)
                    prose.dirty = True
                case CodeOpened(index, _opening, info, indent):
                    code = _Code(index, info, indent, CodeHighlighter(info))
                    self._blocks.append(code)
                    self._ops.append(['C', index, code.highlighter.language, info])
                case CodeLine(index, line):
                    code = self._code(index)
                    self._lines(code, code.highlighter.commit(_dedent(line, code.indent)))
                    code.tail_text = ''
                    code.tail_dirty = True
                case CodeTail(index, text):
                    code = self._code(index)
                    code.tail_text = _dedent(text, code.indent)
                    code.tail_dirty = True
                case BlockClosed(index, _closing):
                    self._close(self._blocks[index])

    def _code(self, index: int) -> _Code:
        block = self._blocks[index]
        assert isinstance(block, _Code)
        return block

    def _lines(self, code: _Code, update: HighlightUpdate | None) -> None:
        if update is None:
            return
        if update.language is not None:
            self._ops.append(['g', code.index, update.language])
        lines = [_keep_cr(line) for line in update.lines]
        code.lines[update.start:update.start + len(lines)] = lines
        if lines:
            # Consecutive single-line updates to the same block merge into one operation per flush.
            last = self._ops[-1] if self._ops else None
            if (last is not None and last[0] == 'L' and last[1] == code.index
                    and last[2] + len(last[3]) == update.start):
                last[3].extend(lines)
            else:
                self._ops.append(['L', code.index, update.start, lines])

    def _render_prose(self, prose: _Prose) -> None:
        prose.dirty = False
        committed, tail = prose.renderer.render()
        if committed:
            prose.committed.extend(committed)
            self._ops.append(['P', prose.index, ''.join(committed)])
        if tail != prose.tail or committed:
            self._ops.append(_tail_op('p', 'q', prose.index, '' if committed else prose.tail, tail))
            prose.tail = tail

    def _close(self, block: _Prose | _Code) -> None:
        if block.closed:
            return
        if isinstance(block, _Prose):
            rest = block.renderer.close()
            if rest:
                block.committed.extend(rest)
                self._ops.append(['P', block.index, ''.join(rest)])
            if block.tail:
                block.tail = ''
                self._ops.append(['p', block.index, ''])
        else:
            self._lines(block, block.highlighter.close())
            block.tail_text = block.tail_html = ''
            block.tail_dirty = False
        block.closed = True
        self._ops.append(['X', block.index])


#: Below this many unchanged characters a tail is sent whole: the delta's extra number would save nothing.
MIN_KEEP = 24


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix, by bisection on slice comparisons (C speed, O(n log n))."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _tail_op(full: str, delta: str, index: int, old: str, new: str) -> Op:
    """A tail that grew from ``old`` to ``new``: only the changed end when most of it stayed (a paragraph being
    written resends nothing it already sent), else the whole of it."""
    keep = _common_prefix(old, new)
    if keep < MIN_KEEP:
        return [full, index, new]
    units = len(new[:keep].encode('utf-16-le')) // 2  # JavaScript counts UTF-16 code units
    return [delta, index, units, new[keep:]]


def apply_tail(old: str, op: Op) -> str:
    """What a tail operation makes of the tail ``old``: the browser's rule, in Python (tests, benchmark clients)."""
    if op[0] in ('q', 'u'):
        return old.encode('utf-16-le')[:2 * int(op[2])].decode('utf-16-le') + str(op[3])
    return str(op[2])


def render_static(text: str) -> list[Op]:
    """Operations for a finished answer, in one go (pages showing stored messages)."""
    renderer = MessageRenderer()
    renderer.feed(text)
    renderer.finish()
    renderer.take_ops()
    return renderer.snapshot_ops()


#: Fence words models use most; their grammars are built before the first answer needs them.
COMMON_LANGUAGES: Final = ('python', 'typescript', 'javascript', 'tsx', 'rust', 'go', 'sql', 'bash', 'json',
                           'yaml', 'html', 'css', 'java', 'c', 'cpp', 'toml', 'diff')


def warm_up(languages: Iterable[str] = COMMON_LANGUAGES) -> None:
    """Build the markdown parser and the highlighting grammars of the common languages ahead of time.

    The first block of a language otherwise pays for its grammar (tens of milliseconds, over 100 ms for the
    largest) inside a flush on the event loop, which stalls every other stream for that long. Run it on a worker
    thread at start-up: the caches it fills are plain dicts whose entries are only ever replaced by equal ones.
    """
    for language in languages:
        render_static(f'Warm-up *text* with `code`.\n\n```{language}\nx = 1  # "s"\n```\n')
        prepare_language(language)
