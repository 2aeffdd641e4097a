"""Safe, incremental markdown rendering of the prose between an answer's top-level code fences.

Model output is untrusted input, so the renderer is locked down once, here, rather than trusted to each caller:
raw HTML is off (tags show as text), link protocols are allow-listed, every link opens in a new tab without an
``opener``, and images never load (an image would fetch a URL the model chose, which leaks the reader's address
and can track them), they become ordinary links labelled with their alt text.

Streaming re-renders only what can still change. ``ProseRenderer`` follows Textual's ``MarkdownStream``: a top-level
block that later text can no longer alter is rendered once and handed over as committed HTML; only the still-growing
tail is parsed again on the next flush, so a flush costs O(uncommitted text), not O(block).

Known divergence from rendering the whole source at once: a reference-style link whose definition
(``[label]: url``) arrives *after* a block that uses it has been committed stays unlinked in that block. Definitions
that arrive first work, because committed definitions are carried into every later parse.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from itertools import pairwise
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

__all__ = ['ProseRenderer', 'is_safe_url', 'render_markdown']

_ALLOWED_SCHEMES = frozenset({'http', 'https', 'mailto'})
# Browsers drop ASCII tab/newline anywhere in a URL and C0 controls/space at its ends; removing every whitespace and
# control character before looking for a scheme is stricter than any browser, which is the safe direction.
_INVISIBLE_RE = re.compile(r'[\x00-\x20\x7f-\x9f\s\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]+')
_SCHEME_RE = re.compile(r'([a-z][a-z0-9+.\-]*):')
_NEWLINES_RE = re.compile(r'\r\n?')
_LINK_ATTRS = (('rel', 'noopener noreferrer'), ('target', '_blank'))


def is_safe_url(url: str) -> bool:
    """Allow-list rather than deny-list: anything that *might* carry a scheme other than http, https or mailto is
    refused, however it is spelled (case, entities, percent-encoding, embedded tabs, full-width letters)."""
    text = url
    for _ in range(3):  # undo nested encodings such as %2526 or &amp;#x6a; a few levels deep
        decoded = html.unescape(unquote(text))
        if decoded == text:
            break
        text = decoded
    text = _INVISIBLE_RE.sub('', unicodedata.normalize('NFKC', text)).lower()
    match = _SCHEME_RE.match(text)
    if match is None:
        return True  # relative path, anchor, query or protocol-relative ``//host`` (which inherits http/https)
    return match.group(1) in _ALLOWED_SCHEMES


class _SafeMarkdownIt(MarkdownIt):
    """markdown-it consults ``validateLink`` for links, autolinks, images and reference definitions alike, so
    overriding it is the one place that covers every way a URL can enter the output."""

    def validateLink(self, url: str) -> bool:
        return is_safe_url(url)


def _link_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
    token = tokens[idx]
    for name, value in _LINK_ATTRS:
        token.attrSet(name, value)
    return self.renderToken(tokens, idx, options, env)


def _image(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
    """An image becomes a link to it (or, inside a link, just its alt text, since anchors cannot nest)."""
    token = tokens[idx]
    src = str(token.attrGet('src') or '')
    label = self.renderInlineAsText(token.children, options, env) or src
    depth = 0
    for previous in tokens[:idx]:
        if previous.type == 'link_open':
            depth += 1
        elif previous.type == 'link_close':
            depth -= 1
    if depth > 0 or not src:
        return escapeHtml(label)
    attrs = [('href', src)]
    title = token.attrGet('title')
    if title:
        attrs.append(('title', str(title)))
    attrs.extend(_LINK_ATTRS)
    attrs.append(('class', 'scribe-image-link'))
    rendered = ''.join(f' {name}="{escapeHtml(value)}"' for name, value in attrs)
    return f'<a{rendered}>{escapeHtml(label)}</a>'


def _build() -> MarkdownIt:
    md = _SafeMarkdownIt('commonmark', {'html': False, 'linkify': False, 'typographer': False})
    md.enable(['table', 'strikethrough'])
    md.add_render_rule('link_open', _link_open)
    md.add_render_rule('image', _image)
    return md


_MD = _build()


def render_markdown(source: str) -> str:
    """Render a whole prose source at once; the reference ``ProseRenderer`` output must add up to."""
    return str(_MD.render(source, {}))


def _renderer() -> RendererHTML:
    renderer = _MD.renderer
    assert isinstance(renderer, RendererHTML)
    return renderer


class ProseRenderer:
    """Incremental rendering of one growing prose block.

    A top-level block is committed once a later top-level block has started on a complete line, separated from it by
    a blank line (a setext underline, lazy continuation, table row or list continuation could otherwise still
    change it) or following a block that cannot be extended at all (ATX heading, thematic break, closed fence).
    Everything from that later block on stays uncommitted and is parsed again on each ``render``.

    At any moment the committed HTML followed by the tail equals ``render_markdown`` of the text fed so far (apart
    from the reference-definition case in the module docstring, and a trailing ``\r`` that waits for the next chunk
    to tell whether it is half of a ``\r\n``).
    """

    def __init__(self) -> None:
        self._pending = ''  # uncommitted source, newlines normalised to '\n'
        self._carry = ''  # a trailing '\r' whose meaning ('\r' or '\r\n') the next chunk decides
        self._references: dict[str, Any] = {}  # link definitions from committed source, visible to later blocks
        self._dirty = False
        self._tail_html = ''

    @property
    def pending(self) -> str:
        """The source not yet committed (for snapshots and tests)."""
        return self._pending + self._carry

    def feed(self, text: str) -> None:
        if not text:
            return
        text = self._carry + text
        self._carry = ''
        if text.endswith('\r'):
            text, self._carry = text[:-1], '\r'
        if '\r' in text:
            text = _NEWLINES_RE.sub('\n', text)
        self._pending += text
        self._dirty = True

    def render(self) -> tuple[list[str], str]:
        """Return the HTML of blocks committed since the last call, and the HTML of the live tail."""
        if not self._dirty:
            return [], self._tail_html
        self._dirty = False
        env = self._env()
        tokens = _MD.parse(self._pending, env)
        starts = _top_level_starts(tokens)
        cut = self._commit_point(tokens, starts)
        renderer = _renderer()
        committed: list[str] = []
        if cut > 0:
            for (begin, _), (end, _) in pairwise(starts[:cut + 1]):
                committed.append(renderer.render(tokens[begin:end], _MD.options, env))
            line = starts[cut][1]
            offset = _line_offset(self._pending, line)
            self._remember_references(self._pending[:offset])
            self._pending = self._pending[offset:]
            tail_tokens = tokens[starts[cut][0]:]
        else:
            tail_tokens = tokens
        self._tail_html = renderer.render(tail_tokens, _MD.options, env)
        return committed, self._tail_html

    def close(self) -> list[str]:
        """Commit everything left (the answer or the prose block ended); the renderer is then empty and reusable."""
        if self._carry:
            self._pending += '\n'
            self._carry = ''
        env = self._env()
        tokens = _MD.parse(self._pending, env)
        starts = _top_level_starts(tokens)
        renderer = _renderer()
        bounds = [index for index, _ in starts] + [len(tokens)]
        blocks = [renderer.render(tokens[begin:end], _MD.options, env) for begin, end in pairwise(bounds)]
        self._remember_references(self._pending)
        self._pending = ''
        self._dirty = False
        self._tail_html = ''
        return blocks

    def _env(self) -> dict[str, Any]:
        return {'references': dict(self._references)} if self._references else {}

    def _commit_point(self, tokens: list[Token], starts: list[tuple[int, int]]) -> int:
        """Index into ``starts`` of the first block that stays uncommitted (0: commit nothing)."""
        if len(starts) < 2:
            return 0
        lines = self._pending.split('\n')
        complete = len(lines) - 1  # lines before this index ended with a newline
        for position in range(len(starts) - 1, 0, -1):
            line = starts[position][1]
            if line >= complete:
                continue
            previous = tokens[starts[position - 1][0]]
            if (line > 0 and not lines[line - 1].strip(' \t')) or _closed_for_good(previous):
                return position
        return 0

    def _remember_references(self, committed_source: str) -> None:
        if ']:' not in committed_source:
            return
        env = self._env()
        _MD.block.parse(committed_source, _MD, env, [])
        self._references.update(env.get('references', {}))


def _top_level_starts(tokens: list[Token]) -> list[tuple[int, int]]:
    """(token index, first source line) of every top-level block."""
    return [(index, token.map[0]) for index, token in enumerate(tokens)
            if token.level == 0 and token.nesting >= 0 and token.map is not None]


def _closed_for_good(token: Token) -> bool:
    """Blocks that no following line can extend or reinterpret, even without a blank line after them."""
    if token.type == 'heading_open':
        return token.markup.startswith('#')
    return token.type in ('hr', 'fence')


def _line_offset(text: str, line: int) -> int:
    offset = 0
    for _ in range(line):
        offset = text.index('\n', offset) + 1
    return offset
