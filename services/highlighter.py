"""Incremental pygments highlighting of a fenced code block that arrives line by line.

Re-highlighting a whole block on every chunk is quadratic, and lexing each line on its own is wrong for anything
that spans lines (docstrings, block comments, heredocs). So we run pygments' ``RegexLexer`` algorithm ourselves,
one finished line at a time, carrying the state stack from line to line; only the unfinished tail line is lexed
again, from the carried state, and never committed.

Why this is exact. A ``RegexLexer`` run is a sequence of steps: at position ``p`` with state stack ``S`` it tries
the rules of ``S[-1]`` in order and takes the first match. Lexing a line while only the text up to its end is known
gives the same step as lexing the whole block *unless some attempted regex looked past the known end* (the lazy
regex of a Python docstring that has not seen its closing quotes yet, a whitespace run that stops at the end, ...).
Python's ``re`` cannot say how far it looked, so every rule's pattern is analysed once (``re._parser``) for facts
that bound how far an attempt can look:

* it can never consume a newline (then it cannot look past the next one);
* it can look at most ``peek`` characters ahead;
* every match starts with one of a known set of characters, or with a fixed head (``def``, three quotes, ``/*``)
  after a run of optional characters, or with a class run then a fixed character: an attempt where that start
  occurs nowhere within reach failed without looking further;
* it is one greedy character-class repeat (whitespace+), whose match stops at the first character outside the class;
* it is anchored at a line start (``^``) and the position is not one.

Each line is lexed in a small window (the line plus the few characters before it that look-behinds need), so a
step's regexes see exactly what they would see in the whole block, up to the known end. A step whose attempts are
all bounded inside the known text is *proven*: no later text can change it. Any other step is recorded as
*pending*, with its position, state stack and the outcome of its unproven attempts. A pending step is re-checked
(only its unproven regexes run again) as more lines arrive; if an outcome changed, the block is lexed again from
that step until the new run reaches a position and state stack that the old run also had at a step boundary (from
there on both runs are the same), and the lines in between are re-rendered and sent as a correction: a docstring
turns into one once its closing quotes arrive. ``close()`` re-checks every remaining pending step against the final
text, which is the ground truth, so the committed tokens then equal one pygments pass character for character. Only
unproven steps cost extra, and they are few.

Why it is cheaper than one pygments pass. pygments tries a state's rules one by one at every step, and most of them
are keyword lists and patterns that begin with a letter or one punctuation character: a pass over Python code
attempts about 33 regexes per token. The same pattern analysis tells which characters each rule's match can begin
with, so each state keeps, per character seen, the rules that can match there (in rule order; a rule it leaves out
fails at that character without looking past it, so the safety checks above are unaffected). A step is then a dict
lookup and about three attempts, and committing a block line by line costs about half a pygments pass, which
leaves room for the parser and for re-lexing the unfinished line once per flush.

Lexers that are not plain ``RegexLexer`` (hand-written ones such as JSON, ``ExtendedRegexLexer`` such as YAML)
are lexed line by line for the live view and corrected by one real pass at close. ``RegexLexer`` subclasses that
post-process tokens in an overridden ``get_tokens_unprocessed`` (C, C++, Lua, PHP, ...) use the incremental
engine plus their post-processing for the live view, and are also verified by one real pass at close.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import functools
import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from pygments.formatters.html import HtmlFormatter
from pygments.lexer import ExtendedRegexLexer, RegexLexer
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename, guess_lexer
from pygments.styles import get_all_styles
from pygments.token import STANDARD_TYPES, Error, Text, Whitespace, _TokenType
from pygments.util import ClassNotFound

from services.errors import ConfigError

__all__ = ['CodeHighlighter', 'HighlightUpdate', 'TokenPair', 'TokenType', 'available_styles', 'guess_language',
           'highlight_block', 'highlight_css', 'prepare_language', 'render_tokens', 'split_lines']

#: pygments.token._TokenType; pygments ships no type hints, so this is Any to the type checker.
TokenType: TypeAlias = Any
TokenPair: TypeAlias = tuple[TokenType, str]
_Match: TypeAlias = re.Match[str]
_Stack: TypeAlias = tuple[str, ...]

_sre_parse: Any = importlib.import_module('re._parser')
_sre: Any = importlib.import_module('re._constants')

_INF: Final = 1 << 40
_ROOT: Final[_Stack] = ('root',)
_LINE_RE: Final = re.compile(r'[^\r\n]*(?:\r\n?|\n)|[^\r\n]+')


def split_lines(code: str) -> list[str]:
    """Lines with their endings ('\\n', '\\r\\n' or '\\r'), as the fence parser delivers them."""
    return _LINE_RE.findall(code)


# --------------------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HighlightUpdate:
    start: int              # index of the first line whose html follows
    lines: list[str]        # html of lines start, start+1, ...: replaces those lines and appends any beyond
    language: str | None = None   # set when this update resolved the language (e.g. after a guess)


_CSS_CLASS: dict[Any, str] = {}


def _css_class(ttype: Any) -> str:
    """The short class HtmlFormatter would use, except that a type outside STANDARD_TYPES borrows its nearest
    standard ancestor's class (the style sheet only has rules for those), and Text/Whitespace stay unwrapped."""
    cls = _CSS_CLASS.get(ttype)
    if cls is None:
        if ttype in Text:
            cls = ''
        else:
            t = ttype
            while t not in STANDARD_TYPES and t.parent is not None:
                t = t.parent
            cls = str(STANDARD_TYPES.get(t, ''))
        _CSS_CLASS[ttype] = cls
    return cls


def _escape(text: str) -> str:
    # Text only ever sits between tags, never in an attribute, so quotes are harmless; & < > are not.
    if '&' in text:
        text = text.replace('&', '&amp;')
    if '<' in text:
        text = text.replace('<', '&lt;')
    if '>' in text:
        text = text.replace('>', '&gt;')
    return text


_NEEDS_ESCAPE: Final = re.compile('[&<>]').search


def render_tokens(toks: Iterable[TokenPair], escape: bool = True) -> str:
    """Compact html for the websocket: unquoted single-word classes, one span per run of the same class.
    ``escape=False`` is for callers that know the text has no & < > (most lines), which saves a pass per span."""
    parts: list[str] = []
    get = _CSS_CLASS.get
    cur: str | None = None
    run = ''
    for ttype, value in toks:
        cls = get(ttype)
        if cls is None:
            cls = _css_class(ttype)
        if cls == cur:
            run += value
            continue
        if run:
            if escape:
                run = _escape(run)
            parts.append(f'<span class={cur}>{run}</span>' if cur else run)
        cur = cls
        run = value
    if run:
        if escape:
            run = _escape(run)
        parts.append(f'<span class={cur}>{run}</span>' if cur else run)
    return ''.join(parts)


@functools.lru_cache(maxsize=32)
def highlight_css(style: str, scope: str = '.scribe-code') -> str:
    """CSS of a pygments style, every rule under ``scope``. Only the background and token rules: the line-number
    and bare ``pre`` rules that ``get_style_defs`` adds would leak into the rest of the page."""
    try:
        formatter = HtmlFormatter(style=style)
    except ClassNotFound as exc:
        raise ConfigError(f'unknown highlight style {style!r}') from exc
    lines: list[str] = [*formatter.get_background_style_defs(scope), *formatter.get_token_style_defs(scope)]
    return '\n'.join(lines)


def available_styles() -> list[str]:
    return sorted(str(name) for name in get_all_styles())


# --------------------------------------------------------------------------------------------------------------
# Language resolution
# --------------------------------------------------------------------------------------------------------------

_OPTIONS: Final = {'stripnl': False, 'ensurenl': False}
_EXTRA_ALIASES: Final = {
    'golang': 'go', 'shell': 'bash', 'shellscript': 'bash', 'plaintext': 'text', 'plain': 'text', 'txt': 'text',
    'none': 'text', 'nohighlight': 'text', 'jsonc': 'json', 'json5': 'json', 'svelte': 'html', 'objc': 'objective-c',
    'c#': 'csharp', 'f#': 'fsharp', 'ps': 'powershell', 'pwsh': 'powershell', 'h': 'c', 'hpp': 'cpp',
    'cc': 'cpp', 'cxx': 'cpp', 'mjs': 'javascript', 'cjs': 'javascript', 'mts': 'typescript', 'cts': 'typescript',
}
_LEXERS: dict[str, Any] = {}
_UNKNOWN: set[str] = set()
_MAX_UNKNOWN: Final = 512


