"""The incremental parser: turns the chunks of a streamed answer into block events as soon as they are decided.

Like httpx's decoders it is a pure object (``feed`` then ``flush``), knows nothing of NiceGUI or the network, and
costs O(len(chunk)) per chunk: only the current unfinished line is kept, and each character is examined once.

It splits an answer into top-level prose and fenced code the way CommonMark does, but only as far as fences go;
everything else (lists, quotes, indented code) is left to the markdown renderer inside the prose blocks. The one
thing it must never do is show text and then take it back, so a partial line is withheld only while it could
still turn out to be a fence line, and released the moment it can no longer be one.
"""

from __future__ import annotations

import re

from services.blocks import (
    Block,
    BlockClosed,
    BlockEvent,
    CodeLine,
    CodeOpened,
    CodeTail,
    ProseExtended,
    apply_events,
)

__all__ = ['StreamParser', 'parse']

# CommonMark's line endings, and only those: str.splitlines() would also split at U+2028, \x0c, \x85 and others,
# which are ordinary characters inside a markdown line. A lone '\r' is never last in the scanned text (see feed).
_LINE_END = re.compile(r'\r\n?|\n')


class _FenceScan:
    """What the start of the current line says about it being a fence line, updated as the line grows.

    Knowing whether a line *could still* become a fence is what lets the parser withhold as little as possible, and
    tracking it incrementally keeps a pathological long line (a run of a thousand backticks, a long tilde info
    string) linear instead of rescanned on every chunk.
    """

    __slots__ = ('after', 'after_tick', 'after_ws', 'char', 'dead', 'indent', 'run')

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.indent = 0  # leading spaces seen
        self.char = ''  # the fence character, once one follows the indentation
        self.run = 0  # length of the run of ``char``
        self.after = False  # some other character followed the run
        self.after_ws = True  # ... and everything after the run is spaces or tabs
        self.after_tick = False  # ... and a backtick occurs after the run
        self.dead = False  # the line can be neither an opening nor a closing fence

    def feed(self, seg: str) -> None:
        """Advance over ``seg``, more text of the line without any line ending."""
        if self.dead or not seg:
            return
        i = 0
        if not self.after:
            n = len(seg)
            while i < n:
                c = seg[i]
                if not self.char:
                    if c == ' ':
                        if self.indent == 3:  # four spaces: indented code or paragraph text, never a fence
                            self.dead = True
                            return
                        self.indent += 1
                    elif c == '`' or c == '~':
                        self.char = c
                        self.run = 1
                    else:
                        self.dead = True
                        return
                elif c == self.char:
                    self.run += 1
                elif self.run < 3:
                    self.dead = True
                    return
                else:
                    self.after = True
                    break
                i += 1
            else:
                return
        rest = seg[i:] if i else seg
        if self.after_ws and rest.strip(' \t'):
            self.after_ws = False
        if not self.after_tick and '`' in rest:
            self.after_tick = True

    def may_open(self) -> bool:
        """The line so far is a prefix of some opening fence line (a backtick fence's info has no backtick)."""
        return not self.dead and not (self.after_tick and self.char == '`')

    def opens(self) -> bool:
        """The line, if it ended here, is an opening fence."""
        return self.may_open() and self.run >= 3

    def may_close(self, char: str, length: int) -> bool:
        """The line so far is a prefix of a line closing a fence of ``length`` ``char``s."""
        if self.dead or (self.char and self.char != char):
            return False
        return not self.after or (self.run >= length and self.after_ws)

    def closes(self, char: str, length: int) -> bool:
        """The line, if it ended here, closes a fence of ``length`` ``char``s."""
        return not self.dead and self.char == char and self.run >= length and self.after_ws


