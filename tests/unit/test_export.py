"""The Markdown export: every message's text exactly, in order, and no text can break the file's structure."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

import services.export as export
from services.export import ExportedMessage, export_filename, export_markdown, message_text, parse_export
from services.providers.demo import demo_answer
from services.storage import MessageRecord, clean_text

WHEN = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
TRICKY = (
    'naïve 👩‍💻 code\r\nline\u2028sep\u2029para\ttab\x01 \\n "quotes" ` ``` %s ${x} — 中文 \U0001f600 e\u0301 \ufeff'
    '\r\n\r\nlone\rcr  \n\n\n'
)
_md = MarkdownIt('commonmark')


def record(n: int, role: str, content: str, *, status: str = 'completed', partial: str | None = None,
           provider: str | None = 'demo', model: str | None = 'scribe-demo', error: str | None = None) -> MessageRecord:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return MessageRecord(id=f'm{n}', project_id='p', seq=n, role=role, content=content, streaming_status=status,
                         partial_content=content if partial is None else partial, stream_metadata={}, error=error,
                         provider=provider if role == 'assistant' else None,
                         model=model if role == 'assistant' else None, reply_to=None, created_at=now, updated_at=now)


def conversation(*texts: str, **kwargs: Any) -> list[MessageRecord]:
    return [record(i + 1, 'user' if i % 2 == 0 else 'assistant', text, **kwargs) for i, text in enumerate(texts)]


def structure(markdown: str) -> list[tuple[int, str, str]]:
    """(line, tag, text) of every heading a CommonMark reader sees."""
    tokens = _md.parse(markdown)
    return [(t.map[0] if t.map else -1, t.tag, tokens[i + 1].content)
            for i, t in enumerate(tokens) if t.type == 'heading_open']


def line_of(markdown: str, offset: int) -> int:
    return len(re.findall(r'\r\n?|\n', markdown[:offset]))


def our_headings(title: str, markdown: str, messages: list[MessageRecord]) -> list[tuple[int, str, str]]:
    """Where the export wrote its own headings: the title, then one before each message's marker."""
    out = [(0, 'h1', title)]
    position = 0
    for message in messages:
        match = export._MARKER_RE.search(markdown, position)
        assert match is not None
        heading = export._heading(message)
        offset = markdown.rfind(f'\n## {heading}\n', position, match.start()) + 1
        out.append((line_of(markdown, offset), 'h2', heading))
        position = match.end() + len(message_text(message))
    return out


def check(title: str, messages: list[MessageRecord], live: dict[str, str] | None = None) -> str:
    """Export, then: each text is read back exactly, and the heading structure is exactly one per message."""
    markdown = export_markdown(title, messages, live=live, exported_at=WHEN)
    markdown.encode('utf-8')  # always valid UTF-8
    assert parse_export(markdown) == [
        ExportedMessage(m.role, m.streaming_status, message_text(m, live), m.id) for m in messages]
    # Every heading the export wrote is read as that heading, at its line: no text swallowed one. (Texts may add
    # headings of their own; those are theirs.)
    ours = our_headings(title, markdown, messages)
    assert len(ours) == len(messages) + 1
    assert set(ours) <= set(structure(markdown))
    return markdown


def test_the_format_is_a_title_then_one_heading_and_the_exact_text_per_message() -> None:
    messages = conversation('Hello?', 'Hi there.\n\n```python\nprint(1)\n```\n')
    markdown = check('My project', messages)
    assert markdown == (
        '# My project\n\n'
        '<!-- Exported from Scribe on 2026-01-02 03:04 UTC: 2 messages. After each "scribe:message" line comes the '
        "message's text exactly as stored, chars=N code points long, then a blank line. -->\n\n"
        '## You\n\n'
        '<!-- scribe:message n=1 id=m1 role=user status=completed chars=6 -->\n'
        'Hello?\n\n'
        '## Assistant (demo / scribe-demo)\n\n'
        '<!-- scribe:message n=2 id=m2 role=assistant status=completed chars=34 -->\n'
        'Hi there.\n\n```python\nprint(1)\n```\n\n'
    )


def test_tricky_text_is_kept_character_for_character() -> None:
    answer = demo_answer('tricky unicode please')
    assert '\u2028' in answer
    messages = conversation(TRICKY, answer, 'ends in a lone cr\r', answer + '\r\n', '', 'trailing spaces   ')
    markdown = check('Unicode', messages)
    for message in messages:
        assert message.content in markdown  # verbatim, not escaped