def _clean_word(info: str) -> str:
    """The language word of an info string: '```python title="x"' -> 'python', '{.rust}' -> 'rust'."""
    words = info.strip().split()
    if not words:
        return ''
    word = words[0].strip('{}.,;').lower()
    if word.startswith('language-'):
        word = word[len('language-'):]
    return word


def _lexer_for(word: str) -> Any | None:
    """A cached lexer (they are stateless for get_tokens_unprocessed) for a fence word, trying pygments' aliases,
    a few common extra ones, then the word as a file extension."""
    if not word or word in _UNKNOWN:
        return None
    lexer = _LEXERS.get(word)
    if lexer is not None:
        return lexer
    for name in (word, _EXTRA_ALIASES.get(word)):
        if name:
            try:
                lexer = get_lexer_by_name(name, **_OPTIONS)
                break
            except ClassNotFound:
                pass
    if lexer is None and re.fullmatch(r'[\w+#-]{1,20}', word):
        with contextlib.suppress(ClassNotFound):
            lexer = get_lexer_for_filename(f'x.{word}', **_OPTIONS)
    if lexer is None:
        if len(_UNKNOWN) < _MAX_UNKNOWN:
            _UNKNOWN.add(word)
        return None
    # share one instance per lexer class, whatever word found it
    shared: Any = _LEXERS.setdefault(type(lexer).__name__, lexer)
    _LEXERS[word] = shared
    return shared


# Strong, cheap signals for the languages models write most. pygments' analyse_text alone is weak here: it calls
# any text containing 'import ' Python (so Go), and has no opinion on most TypeScript, Rust or SQL.
_SIGNALS: Final[tuple[tuple[str, re.Pattern[str], int], ...]] = (
    ('python', re.compile(r'^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+\w+[^\n]*:[ \t]*$', re.M), 3),
    ('python', re.compile(r'^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]|import[ \t]+[\w.]+(?:[ \t]+as[ \t]+\w+)?'
                          r'[ \t]*$)', re.M), 2),
    ('python', re.compile(r'^[ \t]*(?:if|elif|else|for|while|with|try|except|finally)\b[^\n;{]*:[ \t]*$', re.M), 2),
    ('python', re.compile(r'\bself\.\w|\bprint\(|\bNone\b|"""|^[ \t]*@\w', re.M), 1),
    ('go', re.compile(r'^package[ \t]+\w+[ \t]*$', re.M), 4),
    ('go', re.compile(r'^func[ \t]+(?:\([^)\n]*\)[ \t]*)?\w+\(', re.M), 3),
    ('go', re.compile(r':=|\bfmt\.\w'), 1),
    ('rust', re.compile(r'^[ \t]*(?:pub(?:\([\w:]+\))?[ \t]+)?(?:async[ \t]+)?fn[ \t]+\w+', re.M), 3),
    ('rust', re.compile(r'\blet[ \t]+mut\b|\bimpl\b|\b(?:println|vec|format)!|&mut\b|\buse[ \t]+\w+::'), 2),
    ('typescript', re.compile(r'^[ \t]*(?:export[ \t]+)?(?:interface|type|enum)[ \t]+\w+', re.M), 3),
    ('typescript', re.compile(r'\w[ \t]*:[ \t]*(?:string|number|boolean|void|any|unknown)\b'), 2),
    ('javascript', re.compile(r'^[ \t]*(?:export[ \t]+)?(?:const|let|var)[ \t]+\w+[ \t]*=|'
                              r'\bfunction\b[ \t]*\w*[ \t]*\(|=>|\bconsole\.\w+\(|\brequire\(', re.M), 2),
    ('bash', re.compile(r'^#!.*\b(?:ba|z)?sh\b', re.M), 5),
    ('bash', re.compile(r'^[ \t]*(?:\$[ \t]+)?(?:echo|export|cd|sudo|apt(?:-get)?|brew|npm|npx|pip3?|git|curl|wget|'
                        r'mkdir|chmod|ls|cat|docker|kubectl|source|rm|cp|mv)[ \t]', re.M), 2),
    ('bash', re.compile(r'^[ \t]*(?:fi|done|esac)[ \t]*$|\$\{\w+|\$\(\w', re.M), 2),
    ('sql', re.compile(r'^[ \t]*(?:SELECT[ \t]|INSERT[ \t]+INTO|UPDATE[ \t]+\w+[ \t]+SET|DELETE[ \t]+FROM|CREATE[ \t]+'
                       r'(?:TABLE|INDEX|VIEW|DATABASE)|ALTER[ \t]+TABLE|DROP[ \t]+TABLE|WITH[ \t]+\w+[ \t]+AS[ \t]*\()',
                       re.M | re.I), 4),
    ('html', re.compile(r'^[ \t]*<(?:!doctype|html|head|body|div|span|p|ul|li|table|script|style|section|main|nav)\b',
                        re.M | re.I), 3),
    ('c', re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]', re.M), 3),
    ('cpp', re.compile(r'\bstd::|\btemplate[ \t]*<|\bnamespace[ \t]+\w+|'
                       r'#include[ \t]*<(?:iostream|vector|string)>'), 3),
    ('java', re.compile(r'\bpublic[ \t]+(?:static[ \t]+)?(?:final[ \t]+)?(?:class|void|interface)\b|System\.out\.'), 3),
    ('json', re.compile(r'\A\s*[\[{]\s*(?:"[^"\n]*"\s*:|[\[{"\d-])'), 4),
    ('yaml', re.compile(r'^[\w-]+:(?:[ \t]+[^\n{};]+)?[ \t]*$', re.M), 1),
)
_FAMILY: Final = {'typescript': 'javascript', 'cpp': 'c'}
_GUESS_LINES: Final = 10
_GUESS_THRESHOLD: Final = 0.5


def guess_language(text: str) -> str | None:
    """A language word for unlabelled code, or None when unsure (then it is shown as plain text)."""
    scores: dict[str, int] = {}
    for lang, pattern, weight in _SIGNALS:
        hits = len(pattern.findall(text, 0, 4000))
        if hits:
            scores[lang] = scores.get(lang, 0) + weight * min(hits, 3)
    for child, parent in _FAMILY.items():
        if child in scores and parent in scores:
            scores[child] += scores.pop(parent)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if ranked and ranked[0][1] >= 3 and (len(ranked) == 1 or ranked[0][1] >= 1.5 * ranked[1][1]):
        return ranked[0][0]
    try:
        lexer = guess_lexer(text)
    except ClassNotFound:
        return None
    score = float(type(lexer).analyse_text(text))
    aliases = getattr(lexer, 'aliases', None)
    if score >= _GUESS_THRESHOLD and aliases and aliases[0] != 'text':
        return str(aliases[0])
    return None


# --------------------------------------------------------------------------------------------------------------
# Pattern analysis
# --------------------------------------------------------------------------------------------------------------

_ANCHOR_NONE: Final = 0
_ANCHOR_LINE: Final = 1
_ANCHOR_STRING: Final = 2

_ATOMS: Final = (_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN)
_REPEATS: Final = (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT)
_GREEDY: Final = (_sre.MAX_REPEAT, _sre.POSSESSIVE_REPEAT)
_NL_CATEGORIES: Final = {_sre.CATEGORY_SPACE, _sre.CATEGORY_NOT_DIGIT, _sre.CATEGORY_NOT_WORD,
                         _sre.CATEGORY_LINEBREAK}
_SAFE_CATEGORIES: Final = {_sre.CATEGORY_NOT_SPACE, _sre.CATEGORY_DIGIT, _sre.CATEGORY_WORD,
                           _sre.CATEGORY_NOT_LINEBREAK}
_CATEGORY_SRC: Final = {_sre.CATEGORY_DIGIT: r'\d', _sre.CATEGORY_NOT_DIGIT: r'\D', _sre.CATEGORY_SPACE: r'\s',
                        _sre.CATEGORY_NOT_SPACE: r'\S', _sre.CATEGORY_WORD: r'\w', _sre.CATEGORY_NOT_WORD: r'\W'}
_ASCII: Final = tuple(chr(i) for i in range(128))
_ASCII_SET: Final = frozenset(_ASCII)
_MAX_DISPATCH: Final = 2048     # characters whose candidate rules a state keeps (any ASCII one, then the first others)


