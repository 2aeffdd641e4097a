"""The block events the incremental parser emits, and the blocks they build.

An answer is a sequence of top-level blocks: prose (markdown, rendered by ``services.prose``) and fenced code
(highlighted by ``services.highlighter``). Events carry only what is new, so every consumer can stay linear in the
length of the answer. Putting the raw text of every block back together gives the answer exactly::

    prose block: the concatenation of its ProseExtended texts
    code block:  opening + the concatenation of its CodeLine lines + closing
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class ProseExtended:
    """Raw markdown appended to prose block ``index`` (which starts with its first such event). Never retracted."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class CodeOpened:
    """A fenced code block starts: ``opening`` is the whole fence line as received, line ending included (or not,
    when the answer ended on it); ``info`` the info string, stripped; ``indent`` the fence's indentation (0-3),
    which CommonMark removes from each content line when displaying it."""

    index: int
    opening: str
    info: str
    indent: int


@dataclass(frozen=True, slots=True)
class CodeLine:
    """A finished raw line of code, its line ending included (the last line of an unterminated block may lack one).
    It finishes the unfinished line: the block has no tail until the next ``CodeTail``."""

    index: int
    line: str


@dataclass(frozen=True, slots=True)
class CodeTail:
    """The unfinished last line of code block ``index`` now reads ``text`` (replaces the previous tail; '' clears it).

    A partial line that may still become the closing fence is withheld (reported as '') until it is decided."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class BlockClosed:
    """Block ``index`` is finished. For code, ``closing`` is the raw closing fence line ('' when the answer ended
    inside the block)."""

    index: int
    closing: str = ''


BlockEvent = ProseExtended | CodeOpened | CodeLine | CodeTail | BlockClosed


@dataclass(slots=True)
class Block:
    """A block as built from events; ``text`` is the prose source, or the code lines joined."""

    index: int
    kind: Literal['prose', 'code']
    text: str = ''
    opening: str = ''
    info: str = ''
    indent: int = 0
    closing: str = ''
    closed: bool = False

    @property
    def raw(self) -> str:
        return self.opening + self.text + self.closing

    @property
    def language(self) -> str:
        """The fence's language: the first word of the info string, as CommonMark defines it."""
        return self.info.split(maxsplit=1)[0] if self.info.strip() else ''


def apply_events(blocks: list[Block], events: list[BlockEvent]) -> list[Block]:
    """Fold ``events`` into ``blocks`` (in place, also returned): the reference reading of the event stream."""
    for event in events:
        match event:
            case ProseExtended(index, text):
                if index == len(blocks):
                    blocks.append(Block(index, 'prose'))
                blocks[index].text += text
            case CodeOpened(index, opening, info, indent):
                blocks.append(Block(index, 'code', opening=opening, info=info, indent=indent))
            case CodeLine(index, line):
                blocks[index].text += line
            case CodeTail():
                pass
            case BlockClosed(index, closing):
                blocks[index].closing = closing
                blocks[index].closed = True
    return blocks
