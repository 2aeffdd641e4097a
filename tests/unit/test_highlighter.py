"""The incremental highlighter must end up exactly where one pygments pass over the whole block ends up, whatever
the order of commits and tails, and its html must be inert and give back the raw code."""

from __future__ import annotations

import html
import itertools
import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygments.lexers import get_lexer_by_name
from pygments.token import Text, Token

from services.errors import ConfigError
from services.highlighter import (
    CodeHighlighter,
    HighlightUpdate,
    _grammar_for,
    _starter,
    available_styles,
    highlight_block,
    highlight_css,
    render_tokens,
    split_lines,
)

SAMPLES = {
    'python': '''#!/usr/bin/env python3
"""Module docstring.

Spans lines.
"""
import os
from typing import Any


@decorator(arg=1)
@other
class Foo(Base):
    \'\'\'Class docstring\'\'\'

    def method(self, x: int = 3) -> str:
        """Method docstring,
        on two lines."""
        s = """not a docstring
        but a multi-line string"""
        t = f"value {x!r:>10} {self.y}"  # comment
        return s + t

    async def other(self):
        await thing()
        match x:
            case 1: pass
''',
    'typescript': '''/* A multi-line
 * block comment */
import { foo } from "./foo";
// line comment
interface User {
  id: number;
  name: string; /* inline */
}
const greet = (u: User): string => `Hello, ${u.name}!
a template string on ${u.id + 1} lines`;
export function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / 2; // divide
}
let re = /ab+c/gi;
/* unterminated? no:
   still comment */ const z = 1;
''',
    'rust': '''//! crate doc
/// doc comment
/* block
   comment /* nested */ still */
use std::collections::HashMap;
#[derive(Debug, Clone)]
pub struct Point<'a> { x: i32, y: &'a str }
fn main() {
    let mut m: HashMap<String, i32> = HashMap::new();
    let s = "multi
line string";
    let r = r#"raw "string""#;
    println!("{} {}", s, r);
}
''',
    'sql': '''-- comment
/* block
comment */
SELECT a.id, b.name AS "Name", 'it''s'
FROM users a JOIN orders b ON a.id = b.user_id
WHERE a.created_at > '2020-01-01'
  AND b.total >= 10.5; -- trailing
CREATE TABLE t (
  id SERIAL PRIMARY KEY,
  note TEXT DEFAULT 'multi
line'
);
''',
    'bash': '''#!/bin/bash
# comment
set -euo pipefail
NAME="world"
cat <<EOF
Hello $NAME
  heredoc line ${NAME:-x}
EOF
for f in *.txt; do
  echo "file: $f" | tr 'a-z' 'A-Z'
done
x=$(( 1 + 2 ))
echo 'single
quoted'
''',
}

FRAGMENTS = [
    '"', "'", '"""', "'''", '`', '${', '/*', '*/', '//', '#', '--', '\n', '\n', '\n', '\r\n', '\r', ' ', '    ',
    '\t', '\\', '{', '}', '(', ')', '[', ']', ';', ':', ',', '.', '=', '=>', '<', '>', '/', '*', '$', '@',
    'def ', 'class ', 'import ', 'fn ', 'let ', 'const ', 'function ', 'return ', 'SELECT ', 'FROM ', 'if ', 'then',
    'fi', 'done', 'case ', 'r"', 'f"', 'x', 'foo', '42', '3.14', 'self', 'None', 'async ', 'interface ', 'pub ',
    "'a", 'echo ', 'cat <<EOF\n', 'EOF', '<<-', '👩\u200d💻', 'é', '\u2028', '<script>', 'alert(1)', '&amp;', '&',
]
LANGUAGES = ['python', 'typescript', 'rust', 'sql', 'bash']
TAG = re.compile(r'<[^>]*>')
SPAN = re.compile(r'<span class=[a-z0-9]+>|</span>')


# ---- helpers ------------------------------------------------------------------------------------------------------

def reference_types(language: str, code: str) -> list[Any]:
    """Token type of every character after one pygments pass. Characters a callback leaves without a token count as
    Text, and overlaps go to the first token: the same convention the highlighter uses to tile its output."""
    lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    types: list[Any] = [None] * len(code)
    for index, ttype, value in lexer.get_tokens_unprocessed(code):
        for i in range(index, min(index + len(value), len(code))):
            if types[i] is None:
                types[i] = ttype
    return [Text if t is None else t for t in types]