class _Unsupported(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Info:
    """What one rule's pattern can look at, relative to the attempt position (see the module docstring)."""

    nlfree: bool            # can never consume (or look ahead at) a '\n'
    peek: int               # looks at most this many characters ahead (_INF: unbounded)
    anchor: int
    simple_run: bool        # the whole pattern is one greedy unbounded repeat of a character class
    prefix: Callable[[str, int], _Match | None] | None    # possessive run of the optional leading characters
    refute: Callable[[str, int], _Match | None] | None     # matches iff the first mandatory character occurs
    #                                                         nowhere within reach (so the attempt fails in reach)
    head: Callable[[str, int, int], _Match | None] | None   # .search for the mandatory fixed head
    headlen: int
    first_ascii: frozenset[str] | None   # ASCII characters that can be consumed first (None: any)

    @property
    def quick(self) -> bool:
        return self.nlfree or self.peek < _INF


_CONSERVATIVE: Final = _Info(False, _INF, _ANCHOR_NONE, False, None, None, None, 0, None)


def _in_has_nl(items: Any) -> bool:
    negate = False
    hit = False
    for op, av in items:
        if op is _sre.NEGATE:
            negate = True
        elif op is _sre.LITERAL:
            hit = hit or av == 10
        elif op is _sre.RANGE:
            hit = hit or av[0] <= 10 <= av[1]
        elif op is _sre.CATEGORY:
            if av in _NL_CATEGORIES:
                hit = True
            elif av not in _SAFE_CATEGORIES:
                return True
        else:
            return True
    return hit != negate


def _atom_has_nl(op: Any, av: Any, flags: int) -> bool:
    if op is _sre.LITERAL:
        return bool(av == 10)
    if op is _sre.NOT_LITERAL:
        return bool(av != 10)
    if op is _sre.ANY:
        return bool(flags & re.DOTALL)
    return _in_has_nl(av)


def _measure(items: Any, flags: int) -> tuple[int, int, bool, int]:
    """(max width, max peek, can touch '\\n', max lookbehind width) of a parsed sequence, conservatively."""
    w = p = lb = 0
    nl = False
    for op, av in items:
        if op in _ATOMS:
            p = max(p, w + 1)
            w += 1
            nl = nl or _atom_has_nl(op, av, flags)
        elif op is _sre.AT:
            if av in (_sre.AT_BEGINNING, _sre.AT_BEGINNING_STRING):
                lb = max(lb, 1)
            elif av is _sre.AT_END and not flags & re.MULTILINE:
                p = max(p, w + 2)          # '$' without MULTILINE also matches before a final '\n'
                nl = True
            else:
                p = max(p, w + 1)
                lb = max(lb, 1)
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            direction, sub = av
            bw, bp, bnl, blb = _measure(sub, flags)
            if direction == 1:
                p = max(p, w + bp)
                nl = nl or bnl
                lb = max(lb, blb - w)
            else:
                p = max(p, w + 1)
                lb = max(lb, bw + blb + 1 - w)
        elif op is _sre.SUBPATTERN:
            _group, add, remove, sub = av
            bw, bp, bnl, blb = _measure(sub, (flags | add) & ~remove)
            p, w, nl, lb = max(p, w + bp), w + bw, nl or bnl, max(lb, blb - w)
        elif op is _sre.ATOMIC_GROUP:
            bw, bp, bnl, blb = _measure(av, flags)
            p, w, nl, lb = max(p, w + bp), w + bw, nl or bnl, max(lb, blb - w)
        elif op is _sre.BRANCH:
            results = [_measure(alt, flags) for alt in av[1]]
            p = max(p, w + max(r[1] for r in results))
            lb = max(lb, max(r[3] for r in results) - w)
            w += max(r[0] for r in results)
            nl = nl or any(r[2] for r in results)
        elif op in _REPEATS:
            _lo, hi, sub = av
            bw, bp, bnl, blb = _measure(sub, flags)
            lb = max(lb, blb - w)
            nl = nl or bnl
            if hi == _sre.MAXREPEAT and (bw or bp):
                w = p = _INF
            else:
                reps = 1 if hi == _sre.MAXREPEAT else int(hi)
                p = max(p, w + reps * max(bw, bp))
                w += reps * bw
        elif op is _sre.GROUPREF_EXISTS:
            _group, yes, no = av
            ry = _measure(yes, flags)
            rn = _measure(no, flags) if no is not None else (0, 0, False, 0)
            p = max(p, w + ry[1], w + rn[1])
            lb = max(lb, ry[3] - w, rn[3] - w)
            w += max(ry[0], rn[0])
            nl = nl or ry[2] or rn[2]
        else:   # GROUPREF and anything new: assume the worst
            return _INF, _INF, True, lb
        w, p = min(w, _INF), min(p, _INF)
    return w, p, nl, max(lb, 0)


def _flatten(items: Any) -> list[tuple[Any, Any]]:
    """Inline plain groups, so '(\\s*)(\"\"\")' reads as a sequence of atoms; stop at scoped flags."""
    out: list[tuple[Any, Any]] = []
    for op, av in items:
        if op is _sre.SUBPATTERN and not av[1] and not av[2]:
            out.extend(_flatten(av[3]))
        else:
            out.append((op, av))
    return out


def _char(code: int) -> str:
    return f'\\U{code:08x}'


def _atom_src(op: Any, av: Any, flags: int) -> str:
    if op is _sre.LITERAL:
        return f'[{_char(av)}]'
    if op is _sre.NOT_LITERAL:
        return f'[^{_char(av)}]'
    if op is _sre.ANY:
        return r'[\s\S]' if flags & re.DOTALL else r'[^\n]'
    parts: list[str] = []
    for iop, iav in av:
        if iop is _sre.NEGATE:
            parts.insert(0, '^')
        elif iop is _sre.LITERAL:
            parts.append(_char(iav))
        elif iop is _sre.RANGE:
            parts.append(f'{_char(iav[0])}-{_char(iav[1])}')
        elif iop is _sre.CATEGORY and iav in _CATEGORY_SRC:
            parts.append(_CATEGORY_SRC[iav])
        else:
            raise _Unsupported
    return f'[{"".join(parts)}]'


def _single(items: Any, flags: int) -> str | None:
    """Source of a one-character matcher equivalent to ``items``, or None if it is not one."""
    flat = _flatten(items)
    if len(flat) != 1:
        return None
    op, av = flat[0]
    if op in _ATOMS:
        return _atom_src(op, av, flags)
    if op is _sre.BRANCH:
        alts = [_single(alt, flags) for alt in av[1]]
        if all(alts):
            return '(?:' + '|'.join(a for a in alts if a) + ')'
    return None


class _HeadFacts:
    """Optional leading characters, then a fixed head of single characters. Zero-width items only restrict what
    can match, so they are skipped: an attempt where the head occurs nowhere in reach fails, looking no further."""

    __slots__ = ('first_ascii', 'head', 'headlen', 'prefix', 'refute')

    def __init__(self, flat: list[tuple[Any, Any]], flags: int) -> None:
        self.prefix: Callable[[str, int], _Match | None] | None = None
        self.refute: Callable[[str, int], _Match | None] | None = None
        self.head: Callable[[str, int, int], _Match | None] | None = None
        self.headlen = 0
        self.first_ascii: frozenset[str] | None = None
        cflags = flags & (re.IGNORECASE | re.ASCII | re.UNICODE)
        try:
            firsts, nullable = _first_set(flat, flags)
        except _Unsupported:
            firsts, nullable = None, True
        if firsts is not None and not nullable:
            # every match starts with one of these characters; elsewhere the attempt fails at once
            starts = '(?:' + '|'.join(firsts) + ')'
            self.refute = re.compile(f'(?!{starts})[\\s\\S]', cflags).match
            starter = re.compile(starts, cflags).match
            self.first_ascii = frozenset(c for c in _ASCII if starter(c))
        try:
            prefix_srcs, head_srcs = self._sources(flat, flags)
        except _Unsupported:
            return
        if not head_srcs:
            return
        first = head_srcs[0]
        if prefix_srcs:
            run = '(?:' + '|'.join(prefix_srcs) + ')'
            self.prefix = re.compile(run + '*+', cflags).match
            # a possessive run of leading characters that are not the head's first, then one more character that
            # is not it either: so the run ended (before the end of the text) and the head starts nowhere in it
            refute = f'(?:(?!{first}){run})*+(?!{first})[\\s\\S]'
        else:
            refute = f'(?!{first})[\\s\\S]'
        try:
            then = self._run_then(flat, flags)
        except _Unsupported:
            then = None
        if then is not None:
            # 'C+' then a mandatory H: a run of C that contains no H and is followed by neither C nor H
            c, h = then
            refute = f'(?:{refute}|{c}(?:(?!{h}){c})*+(?!{h})[\\s\\S])'
        self.refute = re.compile(refute, cflags).match
        if len(head_srcs) > 1:
            self.head = re.compile(''.join(head_srcs), cflags).search
        self.headlen = len(head_srcs)
        if self.first_ascii is None:
            starter = re.compile('|'.join([*prefix_srcs, head_srcs[0]]), cflags).match
            self.first_ascii = frozenset(c for c in _ASCII if starter(c))

    @staticmethod
    def _run_then(flat: list[tuple[Any, Any]], flags: int) -> tuple[str, str] | None:
        """(C, H) when the pattern starts with a repeat of one character class C (at least once) followed by a
        mandatory character H, as in '(\\s+)(as)'."""
        items = [item for item in flat if item[0] not in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT)]
        if len(items) < 2 or items[0][0] not in _REPEATS or items[0][1][0] < 1:
            return None
        c = _single(items[0][1][2], flags)
        h = _first_src(items[1:2], flags)
        return (c, h) if c is not None and h is not None else None

    @staticmethod
    def _sources(flat: list[tuple[Any, Any]], flags: int) -> tuple[list[str], list[str]]:
        prefix_srcs: list[str] = []
        head_srcs: list[str] = []
        zero_width = (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT)
        i = 0
        while i < len(flat):
            op, av = flat[i]
            if op in zero_width:
                i += 1
                continue
            if op in _REPEATS and av[0] == 0:
                src = _single(av[2], flags)
                if src is None:
                    break
                prefix_srcs.append(src)
                i += 1
                continue
            break
        while i < len(flat):
            op, av = flat[i]
            if op in zero_width:
                i += 1
                continue
            if op in _ATOMS:
                head_srcs.append(_atom_src(op, av, flags))
                i += 1
                continue
            src = _first_src([(op, av)], flags)
            if src is not None:
                head_srcs.append(src)
            break
        return prefix_srcs, head_srcs


