"""A project as one Markdown file, with the exact text of every message.

The format
    ::

        # <project title>

        <!-- Exported from Scribe ... (a comment on how to read the file) -->

        ## You

        <!-- scribe:message n=1 id=... role=user status=completed chars=42 -->
        <exactly 42 characters: the message's text as stored>

        ## Assistant (demo / scribe-demo) · interrupted

        <!-- scribe:message n=2 id=... role=assistant status=interrupted chars=1234 -->
        <exactly 1234 characters>

    A message is a level-2 heading (``You``, ``Assistant (provider / model)``, with ``· interrupted``, ``· error``
    or ``· still writing`` when the text is not a finished answer, and the error sentence as a quote below it),
    then its marker line, then its text exactly as stored, character for character: line endings (``\\r\\n``,
    ``\\r``), U+2028, emoji, trailing spaces, everything. ``chars`` is the text's length in Unicode code points, so a
    program recovers each text exactly with no escaping to undo (``parse_export`` does). The file is UTF-8.

Why the text goes in as-is rather than escaped or fenced
    An answer is Markdown, and a reader of the file should see it rendered as the app shows it, so nothing is
    escaped and nothing is wrapped in a code block. Most Markdown cannot reach past the blank line and the
    heading that follow a message; the constructs that can are an unclosed code fence and an unclosed raw-HTML
    block (``<!--``, ``<pre>``, ``<?``, ``<![CDATA[``, ...), which would swallow every message after it. So each
    text is checked with a CommonMark parser (markdown-it), and where it leaves such a construct open, a closing
    line is written after the text (outside its ``chars``), which ends it before the next heading. Should that
    ever fail to restore the structure, the message is wrapped in a tilde fence longer than any run of tildes in
    it, inside which nothing can close early; the marker's ``chars`` still delimits the exact text.

Text that cannot be encoded
    Storage already replaces NUL and lone surrogates with U+FFFD (see ``services.storage``); the export applies the
    same rule, so the file is always valid UTF-8 and the text is what the database holds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markdown_it import MarkdownIt

from services.storage import MessageRecord, clean_text

__all__ = ['ExportedMessage', 'export_filename', 'export_markdown', 'message_text', 'parse_export']

MARKER = 'scribe:message'
MEDIA_TYPE = 'text/markdown; charset=utf-8'
_MARKER_RE = re.compile(r'^<!-- scribe:message ((?:[a-z]+=[^ \r\n]* )*)-->(?:\r\n|\r|\n)', re.MULTILINE)
_ATTR_RE = re.compile(r'([a-z]+)=([^ ]*)')
_LINE_BREAK_RE = re.compile(r'\r\n?|\n')
# Only lines that open a fence or raw HTML can leave something open past a blank line; text without them needs no
# parse (user prompts, plain prose). A lone '\r' ends a line too, which re.MULTILINE's '^' does not know.
_RISKY_RE = re.compile(r'(?:^|[\r\n]) {0,3}(?:```|~~~|<)')
_SENTINEL = 'scribe-export-sentinel'
# CommonMark's raw-HTML block kinds 1-5 end only at their own terminator, not at a blank line.
_HTML_CLOSERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'<(script|pre|style|textarea)(?:\s|>|$)', re.IGNORECASE), ''),  # '' -> closing tag of group 1
    (re.compile(r'<!--'), '-->'),
    (re.compile(r'<\?'), '?>'),
    (re.compile(r'<!\[CDATA\['), ']]>'),
    (re.compile(r'<![A-Za-z]'), '>'),
)
STATUS_NOTES = {'interrupted': 'interrupted', 'error': 'error', 'streaming': 'still writing',
                'pending': 'still writing'}

# A heading's text ending in a run of '#' on its own, which CommonMark reads as the optional closing sequence.
_CLOSING_RE = re.compile(r'(?:^|[ \t])#+$')
_md = MarkdownIt('commonmark')
_md.core.ruler.disable(['inline'])  # only the block structure matters here, and inline parsing is most of the cost


@dataclass(frozen=True, slots=True)
class ExportedMessage:
    """One message as read back from an export."""

    role: str
    status: str
    text: str
    id: str = ''


def message_text(message: MessageRecord, live: Mapping[str, str] | None = None) -> str:
    """The text a message has now: the live text of an answer still being written (``live``, by message id), else
    its stored content, else its last checkpoint (an answer cut off before it finished)."""
    if live is not None and message.id in live:
        return live[message.id]
    return message.content or message.partial_content or ''


def export_filename(title: str) -> str:
    """``<slug>.md``: ASCII letters, digits and dashes, so it is a safe name on every system."""
    ascii_title = unicodedata.normalize('NFKD', title).encode('ascii', 'ignore').decode('ascii')
    slug = re.sub(r'[^a-z0-9]+', '-', ascii_title.lower()).strip('-')[:80].rstrip('-')
    return f'{slug or "project"}.md'


def export_markdown(title: str, messages: Sequence[MessageRecord], *, live: Mapping[str, str] | None = None,
                    exported_at: datetime | None = None) -> str:
    """The whole export (see the module docstring); encode it as UTF-8."""
    when = (exported_at or datetime.now(UTC)).astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')
    parts = [
        f'# {_title(title)}\n\n',
        f'<!-- Exported from Scribe on {when}: {len(messages)} messages. After each "{MARKER}" line comes the '
        "message's text exactly as stored, chars=N code points long, then a blank line. -->\n\n",
    ]
    for number, message in enumerate(messages, start=1):
        parts.extend(_message(number, message, clean_text(message_text(message, live))))
    return ''.join(parts)


def parse_export(markdown: str) -> list[ExportedMessage]:
    """The messages of an export, each text exactly as it was exported."""
    out: list[ExportedMessage] = []
    position = 0
    while (match := _MARKER_RE.search(markdown, position)) is not None:
        attrs = dict(_ATTR_RE.findall(match.group(1)))
        start = match.end()
        end = start + int(attrs.get('chars', '0'))
        if end > len(markdown):
            raise ValueError(f'message {attrs.get("n", "?")} is cut short: the file ends inside its text')
        out.append(ExportedMessage(attrs.get('role', ''), attrs.get('status', ''), markdown[start:end],
                                   attrs.get('id', '')))
        position = end  # a marker-like line inside a text is text, never a new message
    return out


def _message(number: int, message: MessageRecord, text: str) -> Iterator[str]:
    yield f'## {_heading(message)}\n\n'
    if message.role == 'assistant' and message.error:
        yield f'> {_one_line(message.error)}\n\n'
    closing, wrapper = _guard(text)
    if wrapper:
        yield f'{wrapper} text\n'
    yield (f'<!-- {MARKER} n={number} id={_token(message.id)} role={_token(message.role)} '
           f'status={_token(message.streaming_status)} chars={len(text)} -->\n')
    yield text
    if not text.endswith('\n'):
        yield '\n'  # a text ending in '\r' becomes '\r\n' here: its last line ends either way
    for line in closing:
        yield f'{line}\n'
    if wrapper:
        yield f'{wrapper}\n'
    yield '\n'


def _heading(message: MessageRecord) -> str:
    if message.role == 'user':
        return 'You'
    if message.role != 'assistant':
        return _one_line(message.role.capitalize())
    source = ' / '.join(part for part in (message.provider, message.model) if part)
    heading = f'Assistant ({_one_line(source)})' if source else 'Assistant'
    note = STATUS_NOTES.get(message.streaming_status)
    return f'{heading} · {note}' if note else heading


def _guard(text: str) -> tuple[list[str], str]:
    """(lines to write after ``text`` so the next heading is a heading, a tilde fence to wrap it in instead)."""
    if not _RISKY_RE.search(text):
        return [], ''
    closing: list[str] = []
    for _ in range(4):
        leak = _leak(text, closing)
        if leak is None:
            return closing, ''
        line = _closer(leak)
        if not line:
            break
        closing.append(line)
    longest = max((len(run) for run in re.findall('~+', text)), default=0)
    return [], '~' * max(3, longest + 1)


def _leak(text: str, closing: Sequence[str]) -> tuple[str, str] | None:
    """(kind, markup or content) of the block that swallows a heading written after ``text``, or None."""
    doc = text + ('' if text.endswith('\n') else '\n') + ''.join(f'{line}\n' for line in closing)
    tokens = _md.parse(f'{doc}\n## {_SENTINEL}\n')
    if (len(tokens) >= 3 and tokens[-3].type == 'heading_open' and tokens[-3].tag == 'h2'
            and tokens[-2].content == _SENTINEL):
        return None
    last = tokens[-1] if tokens else None
    if last is None:
        return 'unknown', ''
    if last.type == 'fence':
        return 'fence', last.markup
    if last.type == 'html_block':
        return 'html', last.content
    return last.type, ''


def _closer(leak: tuple[str, str]) -> str:
    kind, detail = leak
    if kind == 'fence':
        return detail  # the opening run: a closing fence needs as many of the same character
    if kind == 'html':
        first = detail.lstrip(' ')
        for pattern, terminator in _HTML_CLOSERS:
            match = pattern.match(first)
            if match:
                return terminator or f'</{match.group(1).lower()}>'
    return ''


def _title(title: str) -> str:
    """The title as a heading's text. A title that ends in a run of '#' on its own ('#', 'C #') would be read as
    the heading's optional closing sequence and lost: an explicit closing sequence after it keeps it."""
    text = _one_line(title)
    return f'{text} #' if _CLOSING_RE.search(text) else text


def _one_line(text: str) -> str:
    return _LINE_BREAK_RE.sub(' ', clean_text(text)).strip()


def _token(value: str | None) -> str:
    """A marker attribute: no spaces or line breaks, so the marker line always parses."""
    return re.sub(r'[\s]+', '_', value or '')