def types_of(tokens: list[tuple[Any, str]]) -> list[Any]:
    return [ttype for ttype, value in tokens for _ in value]


def apply(lines: list[str], update: HighlightUpdate | None) -> None:
    if update is not None:
        lines[update.start:update.start + len(update.lines)] = update.lines


def stream(code: str, info: str, rng: random.Random | None = None) -> tuple[CodeHighlighter, list[str]]:
    """What the page does: commit line by line, with tails of random prefixes in between, then close."""
    highlighter = CodeHighlighter(info)
    shown: list[str] = []
    for line in split_lines(code):
        if rng is not None:
            for _ in range(rng.randint(0, 3)):
                partial = line[:rng.randint(0, len(line))]
                assert unescaped(highlighter.tail(partial)) == partial
        apply(shown, highlighter.commit(line))
    apply(shown, highlighter.close())
    return highlighter, shown


def unescaped(fragment: str) -> str:
    return html.unescape(TAG.sub('', fragment))


def assert_exact(code: str, language: str, info: str | None = None, rng: random.Random | None = None) -> None:
    highlighter, shown = stream(code, language if info is None else info, rng)
    assert types_of(highlighter.tokens()) == reference_types(language, code)
    raw = split_lines(code)
    assert len(shown) == len(raw)
    for fragment, line in zip(shown, raw, strict=True):
        assert unescaped(fragment) == line
        assert SPAN.sub('', fragment).count('<') == 0          # nothing but our spans
        assert fragment.count('<span') == fragment.count('</span>')   # spans never cross a line


# ---- exactness ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('language', LANGUAGES)
@pytest.mark.parametrize('ending', ['\n', '\r\n', '\r'])
def test_samples_equal_one_pass(language: str, ending: str) -> None:
    code = SAMPLES[language].replace('\n', ending)
    for seed in range(3):
        assert_exact(code, language, rng=random.Random(seed))
    assert_exact(code.rstrip(ending), language)        # last line without a line ending


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(language=st.sampled_from(LANGUAGES), parts=st.lists(st.sampled_from(FRAGMENTS), max_size=80),
       seed=st.integers(0, 2**16))
def test_generated_code_equals_one_pass(language: str, parts: list[str], seed: int) -> None:
    assert_exact(''.join(parts), language, rng=random.Random(seed))


@settings(max_examples=60, deadline=None)
@given(language=st.sampled_from(LANGUAGES), parts=st.lists(st.sampled_from(FRAGMENTS), max_size=60),
       cuts=st.sets(st.integers(1, 400), max_size=12), seed=st.integers(0, 2**16))