def _first_set(items: Any, flags: int) -> tuple[list[str] | None, bool]:
    """One-character matchers for every character a match of ``items`` can start with (None if unknown), and
    whether a match can be empty."""
    srcs: list[str] = []
    for op, av in items:
        if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
            continue
        if op in _ATOMS:
            return [*srcs, _atom_src(op, av, flags)], False
        if op is _sre.SUBPATTERN and not av[1] and not av[2]:
            sub, nullable = _first_set(av[3], flags)
        elif op is _sre.ATOMIC_GROUP:
            sub, nullable = _first_set(av, flags)
        elif op is _sre.BRANCH:
            results = [_first_set(alt, flags) for alt in av[1]]
            if any(r[0] is None for r in results):
                return None, True
            sub = [src for r in results for src in r[0] or ()]
            nullable = any(r[1] for r in results)
        elif op in _REPEATS:
            sub, nullable = _first_set(av[2], flags)
            nullable = nullable or av[0] == 0
        else:
            return None, True
        if sub is None:
            return None, True
        srcs.extend(sub)
        if not nullable:
            return srcs, False
    return srcs, True


def _first_src(items: Any, flags: int) -> str | None:
    """Source of a one-character matcher for the first character any match of ``items`` consumes, or None if a
    match can be empty or its start is not a plain character."""
    for op, av in items:
        if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
            continue
        if op in _ATOMS:
            return _atom_src(op, av, flags)
        if op is _sre.SUBPATTERN and not av[1] and not av[2]:
            return _first_src(av[3], flags)
        if op is _sre.ATOMIC_GROUP:
            return _first_src(av, flags)
        if op in _REPEATS and av[0] >= 1:
            return _first_src(av[2], flags)
        if op is _sre.BRANCH:
            alts = [_first_src(alt, flags) for alt in av[1]]
            srcs = [alt for alt in alts if alt is not None]
            return '(?:' + '|'.join(srcs) + ')' if len(srcs) == len(alts) else None
        return None
    return None


def _analyse(pattern: re.Pattern[str]) -> tuple[_Info, int]:
    """The rule facts of a pattern and how far it can look behind its start (for the window context)."""
    parsed = _sre_parse.parse(pattern.pattern, pattern.flags)
    flags = int(parsed.state.flags)
    _width, peek, nl, lookbehind = _measure(parsed, flags)
    flat = _flatten(parsed)
    anchor = _ANCHOR_NONE
    if flat and flat[0][0] is _sre.AT:
        if flat[0][1] is _sre.AT_BEGINNING_STRING or (flat[0][1] is _sre.AT_BEGINNING and not flags & re.MULTILINE):
            anchor = _ANCHOR_STRING
        elif flat[0][1] is _sre.AT_BEGINNING:
            anchor = _ANCHOR_LINE
    simple_run = (len(flat) == 1 and flat[0][0] in _GREEDY and flat[0][1][1] == _sre.MAXREPEAT
                  and _single(flat[0][1][2], flags) is not None)
    if not nl:      # safe wherever a newline follows; the rest only matters for the other rules
        return _Info(True, peek, anchor, simple_run, None, None, None, 0, None), lookbehind
    h = _HeadFacts(flat, flags)
    info = _Info(nlfree=False, peek=peek, anchor=anchor, simple_run=simple_run, prefix=h.prefix, refute=h.refute,
                 head=h.head, headlen=h.headlen, first_ascii=h.first_ascii)
    return info, lookbehind


# Most pygments patterns are plain (keyword lists run to kilobytes): if the source has nothing that could match or
# look at a newline, it needs no parsing. Variants by flag: '.' is harmless without DOTALL, '$' with MULTILINE.
_PLAIN_PARTS: Final = (r'[^\\\[(.$\x00-\x1f]', r'\\[bBwdSAZ()\[\]{}|*+?^$\\/\-#&~@!%=<>,:;\'" .]', r'\[(?!\^)',
                       r'\((?!\?)', r'\(\?[:=!]')
_PLAIN: Final = {
    (dotall, multiline): re.compile('(?:' + '|'.join([*_PLAIN_PARTS, *([] if dotall else [r'\.']),
                                                       *([r'\$'] if multiline else [])]) + ')*')
    for dotall in (False, True) for multiline in (False, True)
}
_PLAIN_INFO: Final = _Info(True, _INF, _ANCHOR_NONE, False, None, None, None, 0, None)


def _is_plain(pattern: re.Pattern[str]) -> bool:
    source = pattern.pattern
    flags = pattern.flags
    if flags & re.VERBOSE:
        return False
    return _PLAIN[bool(flags & re.DOTALL), bool(flags & re.MULTILINE)].fullmatch(source) is not None


_PATTERN_INFO: dict[re.Pattern[str], tuple[_Info, int]] = {}


def _pattern_info(pattern: re.Pattern[str]) -> tuple[_Info, int]:
    found = _PATTERN_INFO.get(pattern)
    if found is None:
        try:
            found = (_PLAIN_INFO, 0) if _is_plain(pattern) else _analyse(pattern)
        except (_Unsupported, re.error, TypeError, ValueError, IndexError, RecursionError):
            found = (_CONSERVATIVE, 64)
        _PATTERN_INFO[pattern] = found
    return found


_STARTERS: dict[re.Pattern[str], Callable[[str], _Match | None] | None] = {}


def _starter(rexmatch: Any) -> Callable[[str], _Match | None] | None:
    """A matcher for the characters a rule's match can begin with, or None when any character may begin one (or
    the match may be empty, or the pattern is beyond the analysis). A rule whose starter rejects the character at
    the position fails there, so the engine does not try it: most of a grammar's rules are keyword lists and other
    patterns that begin with a letter, or with one punctuation character, and trying each of them at every step is
    most of what one pygments pass costs."""
    pattern = getattr(rexmatch, '__self__', None)
    if not isinstance(pattern, re.Pattern):
        return None
    if pattern in _STARTERS:
        return _STARTERS[pattern]
    found: Callable[[str], _Match | None] | None = None
    try:
        parsed = _sre_parse.parse(pattern.pattern, pattern.flags)
        flags = int(parsed.state.flags)
        firsts, nullable = _first_set(_flatten(parsed), flags)
        if firsts is not None and not nullable:
            # one character class for the plain ones compiles far faster than an alternation of hundreds (the first
            # letters of a keyword list), which matters once per grammar, before the first line shows
            plain = [src[1:-1] for src in dict.fromkeys(firsts) if not src.startswith('[^')]
            alternatives = [src for src in dict.fromkeys(firsts) if src.startswith('[^')]
            if plain:
                alternatives.append('[' + ''.join(plain) + ']')
            cflags = flags & (re.IGNORECASE | re.ASCII | re.UNICODE)
            found = re.compile('|'.join(alternatives), cflags).match
    except (_Unsupported, re.error, TypeError, ValueError, IndexError, RecursionError):
        found = None
    _STARTERS[pattern] = found
    return found