class StreamParser:
    """Feed it the chunks of one answer as they arrive, then flush once; each call returns the events it decided.

    Events only ever add: prose text is appended and never retracted, code lines are committed once, and only the
    unfinished last line of code is reported with replacement semantics (``CodeTail``). Block indices run 0, 1, 2...
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._index = 0  # index of the current block (for prose: the index it gets with its first text)
        self._in_code = False
        self._prose_started = False  # the current prose block has had text (so it exists, and must be closed)
        self._prose: list[str] = []  # prose decided during this call, sent as one ProseExtended
        self._parts: list[str] = []  # the buffered part of the current unfinished line
        self._released = False  # prose: the current line can no longer be a fence and passes straight through
        self._candidate = True  # code: the current line may still be the closing fence (its tail is withheld)
        self._scan = _FenceScan()
        self._fence_char = ''
        self._fence_len = 0
        self._tail = ''  # the tail last reported for the open code block
        self._cr = False  # the data so far ended with '\r': a '\n' may follow and belong to the same line ending
        self._out: list[BlockEvent] = []

    def feed(self, chunk: str) -> list[BlockEvent]:
        """Take the next chunk of the answer; return the events it made certain."""
        if self._cr:
            chunk = '\r' + chunk
            self._cr = False
        if chunk.endswith('\r'):
            # '\r' then '\n' is one line ending: hold the '\r' back so a line never ends twice.
            chunk = chunk[:-1]
            self._cr = True
        self._scan_text(chunk)
        if self._in_code:
            self._sync_tail()
        else:
            self._emit_prose()
        return self._take()

    def flush(self) -> list[BlockEvent]:
        """The answer is complete: decide whatever was withheld and close the last block.

        The parser is then reset, ready for another answer.
        """
        if self._cr:
            self._cr = False
            self._scan_text('\r')
        line = ''.join(self._parts)
        if self._in_code:
            closing = ''
            if line:
                if self._candidate and self._scan.closes(self._fence_char, self._fence_len):
                    closing = line
                else:
                    self._line(line)
            self._close_code(closing)
        else:
            if line and not self._released and self._scan.opens():
                # The answer ended on an opening fence line (say '```python'): an empty, unterminated block.
                self._open_code(line)
                self._close_code('')
            else:
                if line:
                    self._prose.append(line)
                self._emit_prose()
                if self._prose_started:
                    self._out.append(BlockClosed(self._index))
        events = self._take()
        self._reset()
        return events

    def _take(self) -> list[BlockEvent]:
        events = self._out
        self._out = []
        return events

    def _scan_text(self, text: str) -> None:
        pos = 0
        for m in _LINE_END.finditer(text):
            self._segment(text[pos : m.start()], m.group())
            pos = m.end()
        if pos < len(text):
            self._segment(text[pos:] if pos else text, '')

    def _segment(self, seg: str, ending: str) -> None:
        """Take ``seg``, more of the current line, and the line's ``ending`` if it has arrived ('' if not)."""
        if self._in_code:
            self._code_segment(seg, ending)
        elif self._released:
            self._prose.append(seg)
            if ending:
                self._prose.append(ending)
                self._new_line()
        else:
            self._parts.append(seg)
            self._scan.feed(seg)
            if not self._scan.may_open():
                self._prose.extend(self._parts)
                self._parts.clear()
                self._released = True
                if ending:
                    self._prose.append(ending)
                    self._new_line()
            elif ending:
                line = ''.join(self._parts)
                if self._scan.opens():
                    self._open_code(line + ending)
                else:
                    self._prose.append(line + ending)
                self._new_line()

    def _code_segment(self, seg: str, ending: str) -> None:
        if seg:
            self._parts.append(seg)
            if self._candidate:
                self._scan.feed(seg)
                self._candidate = self._scan.may_close(self._fence_char, self._fence_len)
        if ending:
            line = ''.join(self._parts)
            if self._candidate and self._scan.closes(self._fence_char, self._fence_len):
                self._close_code(line + ending)
            else:
                self._line(line + ending)
            self._new_line()

    def _line(self, line: str) -> None:
        self._out.append(CodeLine(self._index, line))
        self._tail = ''  # a finished line leaves no tail: the next one is reported even if it reads the same

    def _new_line(self) -> None:
        self._parts.clear()
        self._released = False
        self._candidate = True
        self._scan.reset()

    def _open_code(self, opening: str) -> None:
        self._emit_prose()
        if self._prose_started:
            self._out.append(BlockClosed(self._index))
            self._index += 1
            self._prose_started = False
        scan = self._scan
        self._fence_char = scan.char
        self._fence_len = scan.run
        info = opening[scan.indent + scan.run :].strip(' \t\r\n')
        self._out.append(CodeOpened(self._index, opening, info, scan.indent))
        self._in_code = True
        self._tail = ''

    def _close_code(self, closing: str) -> None:
        if self._tail:
            self._out.append(CodeTail(self._index, ''))
            self._tail = ''
        self._out.append(BlockClosed(self._index, closing))
        self._index += 1
        self._in_code = False

    def _sync_tail(self) -> None:
        """Report the unfinished line once per call, if it changed: consumers re-render it, so fewer is cheaper."""
        if self._candidate or not self._parts:
            tail = ''
        else:
            if len(self._parts) > 1:
                self._parts[:] = [''.join(self._parts)]
            tail = self._parts[0]
        if tail != self._tail:
            self._out.append(CodeTail(self._index, tail))
            self._tail = tail

    def _emit_prose(self) -> None:
        if self._prose:
            text = ''.join(self._prose)
            self._prose.clear()
            if text:
                self._out.append(ProseExtended(self._index, text))
                self._prose_started = True


def parse(text: str) -> list[Block]:
    """Parse a whole answer: the reference the streamed result must equal, whatever the chunking."""
    parser = StreamParser()
    events = parser.feed(text)
    events += parser.flush()
    return apply_events([], events)