def test_pieces_cut_anywhere_equal_one_pass(language: str, parts: list[str], cuts: set[int], seed: int) -> None:
    # robustness beyond the parser's contract: committed pieces need not end at line ends
    code = ''.join(parts)
    bounds = [0, *sorted(c for c in cuts if c < len(code)), len(code)]
    pieces = [code[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    rng = random.Random(seed)
    highlighter = CodeHighlighter(language)
    shown: list[str] = []
    for piece in pieces:
        highlighter.tail(piece[:rng.randint(0, len(piece))])
        apply(shown, highlighter.commit(piece))
    apply(shown, highlighter.close())
    assert types_of(highlighter.tokens()) == reference_types(language, code)
    assert [unescaped(fragment) for fragment in shown] == pieces


@settings(max_examples=40, deadline=None)
@given(language=st.sampled_from(['javascript', 'c', 'cpp', 'json', 'yaml', 'html', 'go', 'diff']),
       parts=st.lists(st.sampled_from(FRAGMENTS), max_size=60), seed=st.integers(0, 2**16))
def test_other_lexer_kinds_equal_one_pass(language: str, parts: list[str], seed: int) -> None:
    # C/C++ post-process tokens, JSON is hand-written, YAML is an ExtendedRegexLexer: verified at close
    assert_exact(''.join(parts), language, rng=random.Random(seed))


def test_long_file_equals_one_pass() -> None:
    code = ''.join(SAMPLES['python'] for _ in range(20))
    assert_exact(code, 'python', rng=random.Random(7))


def test_docstring_is_corrected_while_streaming() -> None:
    highlighter = CodeHighlighter('python')
    shown: list[str] = []
    apply(shown, highlighter.commit('def f():\n'))
    apply(shown, highlighter.commit('    """Summary.\n'))
    assert 'class=sd' not in shown[1]          # not known to be a docstring yet
    apply(shown, highlighter.commit('    More.\n'))
    update = highlighter.commit('    """\n')
    apply(shown, update)
    assert update.start == 1                   # the earlier lines come again, corrected before the block closes
    assert all('class=sd' in line for line in shown[1:4])
    apply(shown, highlighter.commit('    return 1\n'))
    assert highlighter.close() is None


def test_each_line_is_lexed_about_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the exercise: no re-lexing of the block per line; corrections re-lex only what changed."""
    lexed = 0
    run = CodeHighlighter._run

    def counting(self: CodeHighlighter, text: str, p: int, *args: Any) -> Any:
        nonlocal lexed
        result = run(self, text, p, *args)
        lexed += result[0] - p
        return result

    monkeypatch.setattr(CodeHighlighter, '_run', counting)
    code = ''.join(SAMPLES[language] for language in LANGUAGES for _ in range(8))
    stream(code, 'python')
    assert lexed <= 1.25 * len(code)


def test_tail_never_commits() -> None:
    code = SAMPLES['typescript']
    quiet, quiet_lines = stream(code, 'ts')
    noisy, noisy_lines = stream(code, 'ts', random.Random(3))
    assert noisy.tokens() == quiet.tokens()
    assert noisy_lines == quiet_lines


def test_tail_is_the_partial_line_highlighted() -> None:
    highlighter = CodeHighlighter('python')
    highlighter.commit('x = 1\n')
    assert highlighter.tail('def foo(') == '<span class=k>def</span> <span class=nf>foo</span><span class=p>(</span>'
    assert highlighter.tail('') == ''
    assert len(highlighter.lines) == 1


def fresh_tail(committed: list[str], text: str, info: str = 'python') -> str:
    highlighter = CodeHighlighter(info)
    for line in committed:
        highlighter.commit(line)
    return highlighter.tail(text)


def test_cached_tail_follows_a_growing_line_and_is_invalidated_by_commits() -> None:
    committed = ['x = 1\n']
    highlighter = CodeHighlighter('python')
    highlighter.commit(committed[0])
    line = 'def handle(self, value: int = 0x1F, *, name="a<b") -> str:  # done & dusted'
    for end in range(len(line) + 1):       # grows a character at a time: each tail resumes from the last one
        assert highlighter.tail(line[:end]) == fresh_tail(committed, line[:end])
    assert highlighter.tail(line) == fresh_tail(committed, line)           # the same text again
    for text in ('def hand', 'def handle(self, value: int = "', 'x'):      # shrunk or changed: lexed afresh
        assert highlighter.tail(text) == fresh_tail(committed, text)
    # a commit moves the state the tail starts from: the cached tail, grown or not, no longer applies
    highlighter.tail('s = """doc')
    for more in ('s = """doc\n', 'more text\n'):
        highlighter.commit(more)
        committed.append(more)
        for text in ('s = """doc', 's = """doc and', line):
            assert highlighter.tail(text) == fresh_tail(committed, text)
    assert 'class=k' not in highlighter.tail(line)     # inside the string, 'def' is no keyword
    highlighter.commit('"""\n')
    committed.append('"""\n')
    assert highlighter.tail(line) == fresh_tail(committed, line) and 'class=k>def' in highlighter.tail(line)
    highlighter.close()
    assert highlighter.tail(line) == fresh_tail(committed, line)


@settings(max_examples=60, deadline=None)
@given(language=st.sampled_from(LANGUAGES), parts=st.lists(st.sampled_from(FRAGMENTS), max_size=30),
       ends=st.lists(st.integers(0, 200), min_size=1, max_size=12))
def test_cached_tails_show_exactly_the_text(language: str, parts: list[str], ends: list[int]) -> None:
    # whatever sequence of growing, shrinking and repeated tails: the html is inert and gives back the text
    lines = split_lines(''.join(parts))
    highlighter = CodeHighlighter(language)
    for line in lines[:-1]:
        highlighter.commit(line)
    last = lines[-1].rstrip('\r\n') if lines else ''
    for end in sorted(ends) + ends:
        tail = highlighter.tail(last[:end])
        assert unescaped(tail) == last[:end]
        assert SPAN.sub('', tail).count('<') == 0


DISPATCH_LANGUAGES = ['python', 'typescript', 'javascript', 'rust', 'sql', 'bash', 'go', 'java', 'c', 'cpp', 'css',
                      'html', 'ruby', 'php', 'kotlin', 'swift', 'csharp', 'diff', 'lua', 'markdown']
PROBE = (''.join(SAMPLES.values()) + ''.join(FRAGMENTS) + ''.join(map(chr, range(1, 128)))
         + 'ÄäßŁ€Ω漢字 \u00a0\u2003\ufeff𝔘x')


@pytest.mark.parametrize('language', DISPATCH_LANGUAGES)
def test_a_rule_the_engine_skips_at_a_character_cannot_match_there(language: str) -> None:
    """The engine tries at each position only the rules whose first character fits: every match of every rule in
    the probe text must begin with a character its starter accepts."""
    lexer = get_lexer_by_name(language)
    checked = 0
    for state, rules in lexer._tokens.items():
        for rexmatch, _action, _new_state in rules:
            starter = _starter(rexmatch)
            if starter is None:
                continue
            checked += 1
            pattern = rexmatch.__self__
            pos = 0
            while pos < len(PROBE) and (m := pattern.search(PROBE, pos)) is not None and m.start() < len(PROBE):
                assert starter(PROBE[m.start()]), (state, pattern.pattern[:100], PROBE[m.start():m.start() + 20])
                pos = m.start() + 1
    assert checked        # the analysis found first characters for most rules


def test_candidate_rules_per_character_stay_bounded() -> None:
    code = 'x = "' + ''.join(chr(0x4E00 + i) for i in range(3000)) + '"\n'
    highlighter, shown = stream(code, 'python')
    assert types_of(highlighter.tokens()) == reference_types('python', code)
    assert unescaped(shown[0]) == code
    grammar = _grammar_for(highlighter._lexer)
    assert all(len(state.dispatch) <= 2048 + 128 for state in grammar.states.values())


# ---- language -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('info', 'language', 'lexer'), [
    ('python', 'python', 'Python'), ('py', 'py', 'Python'), ('Python3 title="x.py"', 'python3', 'Python'),
    ('ts', 'ts', 'TypeScript'), ('typescript', 'typescript', 'TypeScript'), ('rs', 'rs', 'Rust'),
    ('sh', 'sh', 'Bash'), ('bash', 'bash', 'Bash'), ('JSON', 'json', 'JSON'), ('yml', 'yml', 'YAML'),
    ('c++', 'c++', 'C++'), ('go', 'go', 'Go'), ('golang', 'golang', 'Go'), ('diff', 'diff', 'Diff'),
    ('{.rust}', 'rust', 'Rust'), ('language-python', 'python', 'Python'), ('hpp', 'hpp', 'C++'),
    ('text', 'text', 'Text only'),
])
def test_language_from_info(info: str, language: str, lexer: str) -> None:
    highlighter = CodeHighlighter(info)
    assert highlighter.resolved
    assert highlighter.language == language
    assert highlighter.lexer_name == lexer