def _fail_safe(info: _Info, text: str, p: int, n: int, lastnl: int) -> bool:
    """Whether a failed attempt at ``p`` fails for every continuation of ``text`` (which is known up to ``n``)."""
    if (info.nlfree and p <= lastnl) or p + info.peek <= n:
        return True
    if info.anchor == _ANCHOR_LINE:
        if p > 0 and text[p - 1] != '\n':
            return True
    elif info.anchor == _ANCHOR_STRING and p > 0:
        return True
    if info.refute is not None and info.refute(text, p) is not None:
        return True
    if info.head is not None:
        run = info.prefix(text, p) if info.prefix is not None else None
        r = run.end() if run is not None else p
        if r + info.headlen <= n and info.head(text, p, r + info.headlen) is None:
            return True
    return False


def _win_safe(info: _Info, p: int, n: int, lastnl: int, m: _Match) -> bool:
    """Whether a successful attempt at ``p`` matches the same for every continuation of the known text."""
    return (info.nlfree and p <= lastnl) or p + info.peek <= n or (info.simple_run and m.end() < n)


# --------------------------------------------------------------------------------------------------------------
# Grammar: a RegexLexer's processed states, each rule annotated with its facts
# --------------------------------------------------------------------------------------------------------------

_Rule: TypeAlias = tuple[Callable[[str, int], _Match | None], Any, Any, int, _Info, bool]


def _may_start(info: _Info, c: str) -> bool:
    return info.first_ascii is None or c in info.first_ascii


class _State:
    """A lexer state's rules plus lookup tables that keep the per-step safety check to a dict lookup: for each
    ASCII character, which rules' attempts there cannot be refuted by their first character (mid-line, and at a
    line start where ``^`` rules also count)."""

    __slots__ = ('always', 'cand_bol', 'cand_mid', 'dispatch', 'first_hard', 'gate_bol', 'gate_mid', 'maxpeek',
                 'nonquick', 'peek_at', 'rules', 'starters')

    def __init__(self, rules: tuple[_Rule, ...]) -> None:
        self.rules = rules
        # The rules worth trying at a character, in order (filled on first sight of the character): the engine's
        # step is then a dict lookup plus the attempts that can succeed, instead of an attempt per rule.
        self.starters = tuple(_starter(r[0]) for r in rules)
        self.always = tuple(r for r, start in zip(rules, self.starters, strict=True) if start is None)
        self.dispatch: dict[str, tuple[_Rule, ...]] = {}
        hard = [r[3] for r in rules if r[5]]
        self.first_hard = hard[0] if hard else len(rules)
        self.maxpeek = max([r[4].peek for r in rules if not r[4].nlfree and r[4].peek < _INF], default=0)
        self.nonquick = tuple(r[3] for r in rules if not r[4].nlfree)
        self.cand_mid: dict[str, tuple[int, ...]] = {}
        self.cand_bol: dict[str, tuple[int, ...]] = {}
        self.gate_mid: dict[str, int] = {}     # first hard rule that needs a closer look, by character
        self.gate_bol: dict[str, int] = {}
        self.peek_at: dict[str, int] = {}      # how far the bounded rules that may start with a character peek
        for c in _ASCII:
            self.peek_at[c] = max([rules[i][4].peek for i in self.nonquick
                                   if rules[i][4].peek < _INF and _may_start(rules[i][4], c)], default=0)
            for bol, cand, gate in ((False, self.cand_mid, self.gate_mid), (True, self.cand_bol, self.gate_bol)):
                kept = tuple(i for i in self.nonquick if _may_start(rules[i][4], c) and (bol or not rules[i][4].anchor))
                cand[c] = kept
                gate[c] = min([i for i in kept if rules[i][5]], default=_INF)

    def candidates(self, c: str) -> tuple[_Rule, ...]:
        """The rules that may match at character ``c``, in rule order (a rule skipped here cannot match there)."""
        found = tuple(r for r, start in zip(self.rules, self.starters, strict=True) if start is None or start(c))
        if len(self.dispatch) < _MAX_DISPATCH or c in _ASCII_SET:
            self.dispatch[c] = found
        return found


class _States(dict[str, _State]):
    """A grammar's states, annotated on first use: a block touches few of them, and big lexers have many."""

    def __init__(self, lexer: Any) -> None:
        super().__init__()
        self._lexer = lexer

    def __missing__(self, name: str) -> _State:
        annotated: list[_Rule] = []
        for idx, (rexmatch, action, new_state) in enumerate(self._lexer._tokens[name]):
            info = _rule_info(rexmatch)[0]
            annotated.append((rexmatch, action, new_state, idx, info, not info.quick))
        state = self[name] = _State(tuple(annotated))
        return state


def _rule_info(rexmatch: Any) -> tuple[_Info, int]:
    pattern = getattr(rexmatch, '__self__', None)
    return _pattern_info(pattern) if isinstance(pattern, re.Pattern) else (_CONSERVATIVE, 64)


class _Grammar:
    __slots__ = ('context', 'lexer', 'states')

    def __init__(self, lexer: Any) -> None:
        self.lexer = lexer
        self.states = _States(lexer)
        # how much text before a line its patterns may look at; only look-behinds need a parse to tell
        context = 2
        for rules in lexer._tokens.values():
            for rexmatch, _action, _new_state in rules:
                pattern = getattr(rexmatch, '__self__', None)
                if not isinstance(pattern, re.Pattern) or '(?<' in pattern.pattern:
                    context = max(context, _rule_info(rexmatch)[1] + 2)
        self.context = context


_GRAMMARS: dict[type, _Grammar] = {}


def _grammar_for(lexer: Any) -> _Grammar:
    grammar = _GRAMMARS.get(type(lexer))
    if grammar is None:
        grammar = _GRAMMARS[type(lexer)] = _Grammar(lexer)
    return grammar


def prepare_language(word: str) -> None:
    """Annotate every state of a language's grammar and fill its dispatch for every ASCII character now, rather
    than on first use. A block touches states as its code enters them, and each costs a millisecond or more
    the first time: the first real block of a language stalled the event loop for 10-25 ms even after a
    warm-up snippet had built the grammar. Meant for a worker thread at start-up (see ``rendering.warm_up``)."""
    lexer = _lexer_for(_clean_word(word))
    if lexer is None or _mode_of(lexer) not in ('regex', 'post'):
        return
    grammar = _grammar_for(lexer)
    for name in list(lexer._tokens):
        state = grammar.states[name]
        for c in _ASCII:
            if c not in state.dispatch:
                state.candidates(c)


def _mode_of(lexer: Any) -> str:
    """'regex': our engine is the lexer; 'post': our engine plus the lexer's token post-processing, verified at
    close; 'opaque': lexed line by line for the live view, verified at close; 'text': nothing to lex."""
    cls = type(lexer)
    if getattr(lexer, 'name', '') == 'Text only' or not isinstance(lexer, RegexLexer):
        return 'text' if cls.__name__ == 'TextLexer' else 'opaque'
    if isinstance(lexer, ExtendedRegexLexer):
        return 'opaque'
    if cls.get_tokens_unprocessed is RegexLexer.get_tokens_unprocessed:
        return 'regex'
    return 'post'


def _transition(stack: _Stack, new_state: Any) -> _Stack:
    """RegexLexer's state change rules, on an immutable stack (so it can be shared by step records)."""
    if type(new_state) is tuple:
        if len(new_state) == 1 and new_state[0] not in ('#pop', '#push'):
            return (*stack, new_state[0])
        items = list(stack)
        for name in new_state:
            if name == '#pop':
                if len(items) > 1:
                    items.pop()
            elif name == '#push':
                items.append(items[-1])
            else:
                items.append(name)
        return tuple(items)
    if type(new_state) is int:
        return stack[:1] if abs(new_state) >= len(stack) else stack[:new_state]
    if new_state == '#push':
        return (*stack, stack[-1])
    raise ValueError(f'wrong state def: {new_state!r}')


def _tile(items: Iterable[Any], text: str, start: int, end: int, out: list[TokenPair]) -> None:
    """Append a callback's tokens so that they cover text[start:end] exactly: gaps become Text, overlaps and
    overshoot are cut, and values are taken from the text itself (the html must give back the raw code)."""
    cur = start
    for item in items:
        if not item:
            continue
        index, ttype, value = item
        if not value:
            continue
        stop = min(index + len(value), end)
        index = max(index, cur)
        if stop <= index:
            continue
        if index > cur:
            out.append((Text, text[cur:index]))
        out.append((ttype, text[index:stop]))
        cur = stop
    if cur < end:
        out.append((Text, text[cur:end]))