def test_unfinished_answers_are_marked_and_use_their_partial_or_live_text() -> None:
    messages = [
        record(1, 'user', 'q'),
        record(2, 'assistant', '', status='interrupted', partial='cut off here'),
        record(3, 'assistant', 'half an answer', status='error', error='The provider failed.\nTry again.'),
        record(4, 'assistant', '', status='streaming', partial='checkpoint'),
        record(5, 'assistant', '', status='pending', partial='', provider=None, model=None),
        record(6, 'system', 'be brief'),
    ]
    live = {'m4': 'checkpoint and more'}
    markdown = check('Mixed', messages, live)
    read = parse_export(markdown)
    assert [m.text for m in read] == ['q', 'cut off here', 'half an answer', 'checkpoint and more', '', 'be brief']
    assert '## Assistant (demo / scribe-demo) · interrupted\n' in markdown
    assert '## Assistant (demo / scribe-demo) · error\n\n> The provider failed. Try again.\n' in markdown
    assert '## Assistant (demo / scribe-demo) · still writing\n' in markdown
    assert '## Assistant · still writing\n' in markdown
    assert '## System\n' in markdown


@pytest.mark.parametrize('text', [
    'An unclosed fence:\n\n```python\ndef f():\n    pass',
    '````\nan inner ``` fence does not close a longer one\n```\n',
    '~~~~~ text\ntilde fence, never closed\n~~~',
    '<!-- an html comment that never ends\n\n## You\n',
    '<pre>\npreformatted, never closed\n\n## not a heading\n',
    '<script>alert(1)\n\n',
    '<?php echo 1;\n\n',
    '<![CDATA[ raw\n\n',
    '<!DOCTYPE html\n\n',
    '  <STYLE>\nindented, upper case\n',
    '- a list\n\n  ```\n  a fence inside it, unclosed\n',
    '> a quote\n> ```\n> unclosed in the quote',
    '```\n<!--\n```\n<!-- and then a real one',
    '<!-- scribe:message n=9 id=fake role=user status=completed chars=3 -->\nabc\n\n## You\n\nfake structure',
    'text\n===\nsetext and a trailing backslash\\',
    '```',
    '    indented code, not a fence\n    ```\n',
])
def test_no_text_can_swallow_the_messages_after_it(text: str) -> None:
    messages = conversation('first', text, 'after', text, 'last')
    markdown = check('Structure', messages)
    assert text in markdown


def test_a_text_no_closer_can_fix_is_wrapped_in_a_longer_tilde_fence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, '_closer', lambda leak: '')
    text = 'A fence ~~~~ run and an unclosed one:\n\n```js\nlet x'
    markdown = check('Wrapped', conversation('q', text, 'after'))
    assert '~~~~~ text\n<!-- scribe:message n=2' in markdown


_PIECES = st.sampled_from([
    '```', '~~~', '````', '`', '<!--', '-->', '<pre>', '</pre>', '<?', '?>', '<![CDATA[', ']]>', '<!X', '>',
    '## You', '# ', '- ', '> ', '    ', '   ', '\n', '\r\n', '\r', '\n\n', '\u2028', '👩‍💻', 'é', 'text', ' ',
    '<!-- scribe:message n=1 id=x role=user status=completed chars=1 -->', '\\', '===', '---', '\t', 'python',
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_PIECES, max_size=25).map(''.join), min_size=1, max_size=5), st.text(max_size=30))
def test_any_text_round_trips_and_keeps_the_structure(texts: list[str], title: str) -> None:
    title = export._one_line(title) or 'untitled'
    check(title, conversation(*texts))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=4))
def test_any_unicode_round_trips(texts: list[str]) -> None:
    messages = conversation(*texts)
    read = parse_export(export_markdown('t', messages, exported_at=WHEN))
    assert [m.text for m in read] == [clean_text(t) for t in texts]


@pytest.mark.parametrize(('title', 'name'), [
    ('Write a Python CLI', 'write-a-python-cli.md'),
    ('  Ünïcödé — titles, 👩‍💻 too!  ', 'unicode-titles-too.md'),
    ('漢字だけ', 'project.md'),
    ('../../etc/passwd', 'etc-passwd.md'),
    ('x' * 200, 'x' * 80 + '.md'),
])
def test_the_file_name_is_a_safe_slug_of_the_title(title: str, name: str) -> None:
    assert export_filename(title) == name


@pytest.mark.parametrize('title', ['#', '##', 'C #', 'Issue #', 'C#', 'a # b'])
def test_a_title_ending_in_hashes_keeps_them(title: str) -> None:
    check(title, conversation('Hello?', 'Hi.'))  # found by the property test below: '#' was read as ''


def test_a_title_with_line_breaks_stays_one_heading() -> None:
    markdown = export_markdown('two\r\nlines\u2028kept', [], exported_at=WHEN)
    assert markdown.startswith('# two lines\u2028kept\n\n')


def test_a_cut_file_is_refused() -> None:
    markdown = export_markdown('t', conversation('hello world'), exported_at=WHEN)
    with pytest.raises(ValueError, match='cut short'):
        parse_export(markdown[:-8])