PYTHON_BODY = '''import os
from pathlib import Path


def main(argv: list[str]) -> int:
    """Entry point."""
    for name in argv:
        if Path(name).exists():
            print(name)
    return 0


class Config:
    def __init__(self) -> None:
        self.path = os.getcwd()
'''


def test_guess_resolves_after_ten_lines_and_corrects_them() -> None:
    highlighter = CodeHighlighter('')
    shown: list[str] = []
    updates = []
    for line in split_lines(PYTHON_BODY):
        update = highlighter.commit(line)
        updates.append(update)
        apply(shown, update)
    assert all(u.language is None for u in updates[:9])
    assert all(u.lines == [html.escape(line, quote=False)] for u, line in zip(updates[:9], split_lines(PYTHON_BODY),
                                                                              strict=False))
    assert updates[9].language == 'python' and updates[9].start == 0 and len(updates[9].lines) == 10
    assert highlighter.language == 'python'
    apply(shown, highlighter.close())
    assert types_of(highlighter.tokens()) == reference_types('python', PYTHON_BODY)
    assert [unescaped(f) for f in shown] == split_lines(PYTHON_BODY)


def test_short_block_is_guessed_at_close() -> None:
    highlighter = CodeHighlighter('')
    shown: list[str] = []
    code = 'fn main() {\n    let mut x = vec![1];\n    println!("{:?}", x);\n}\n'
    for line in split_lines(code):
        apply(shown, highlighter.commit(line))
    update = highlighter.close()
    assert update is not None and update.language == 'rust' and update.start == 0
    apply(shown, update)
    assert types_of(highlighter.tokens()) == reference_types('rust', code)