def _reference_tokens(lexer: Any, code: str) -> list[TokenPair]:
    """One real pygments pass, tiled like ours (what close() compares against in the non-incremental modes)."""
    out: list[TokenPair] = []
    _tile(lexer.get_tokens_unprocessed(code), code, 0, len(code), out)
    return out


def _split_tokens(toks: Iterable[TokenPair], lengths: Iterable[int]) -> Iterator[list[TokenPair]]:
    """Cut a token stream into consecutive pieces of the given lengths (line by line)."""
    it = iter(toks)
    carry: TokenPair | None = None
    for length in lengths:
        piece: list[TokenPair] = []
        need = length
        while need > 0:
            if carry is not None:
                tok, carry = carry, None
            else:
                tok = next(it)
            ttype, value = tok
            if len(value) <= need:
                piece.append(tok)
                need -= len(value)
            else:
                piece.append((ttype, value[:need]))
                carry = (ttype, value[need:])
                need = 0
        yield piece


def _cut(toks: list[TokenPair], offset: int) -> tuple[list[TokenPair], list[TokenPair]]:
    """Split a line's tokens at a character offset."""
    pos = 0
    for i, (ttype, value) in enumerate(toks):
        if pos == offset:
            return toks[:i], toks[i:]
        end = pos + len(value)
        if end > offset:
            k = offset - pos
            return [*toks[:i], (ttype, value[:k])], [(ttype, value[k:]), *toks[i + 1:]]
        pos = end
    return toks, []


# --------------------------------------------------------------------------------------------------------------
# The highlighter
# --------------------------------------------------------------------------------------------------------------

class _Line:
    __slots__ = ('bounds', 'entry', 'html', 'start', 'text', 'toks')

    def __init__(self, start: int, text: str) -> None:
        self.start = start
        self.text = text
        self.toks: list[TokenPair] = []
        self.html = ''
        # The committed run's step boundaries in this line (absolute position -> the state stack the run moves on
        # from there), which only a correction ever needs: so they are not kept, but lexed again on demand from
        # the state the line was committed with; a line a correction touched keeps its own.
        self.entry: _Stack | None = None
        self.bounds: dict[int, _Stack] | None = None


class _Pending:
    """A step whose outcome might change once more text is known."""

    __slots__ = ('alive', 'due', 'pos', 'regs', 'rule', 'stack', 'unsafe', 'win_unsafe')

    def __init__(self, pos: int, stack: _Stack, rule: int, regs: tuple[tuple[int, int], ...] | None,
                 unsafe: tuple[int, ...], win_unsafe: bool, due: int) -> None:
        self.pos = pos
        self.stack = stack
        self.rule = rule            # index of the matching rule, -1 if none matched
        self.regs = regs            # its match's group spans, relative to pos
        self.unsafe = unsafe        # earlier rules whose failure is not proven
        self.win_unsafe = win_unsafe
        self.due = due              # re-check early once the block is this long; -1: only at close
        self.alive = True


def _pos_of(rec: _Pending) -> int:
    return rec.pos


_SAME_PROVEN: Final = 0
_SAME_PENDING: Final = 1
_DIFFERENT: Final = 2
_NEAR_EVERY_COMMIT: Final = 512      # re-check a near pending step on every commit while it spans less than this
_NEAR_LIMIT: Final = 8192            # ... and then each time it grew by half, up to this span; beyond, at close
_NEAR_BUDGET: Final = 16384          # early re-checks may scan this much plus the block's length


def _rel_regs(m: _Match, p: int) -> tuple[tuple[int, int], ...]:
    return tuple((s - p, e - p) if s >= 0 else (-1, -1) for s, e in m.regs)


