"""Prose rendering: nothing the model writes may run in the reader's browser, and streaming must show exactly what
rendering the received text at once would show, while re-rendering only the tail."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.prose import ProseRenderer, is_safe_url, render_markdown

# --- safety -----------------------------------------------------------------------------------------------------

JS_LINKS = [
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    'JAVASCRIPT:alert(1)',
    ' javascript:alert(1)',
    'java&#x09;script:alert(1)',
    'java&#9;script:alert(1)',
    'java&#x0A;script:alert(1)',
    'java&Tab;script:alert(1)',
    '&#106;avascript:alert(1)',
    '&#x6A;avascript:alert(1)',
    '&#x6a&#x61vascript:alert(1)',
    'javascript&colon;alert(1)',
    '%6Aavascript:alert(1)',
    'javascript%3Aalert(1)',
    '<javascript:alert(1)>',
    '<java script:alert(1)>',
    'ｊａｖａｓｃｒｉｐｔ:alert(1)',
    'java\u200bscript:alert(1)',
    'vbscript:msgbox(1)',
    'VBScript:msgbox(1)',
    'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
    'DATA:text/html,<script>alert(1)</script>',
    'data:image/png;base64,iVBORw0KGgo=',
    'file:///etc/passwd',
]


def _hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


@pytest.mark.parametrize('url', JS_LINKS)
def test_dangerous_links_are_not_links(url: str) -> None:
    for source in (f'[click]({url})', f'[click]: {url}\n\n[click]', f'![pic]({url})', f'<{url}>'):
        html = render_markdown(source)
        assert '<a' not in html, (source, html)
        assert '<img' not in html


def test_dangerous_link_inside_a_list_and_quote() -> None:
    html = render_markdown('- [a](javascript:alert(1))\n\n> [b](JaVaScRiPt:alert(1))\n')
    assert '<a' not in html


@pytest.mark.parametrize('url', ['http://example.com', 'https://example.com/a?b=c#d', 'mailto:someone@example.com',
                                 '/relative/path', 'relative.html', '#anchor', '?q=1', '//example.com/x',
                                 'docs/a:b'])
def test_safe_urls_are_allowed(url: str) -> None:
    assert is_safe_url(url)


@pytest.mark.parametrize('url', ['ftp://example.com', 'chrome://settings', 'intent://x', 'blob:http://x/y'])
def test_other_schemes_are_refused(url: str) -> None:
    assert not is_safe_url(url)


def test_raw_html_is_escaped_text() -> None:
    for source in ('<script>alert(1)</script>', '<img src=x onerror=alert(1)>',
                   'text <img src=x onerror="alert(1)"> more', '<div onclick="alert(1)">x</div>',
                   '<svg/onload=alert(1)>', '<iframe src="javascript:alert(1)"></iframe>'):
        html = render_markdown(source)
        assert '<script' not in html and '<img' not in html and '<div' not in html and '<svg' not in html
        assert '<iframe' not in html
        assert '&lt;' in html
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in render_markdown('<script>alert(1)</script>')


def test_html_in_code_is_escaped() -> None:
    html = render_markdown('`<script>alert(1)</script>`\n\n    <img src=x onerror=alert(1)>\n')
    assert '<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>' in html
    assert '&lt;img src=x onerror=alert(1)&gt;' in html


def test_attribute_injection_through_titles_and_info_strings() -> None:
    html = render_markdown('[a](http://x.com "t\\" onmouseover=\\"alert(1)")')
    assert 'onmouseover="' not in html
    html = render_markdown('```py" onload="alert(1)\nx\n```\n')
    assert 'onload="' not in html


def test_links_open_safely() -> None:
    html = render_markdown('[site](https://example.com) and <https://auto.example.com> and <me@example.com>')
    anchors = re.findall(r'<a [^>]*>', html)
    assert len(anchors) == 3
    for anchor in anchors:
        assert 'rel="noopener noreferrer"' in anchor
        assert 'target="_blank"' in anchor
    assert _hrefs(html) == ['https://example.com', 'https://auto.example.com', 'mailto:me@example.com']


def test_reference_links_get_the_attributes() -> None:
    html = render_markdown('[docs][d]\n\n[d]: https://docs.example.com "Docs"\n')
    assert '<a href="https://docs.example.com" title="Docs" rel="noopener noreferrer" target="_blank">docs</a>' in html


def test_images_become_links_and_never_load() -> None:
    html = render_markdown('![a chart](http://tracker.example.com/pixel.png "Chart")')
    assert '<img' not in html
    assert 'href="http://tracker.example.com/pixel.png"' in html
    assert '>a chart</a>' in html
    assert 'rel="noopener noreferrer"' in html and 'target="_blank"' in html
    assert 'src=' not in html


def test_image_without_alt_shows_its_url() -> None:
    html = render_markdown('![](https://example.com/x.png)')
    assert '>https://example.com/x.png</a>' in html and '<img' not in html


def test_image_inside_link_does_not_nest_anchors() -> None:
    html = render_markdown('[![logo](https://example.com/logo.png)](https://example.com)')
    assert html.count('<a ') == 1
    assert '<img' not in html and 'logo</a>' in html


def test_image_alt_is_escaped() -> None:
    html = render_markdown('![<script>alert(1)</script>](https://example.com/x.png)')
    assert '<script' not in html


def test_tables_and_strikethrough_enabled() -> None:
    html = render_markdown('| a | b |\n|---|:-:|\n| 1 | 2 |\n\n~~gone~~\n')
    assert '<table>' in html and '<th>a</th>' in html and '<td style="text-align:center">2</td>' in html
    assert '<s>gone</s>' in html


# --- incremental rendering ----------------------------------------------------------------------------------------

DOCUMENTS = [
    '# Sorting in Python\n\nPython sorts with **Timsort**, a stable hybrid of merge sort and insertion sort.\n'
    'Use `sorted()` for a new list and `list.sort()` in place.\n\n## Key points\n\n- stable: equal keys keep order\n'
    '- `key=` takes a function\n  that maps items to keys\n- `reverse=True` flips it\n\n1. first\n2. second\n\n'
    '> Note: sorting is *O(n log n)*\n> in the worst case.\n\n| Function | In place |\n|---|---|\n| `sorted` | no |\n'
    '| `list.sort` | yes |\n\nThat is all.\n',
    'Setext heading\n==============\n\nAnother one\n---\n\nA paragraph\nwith a lazy line.\n\n    indented code\n\n'
    '    more code\n\n***\n\n- [links](https://example.com)\n- ~~struck~~ text\n\n---\nEnd with no newline',
    '1. step one\n\n   still step one\n2. step two\n   - nested\n   - items\n\n     nested paragraph\n\n'
    'After the list.\n'
    '> quote\ncontinues lazily\n\n> new quote\n\nText with trailing spaces  \nhard break.\n',
    'A table right after text\n| a | b |\n|---|---|\n| 1 | 2 |\nnot a row?\n\n| x |\n|---|\n\nDone.\n',
    '## Heading\nParagraph directly under it.\n### Another\n```python\ndef f():\n    return 1\n```\nafter fence\n\n'
    '~~~\nunterminated fence\n\ncontinues',
    'Windows\r\nline endings\r\n\r\nand a lone\rcarriage return\r\n\r\n- item\r\n',
    '[ref]: https://example.com/ref "Ref"\n\nUses [ref] after its definition.\n\nAnd [again][ref].\n',
]


def _stream_and_check(document: str, sizes: list[int]) -> list[str]:
    """Feed ``document`` in chunks, checking after each render that committed + tail equals a full render."""
    renderer = ProseRenderer()
    committed: list[str] = []
    position = 0
    index = 0
    while position < len(document):
        size = sizes[index % len(sizes)]
        index += 1
        chunk = document[position:position + size]
        position += len(chunk)
        renderer.feed(chunk)
        new, tail = renderer.render()
        committed.extend(new)
        received = document[:position]
        if received.endswith('\r'):
            received = received[:-1]  # a trailing CR waits for the next chunk to know whether it is CRLF
        assert ''.join(committed) + tail == render_markdown(received), (position, received)
    committed.extend(renderer.close())
    assert ''.join(committed) == render_markdown(document)
    return committed


@pytest.mark.parametrize('document', DOCUMENTS)
def test_incremental_equals_whole_at_every_position(document: str) -> None:
    _stream_and_check(document, [1])


@pytest.mark.parametrize('document', DOCUMENTS)
@pytest.mark.parametrize('sizes', [[3], [7, 1, 2], [40], [1000]])
def test_incremental_equals_whole_for_chunkings(document: str, sizes: list[int]) -> None:
    _stream_and_check(document, sizes)


@pytest.mark.parametrize('document', DOCUMENTS)
def test_every_cut_from_a_fresh_renderer(document: str) -> None:
    for cut in range(len(document) + 1):
        head, rest = document[:cut], document[cut:]
        renderer = ProseRenderer()
        renderer.feed(head)
        first, tail = renderer.render()
        renderer.feed(rest)
        second = renderer.close()
        assert ''.join(first + second) == render_markdown(document)
        if not head.endswith('\r'):
            assert ''.join(first) + tail == render_markdown(head)


LINES = st.sampled_from([
    '# Title\n', 'Setext\n', '===\n', '---\n', '***\n', 'para one\n', 'lazy line\n', '\n', '\n', '\n', '- item\n',
    '  continued\n', '* star\n', '1. one\n', '2) two\n', '> quote\n', '    indented code\n', '| a | b |\n',
    '|---|---|\n', '| 1 | 2 |\n', 'a | b\n', 'text with `code` and **bold** and ~~del~~\n', '```py\n', 'x = 1\n',
    '```\n', '~~~\n', '  - nested\n', '    more\n', '<div>\n', '- [ ] task\n', '\t tab\n', '+ plus\n', '10. ten\n',
    '\\\n', 'foo  \n', '[a link](https://example.com)\n', 'end', ' ', '`', '*',
])


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(LINES, max_size=30), sizes=st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_incremental_equals_whole_property(lines: list[str], sizes: list[int]) -> None:
    _stream_and_check(''.join(lines), sizes)


def test_committed_blocks_are_never_returned_again() -> None:
    renderer = ProseRenderer()
    renderer.feed('# Title\n\nFirst paragraph.\n\nSecond')
    committed, tail = renderer.render()
    # 'Second' is on an unfinished line, so the paragraph before it could in general still change (see the list
    # test below); the heading cannot, since an ATX heading is one line whatever follows.
    assert committed == ['<h1>Title</h1>\n']
    assert tail == '<p>First paragraph.</p>\n<p>Second</p>\n'

    renderer.feed(' paragraph grows\n')
    committed, tail = renderer.render()
    assert committed == ['<p>First paragraph.</p>\n']
    assert tail == '<p>Second paragraph grows</p>\n'
    assert renderer.pending == 'Second paragraph grows\n'

    renderer.feed('\nThird\n')
    committed, tail = renderer.render()
    assert committed == ['<p>Second paragraph grows</p>\n']
    assert tail == '<p>Third</p>\n'
    assert renderer.pending == 'Third\n'

    renderer.feed('still third')
    assert renderer.render() == ([], '<p>Third\nstill third</p>\n')


def test_render_without_new_text_is_free_and_stable() -> None:
    renderer = ProseRenderer()
    renderer.feed('One.\n\nTwo')
    first = renderer.render()
    assert renderer.render() == ([], first[1])


def test_only_the_uncommitted_part_is_parsed() -> None:
    """A long stream of paragraphs keeps the uncommitted source to about one paragraph."""
    renderer = ProseRenderer()
    longest = 0
    for number in range(500):
        for word in f'Paragraph {number} has a few words in it.\n\n'.split(' '):
            renderer.feed(word + ' ')
            renderer.render()
            longest = max(longest, len(renderer.pending))
    assert longest < 120


def test_a_paragraph_waits_for_a_blank_line() -> None:
    renderer = ProseRenderer()
    renderer.feed('Text\n')
    assert renderer.render()[0] == []
    renderer.feed('===\n')  # a setext underline changes the block above it
    assert renderer.render() == ([], '<h1>Text</h1>\n')


def test_a_block_after_a_blank_line_must_start_on_a_complete_line() -> None:
    renderer = ProseRenderer()
    renderer.feed('- item\n\n ')
    assert renderer.render()[0] == []
    renderer.feed(' continued\n')  # two spaces: still inside the list item
    committed, tail = renderer.render()
    assert committed == []
    assert '<p>continued</p>' in tail


def test_lists_stay_in_the_tail_until_something_follows() -> None:
    renderer = ProseRenderer()
    renderer.feed('- one\n- two\n\n')
    assert renderer.render()[0] == []
    renderer.feed('- three\n\n')
    assert renderer.render()[0] == []
    renderer.feed('After.\n')
    committed, tail = renderer.render()
    assert len(committed) == 1 and committed[0].startswith('<ul>') and '<p>three</p>' in committed[0]
    assert tail == '<p>After.</p>\n'


def test_close_commits_everything() -> None:
    renderer = ProseRenderer()
    renderer.feed('# A\n\nb\n\n- c')
    committed, _ = renderer.render()
    assert committed == ['<h1>A</h1>\n']
    rest = renderer.close()
    assert ''.join(committed + rest) == render_markdown('# A\n\nb\n\n- c')
    assert rest == ['<p>b</p>\n', '<ul>\n<li>c</li>\n</ul>\n']
    assert renderer.render() == ([], '')
    assert renderer.close() == []


def test_close_without_render() -> None:
    renderer = ProseRenderer()
    renderer.feed('para\n\n> quote')
    assert renderer.close() == ['<p>para</p>\n', '<blockquote>\n<p>quote</p>\n</blockquote>\n']


def test_reference_defined_before_use_in_a_later_block() -> None:
    renderer = ProseRenderer()
    renderer.feed('[r]: https://example.com\n\nFirst.\n\nUses [r].\n\nNext\n')
    committed, _ = renderer.render()
    assert len(committed) == 2 and 'href="https://example.com"' in committed[1]
    assert renderer.pending == 'Next\n'
    renderer.feed(' uses [r] too.')
    _, tail = renderer.render()
    assert 'href="https://example.com"' in tail


def test_known_divergence_reference_defined_after_use() -> None:
    """Documented: a block committed before the definition arrives keeps the link as plain text."""
    document = 'Uses [r].\n\nMore.\n\n[r]: https://example.com\n'
    renderer = ProseRenderer()
    committed: list[str] = []
    for char in document:
        renderer.feed(char)
        committed.extend(renderer.render()[0])
    committed.extend(renderer.close())
    assert 'href' in render_markdown(document)
    assert committed[0] == '<p>Uses [r].</p>\n'


def test_unsafe_content_stays_unsafe_free_when_streamed() -> None:
    document = '<script>alert(1)</script>\n\n[x](JaVaScRiPt:alert(1))\n\n![i](https://e.com/i.png)\n'
    committed = _stream_and_check(document, [1])
    html = ''.join(committed)
    assert '<script' not in html and '<img' not in html
    assert _hrefs(html) == ['https://e.com/i.png']