@pytest.mark.parametrize(('code', 'expected'), [
    (PYTHON_BODY, {'python'}),
    ('Just some words.\nNothing like code here at all.\n', {'text'}),
])
def test_unknown_language_is_guessed_or_text(code: str, expected: set[str]) -> None:
    highlighter, shown = stream(code, 'foobarlang')
    assert highlighter.language in expected
    assert [unescaped(f) for f in shown] == split_lines(code)


# ---- html ---------------------------------------------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script> <img src=x onerror="alert(2)"> &lt; & "q" \'s\'\n'


@pytest.mark.parametrize('info', ['python', 'html', 'text', '', 'foobarlang', 'json', 'bash'])
def test_hostile_text_is_inert(info: str) -> None:
    lines = highlight_block(HOSTILE * 3, info)
    for fragment in lines:
        assert SPAN.sub('', fragment).count('<') == 0       # the only tags are our spans
        assert '<script' not in fragment and '<img' not in fragment
        assert unescaped(fragment) == HOSTILE
    highlighter = CodeHighlighter(info)
    tail = highlighter.tail('<script>alert(1)</script>')
    assert SPAN.sub('', tail).count('<') == 0 and unescaped(tail) == '<script>alert(1)</script>'


def test_html_is_compact() -> None:
    lines = highlight_block('x = "a" + "b"  # done\n\n', 'python')
    assert lines[0] == ('<span class=n>x</span> <span class=o>=</span> <span class=s2>"a"</span> '
                        '<span class=o>+</span> <span class=s2>"b"</span>  <span class=c1># done</span>\n')
    assert lines[1] == '\n'


def test_adjacent_tokens_of_a_class_are_merged_and_types_fall_back_to_a_parent() -> None:
    # pygments yields a Python string as several String.Double tokens, and the escape in between as another type
    line = highlight_block('s = "ab" "cd\\n%s" + t\n', 'python')[0]
    classes = re.findall(r'<span class=([a-z0-9]+)>[^<]*</span>(?=<span class=([a-z0-9]+)>)', line)
    assert all(a != b for a, b in classes)
    assert line.startswith('<span class=n>s</span> <span class=o>=</span> <span class=s2>"ab"</span> '
                           '<span class=s2>"cd</span><span class=se>\\n</span><span class=si>%s</span>')
    custom = Token.Name.Variable.Scribe.Custom            # no short class of its own
    assert render_tokens([(custom, 'v'), (Token.Text.Whitespace, ' '), (Token.Text, '<&>')]) == \
        '<span class=nv>v</span> &lt;&amp;&gt;'


# ---- styles -------------------------------------------------------------------------------------------------------

def test_highlight_css_is_scoped() -> None:
    css = highlight_css('monokai', '.scribe-code')
    rules = [rule for rule in css.splitlines() if rule.strip()]
    assert rules and all(rule.startswith('.scribe-code') for rule in rules)
    assert '.scribe-code .k ' in css


def test_unknown_style_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        highlight_css('no-such-style')


def test_available_styles() -> None:
    styles = available_styles()
    assert 'default' in styles and 'monokai' in styles and styles == sorted(styles)