class CodeHighlighter:
    """Highlights one fenced code block incrementally; see the module docstring for the algorithm."""

    def __init__(self, info: str) -> None:
        self._lines: list[_Line] = []
        self._starts: list[int] = []
        self._length = 0
        self._closed = False
        self._pending: list[_Pending] = []     # every unproven step, in run order
        self._near: list[_Pending] = []        # those worth re-checking before close, by position
        self._near_due = _INF                   # the earliest length at which one of them is due
        # the last tail: (committed length, end stack, its text, its tokens, its step boundaries, its html)
        self._tail_cache: tuple[int, _Stack, str, list[TokenPair], dict[int, _Stack], str] | None = None
        self._context = 2
        self._near_spent = 0                   # characters early re-checks have scanned (throttled)
        self._lexer: Any = None
        self._grammar: _Grammar | None = None
        self._mode = 'text'
        self._post: Any = None
        self._end_stack: _Stack = _ROOT
        self._recent = ''
        word = _clean_word(info)
        lexer = _lexer_for(word)
        self.resolved = lexer is not None
        self.language = word if lexer is not None else 'text'
        if lexer is not None:
            self._use(lexer)

    # ---- public API -------------------------------------------------------------------------------------------

    def commit(self, line: str) -> HighlightUpdate:
        """A finished line (with its ending). Usually returns just its html; earlier lines come along when the
        new text changed how they lex, or when it let the language be guessed."""
        index = len(self._lines)
        if not self.resolved:
            self._append_plain(line)
            if index + 1 >= _GUESS_LINES:
                return self._resolve_guess()
            return HighlightUpdate(index, [self._lines[index].html])
        first = self._append(line)
        if first == index:
            return HighlightUpdate(index, [self._lines[index].html])
        return HighlightUpdate(first, [ln.html for ln in self._lines[first:]])

    def tail(self, text: str) -> str:
        """html of the unfinished last line, lexed from the committed state; nothing is committed."""
        if not text:
            return ''
        if not self.resolved or self._mode == 'text':
            return _escape(text)
        if self._mode == 'opaque':
            toks: list[TokenPair] = []
            _tile(self._lexer.get_tokens_unprocessed(text), text, 0, len(text), toks)
            return render_tokens(toks)
        recent = self._recent
        window = recent + text
        base = self._length - len(recent)
        p = len(recent)
        stack = self._end_stack
        toks = []
        bounds: dict[int, _Stack] = {self._length: stack}
        cached = self._tail_cache
        if cached is not None and cached[0] == self._length and cached[1] is stack:
            _length, _stack, old_text, old_toks, old_bounds, old_html = cached
            if text == old_text:
                return old_html
            if text.startswith(old_text) and len(old_bounds) >= 3:
                # The same line grew: keep its steps except the last two, which may have been cut short by the old
                # end. (The tail is only shown, never committed, so this heuristic cannot make a line wrong for
                # good.) The cached run is taken over in place, so a long line costs no copy per flush.
                old_bounds.popitem()
                old_bounds.popitem()
                resume = next(reversed(old_bounds))
                # a step boundary is a token boundary: drop the tokens after it, walking back from the end
                pos = self._length + len(old_text)
                j = len(old_toks)
                while pos > resume:
                    j -= 1
                    pos -= len(old_toks[j][1])
                if pos == resume:
                    del old_toks[j:]
                    toks, bounds, stack, p = old_toks, old_bounds, old_bounds[resume], resume - base
        self._run(window, p, stack, base, -1, False, toks, bounds, [], False)
        html = render_tokens(self._post_map(toks), _NEEDS_ESCAPE(text) is not None)
        self._tail_cache = (self._length, self._end_stack, text, toks, bounds, html)
        return html

    def close(self) -> HighlightUpdate | None:
        """The block is complete: settle the language if it was still being guessed, and make every line exact."""
        if self._closed:
            return None
        self._closed = True
        self._tail_cache = None
        if not self.resolved:
            update = self._resolve_guess()
        elif self._mode == 'text' or not self._lines:
            update = None
        else:
            before = [ln.html for ln in self._lines]
            if self._mode == 'regex':
                self._verify_pending()
            else:
                self._reference_pass()
            update = self._diff(before, 0)
        for line in self._lines:     # step boundaries only serve corrections, and there will be none
            line.bounds = line.entry = None
        return update

    def tokens(self) -> list[TokenPair]:
        """The committed tokens so far, split at line ends."""
        return [tok for line in self._lines for tok in line.toks]

    @property
    def lines(self) -> list[str]:
        """html of every committed line (what the updates so far add up to)."""
        return [line.html for line in self._lines]

    @property
    def lexer_name(self) -> str:
        return str(getattr(self._lexer, 'name', 'Text only'))

    # ---- language -----------------------------------------------------------------------------------------------

    def _use(self, lexer: Any) -> None:
        self._lexer = lexer
        self._mode = _mode_of(lexer)
        if self._mode in ('regex', 'post'):
            self._grammar = _grammar_for(lexer)
            self._context = self._grammar.context

    def _append_plain(self, line: str) -> None:
        entry = _Line(self._length, line)
        entry.toks = [(Text, line)]
        entry.html = _escape(line)
        self._lines.append(entry)
        self._starts.append(self._length)
        self._length += len(line)

    def _resolve_guess(self) -> HighlightUpdate:
        """Guess once from what we have; on success lex all lines so far and send them again."""
        self.resolved = True
        raw = [ln.text for ln in self._lines]
        word = guess_language(''.join(raw)) if raw else None
        lexer = _lexer_for(word) if word else None
        if lexer is None:
            self.language = 'text'
            last = max(len(raw) - 1, 0)
            return HighlightUpdate(last, [ln.html for ln in self._lines[last:]], language='text')
        self.language = str(word)
        self._use(lexer)
        self._lines, self._starts, self._length = [], [], 0
        for text in raw:
            self._append(text)
        if self._closed:
            if self._mode == 'regex':
                self._verify_pending()
            elif self._mode != 'text':
                self._reference_pass()
        return HighlightUpdate(0, [ln.html for ln in self._lines], language=self.language)

    # ---- committing -------------------------------------------------------------------------------------------

    def _append(self, text: str) -> int:
        """Commit one line; returns the index of the first line whose html changed."""
        index = len(self._lines)
        start = self._length
        end = start + len(text)
        line = _Line(start, text)
        self._lines.append(line)
        self._starts.append(start)
        mode = self._mode
        if mode == 'regex' or mode == 'post':
            recent = self._recent
            window = recent + text
            line.entry = self._end_stack
            fresh: list[_Pending] = []
            _, self._end_stack, _ = self._run(window, len(recent), self._end_stack, start - len(recent),
                                              window.rfind('\n'), True, line.toks, None, fresh, False)
            self._recent = window[-self._context:]
            self._length = end
            if fresh:
                self._add_pending(fresh)
            line.html = render_tokens(line.toks if mode == 'regex' else self._post_map(line.toks),
                                      _NEEDS_ESCAPE(text) is not None)
            if self._near_due <= end:
                return min(index, self._near_checks())
            return index
        if mode == 'text':
            line.toks = [(Text, text)]
        else:
            _tile(self._lexer.get_tokens_unprocessed(text), text, 0, len(text), line.toks)
        self._length = end
        line.html = render_tokens(line.toks)
        return index

    def _add_pending(self, fresh: list[_Pending]) -> None:
        """New unproven steps from committing a line: the near ones are re-checked at the next commit."""
        due = self._length + 1
        for rec in fresh:
            if rec.due > 0:
                rec.due = due
                self._near.append(rec)
                self._near_due = min(self._near_due, due)
            else:
                rec.due = -1
        self._pending.extend(fresh)

    def _post_map(self, toks: list[TokenPair]) -> list[TokenPair]:
        """In 'post' mode, run the lexer's own token post-processing over our tokens for the live view: a copy of
        the lexer whose only rule replays them is handed to its overridden get_tokens_unprocessed."""
        if self._mode != 'post' or not toks:
            return toks
        if self._post is None:
            proxy = copy.copy(self._lexer)
            feed: list[list[TokenPair]] = [[]]

            def replay(_lexer: Any, m: _Match) -> Iterator[tuple[int, Any, str]]:
                pos = m.start()
                for ttype, value in feed[0]:
                    yield pos, ttype, value
                    pos += len(value)

            rule = [(re.compile(r'[\s\S]+').match, replay, None)]
            proxy._tokens = {name: rule for name in self._lexer._tokens}
            self._post = (proxy, feed)
        proxy, feed = self._post
        text = ''.join(v for _, v in toks)
        feed[0] = toks
        try:
            out: list[TokenPair] = []
            _tile(type(self._lexer).get_tokens_unprocessed(proxy, text), text, 0, len(text), out)
            return out
        except Exception:   # a post-processor we cannot replay: show the unprocessed tokens
            return toks
        finally:
            feed[0] = []

    # ---- the engine -------------------------------------------------------------------------------------------

    def _run(self, text: str, p: int, stack: _Stack, base: int, lastnl: int, check: bool, toks: list[TokenPair],
             bounds: dict[int, _Stack] | None, pend: list[_Pending], converge: bool) -> tuple[int, _Stack, bool]:
        """RegexLexer's loop over text[p:], text known up to its end. ``base`` maps text positions to block
        positions. With ``check``, steps that might change with more text are appended to ``pend``. With
        ``converge``, stops at the first step boundary where the committed run had the same state."""
        grammar = self._grammar
        assert grammar is not None
        states = grammar.states
        lexer = grammar.lexer
        n = len(text)
        st = states[stack[-1]]
        dispatch = st.dispatch
        first_hard = st.first_hard
        gate_mid = st.gate_mid
        gate_bol = st.gate_bol
        limit = min(lastnl, n - st.maxpeek)
        append = toks.append
        token_type = _TokenType
        rule: _Rule | None
        m: _Match | None
        while p < n:
            cands = dispatch.get(text[p])
            if cands is None:
                cands = st.candidates(text[p])
            for rule in cands:
                m = rule[0](text, p)
                if m is not None:
                    break
            else:
                rule = m = None
            if check and (rule is None or rule[5] or rule[3] >= (
                    gate_mid if p and text[p - 1] != '\n' else gate_bol).get(text[p], first_hard) or (
                    p > limit and (p > lastnl or p + st.peek_at.get(text[p], st.maxpeek) > n))):
                rec = self._classify(st, rule, m, text, p, lastnl, stack, base)
                if rec is not None:
                    pend.append(rec)
            if rule is not None and m is not None:
                end = m.end()
                action = rule[1]
                if type(action) is token_type:
                    if end > p:
                        append((action, m.group()))
                elif action is not None:
                    _tile(action(lexer, m), text, p, end, toks)
                elif end > p:
                    append((Text, text[p:end]))
                p = end
                if rule[2] is not None:
                    stack = _transition(stack, rule[2])
                    st = states[stack[-1]]
                    dispatch = st.dispatch
                    first_hard = st.first_hard
                    gate_mid = st.gate_mid
                    gate_bol = st.gate_bol
                    limit = min(lastnl, n - st.maxpeek)
            else:
                if text[p] == '\n':
                    stack = _ROOT
                    st = states['root']
                    dispatch = st.dispatch
                    first_hard = st.first_hard
                    gate_mid = st.gate_mid
                    gate_bol = st.gate_bol
                    limit = min(lastnl, n - st.maxpeek)
                    append((Whitespace, '\n'))
                else:
                    append((Error, text[p]))
                p += 1
            if bounds is not None:
                bounds[base + p] = stack
            if converge and self._old_state(base + p) == stack:
                return p, stack, True
        return p, stack, False

    def _classify(self, st: _State, rule: _Rule | None, m: _Match | None, text: str, p: int, lastnl: int,
                  stack: _Stack, base: int) -> _Pending | None:
        """The precise check for one step: which attempts are not proven independent of text not yet known."""
        n = len(text)
        rules = st.rules
        k = rule[3] if rule is not None else len(rules)
        c = text[p]
        mid = p > 0 and text[p - 1] != '\n'
        candidates: Iterable[int] = (
            (st.cand_mid if mid else st.cand_bol).get(c, st.nonquick) if p <= lastnl else range(k))
        unsafe: list[int] = []
        for i in candidates:
            if i >= k:
                break
            info = rules[i][4]
            if p + info.peek <= n or (info.nlfree and p <= lastnl) or (info.anchor and mid):
                continue
            if not _fail_safe(info, text, p, n, lastnl):
                unsafe.append(i)
        win_unsafe = rule is not None and m is not None and not _win_safe(rule[4], p, n, lastnl, m)
        if not unsafe and not win_unsafe:
            return None
        near = bool(unsafe) or (m is not None and win_unsafe and m.end() >= n)
        regs = _rel_regs(m, p) if m is not None else None
        return _Pending(base + p, stack, k if rule is not None else -1, regs, tuple(unsafe), win_unsafe,
                        1 if near else -1)

    def _recheck(self, rec: _Pending, text: str, base: int, lastnl: int, final: bool) -> int:
        """Run a pending step's unproven attempts again on longer text: same outcome (now proven or not), or
        different."""
        assert self._grammar is not None
        rules = self._grammar.states[rec.stack[-1]].rules
        p = rec.pos - base
        n = len(text)
        still: list[int] = []
        for i in rec.unsafe:
            if rules[i][0](text, p) is not None:
                return _DIFFERENT
            if not final and not _fail_safe(rules[i][4], text, p, n, lastnl):
                still.append(i)
        win_unsafe = False
        reaches_end = False
        if rec.win_unsafe:
            m = rules[rec.rule][0](text, p)
            if m is None or _rel_regs(m, p) != rec.regs:
                return _DIFFERENT
            win_unsafe = not final and not _win_safe(rules[rec.rule][4], p, n, lastnl, m)
            reaches_end = m.end() >= n
        if final or (not still and not win_unsafe):
            return _SAME_PROVEN
        rec.unsafe = tuple(still)
        rec.win_unsafe = win_unsafe
        if not still and not reaches_end:
            rec.due = -1
        return _SAME_PENDING

    # ---- corrections ------------------------------------------------------------------------------------------

    def _line_of(self, pos: int) -> int:
        return bisect.bisect_right(self._starts, pos) - 1

    def _old_state(self, pos: int) -> _Stack | None:
        """The committed run's state at a step boundary (None if it has none there)."""
        if pos >= self._length:
            return self._end_stack if pos == self._length else None
        return self._bounds_of(self._line_of(pos)).get(pos)

    def _bounds_of(self, index: int) -> dict[int, _Stack]:
        """A line's step boundaries, lexing it again from its committed state if they were not kept."""
        line = self._lines[index]
        if line.bounds is None:
            assert line.entry is not None and self._grammar is not None
            ctx = self._context_before(index)
            window = ctx + line.text
            bounds = {line.start: line.entry}
            self._run(window, len(ctx), line.entry, line.start - len(ctx), -1, False, [], bounds, [], False)
            bounds.pop(line.start + len(line.text), None)
            line.bounds = bounds
        return line.bounds

    def _context_before(self, index: int) -> str:
        """The characters before line ``index`` that a look-behind can reach (what ``_recent`` was then)."""
        before: list[str] = []
        size = 0
        j = index - 1
        while j >= 0 and size < self._context:
            before.append(self._lines[j].text)
            size += len(self._lines[j].text)
            j -= 1
        return ''.join(reversed(before))[-self._context:]

    def _window(self, first_line: int) -> tuple[str, int]:
        """Text from line ``first_line`` to the end, with the context before it."""
        ctx = self._context_before(first_line)
        body = ''.join(line.text for line in self._lines[first_line:])
        return ctx + body, self._lines[first_line].start - len(ctx)

    def _near_checks(self) -> int:
        """Re-check pending steps that are due; returns the first line index whose html changed (or past end)."""
        first_changed = len(self._lines)
        if not self._near:
            return first_changed
        length = self._length
        text = ''
        base = lastnl = 0
        window_line = -1
        keep: list[_Pending] = []
        for rec in self._near:
            if not rec.alive or rec.due < 0:
                continue
            if rec.due > length:
                keep.append(rec)
                continue
            if length - rec.pos > _NEAR_LIMIT:
                rec.due = -1
                continue
            if window_line < 0:
                if self._near_spent > _NEAR_BUDGET + length:
                    keep.append(rec)        # over budget: wait until the block has grown
                    continue
                window_line = self._line_of(rec.pos)
                text, base = self._window(window_line)
                lastnl = text.rfind('\n')
                self._near_spent += len(text)
            outcome = self._recheck(rec, text, base, lastnl, False)
            if outcome == _SAME_PROVEN:
                self._drop(rec)
            elif outcome == _SAME_PENDING:
                if rec.due > 0:
                    span = length - rec.pos
                    rec.due = length + 1 if span < _NEAR_EVERY_COMMIT else rec.pos + span + span // 2
                    keep.append(rec)
            else:
                fresh: list[_Pending] = []
                first_changed = min(first_changed, self._relex(rec, text, base, lastnl, False, fresh))
                for new in fresh:
                    if new.due > 0:
                        new.due = length + 1
                        keep.append(new)
        keep.sort(key=_pos_of)
        self._near = keep
        self._near_due = min([rec.due for rec in keep], default=_INF)
        return first_changed

    def _index_of(self, rec: _Pending) -> int:
        pend = self._pending
        i = bisect.bisect_left(pend, rec.pos, key=_pos_of)
        while pend[i] is not rec:
            i += 1
        return i

    def _drop(self, rec: _Pending) -> None:
        del self._pending[self._index_of(rec)]
        rec.alive = False

    def _verify_pending(self) -> None:
        """At close: every pending step against the final text; re-lex where one differs."""
        pend = self._pending
        if pend:
            text = ''.join(line.text for line in self._lines)
            lastnl = text.rfind('\n')
            i = 0
            while i < len(pend):
                rec = pend[i]
                if self._recheck(rec, text, 0, lastnl, True) == _DIFFERENT:
                    self._relex(rec, text, 0, lastnl, True, [])   # replaces pend[i:...] by nothing
                else:
                    i += 1
        for rec in pend:
            rec.alive = False
        pend.clear()
        self._near = []
        self._near_due = _INF

    def _relex(self, rec: _Pending, text: str, base: int, lastnl: int, final: bool, fresh: list[_Pending]) -> int:
        """Lex again from pending step ``rec`` until the run meets the committed one, and splice the result in;
        returns the first line whose html changed."""
        start = rec.pos
        toks: list[TokenPair] = []
        bounds: dict[int, _Stack] = {start: rec.stack}
        p, stack, converged = self._run(text, start - base, rec.stack, base, lastnl, not final, toks, bounds,
                                        fresh, True)
        stop = base + p
        if not converged:
            self._end_stack = stack
        # drop the pending steps the new run replaced: from rec (steps before it at the same position stay) up
        # to the meeting point (where only the steps from the meeting state on stay)
        pend = self._pending
        index = j = self._index_of(rec)
        if converged:
            while j < len(pend) and (pend[j].pos < stop or (pend[j].pos == stop and pend[j].stack != stack)):
                j += 1
        else:
            j = len(pend)
        for old in pend[index:j]:
            old.alive = False
        pend[index:j] = fresh
        return self._splice(start, stop, toks, bounds)

    def _splice(self, start: int, stop: int, toks: list[TokenPair], bounds: dict[int, _Stack]) -> int:
        lines = self._lines
        first = self._line_of(start)
        last = self._line_of(stop) if stop < self._length else len(lines) - 1
        head, _ = _cut(lines[first].toks, start - lines[first].start)
        _, tail = _cut(lines[last].toks, stop - lines[last].start)
        stream = [*head, *toks, *tail]
        affected = lines[first:last + 1]
        changed = len(lines)
        for j, (line, piece) in enumerate(zip(affected, _split_tokens(stream, [len(ln.text) for ln in affected]),
                                              strict=True), first):
            end = line.start + len(line.text)
            # the old run's boundaries survive only before start and from stop on, so only the first and the last
            # line need theirs
            kept = ({q: s for q, s in self._bounds_of(j).items() if q <= start or q >= stop}
                    if j in (first, last) else {})
            kept.update((q, s) for q, s in bounds.items() if line.start <= q < end)
            line.bounds = kept
            if piece != line.toks:
                line.toks = piece
                html = render_tokens(self._post_map(piece))
                if html != line.html:
                    line.html = html
                    changed = min(changed, j)
        return changed

    def _reference_pass(self) -> None:
        """Non-incremental modes at close: one real pygments pass over the block replaces every line's tokens."""
        text = ''.join(line.text for line in self._lines)
        toks = _reference_tokens(self._lexer, text)
        for line, piece in zip(self._lines, _split_tokens(toks, [len(ln.text) for ln in self._lines]),
                               strict=True):
            if piece != line.toks:
                line.toks = piece
                line.html = render_tokens(piece)
        for rec in self._pending:
            rec.alive = False
        self._pending.clear()
        self._near = []
        self._near_due = _INF

    def _diff(self, before: list[str], offset: int) -> HighlightUpdate | None:
        now = [ln.html for ln in self._lines]
        changed = [j for j in range(offset, len(now)) if j >= len(before) or now[j] != before[j]]
        if not changed:
            return None
        return HighlightUpdate(changed[0], now[changed[0]:changed[-1] + 1])


def highlight_block(code: str, info: str) -> list[str]:
    """html lines of a whole block, through the same incremental path a stream takes."""
    highlighter = CodeHighlighter(info)
    lines: list[str] = []
    for raw in split_lines(code):
        _apply(lines, highlighter.commit(raw))
    update = highlighter.close()
    if update is not None:
        _apply(lines, update)
    return lines


def _apply(lines: list[str], update: HighlightUpdate) -> None:
    lines[update.start:update.start + len(update.lines)] = update.lines
