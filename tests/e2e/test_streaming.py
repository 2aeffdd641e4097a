"""A prompt's answer streams live into Chromium: code blocks open at once, grow highlighted, end exact."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from services.parser import parse
from services.providers.demo import demo_answer
from tests.e2e.conftest import AppProcess

pytestmark = pytest.mark.e2e

CODE_TEXTS = 'els => els.map(e => e.textContent)'


def expected_code(text: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block, as CommonMark shows it."""
    out = []
    for block in parse(text):
        if block.kind == 'code':
            code = ''.join(line[min(block.indent, len(line) - len(line.lstrip(' '))):] for line in _lines(block.text))
            out.append((block.language.lower(), code))
    return out


def _lines(text: str) -> list[str]:
    """Split after \\n, \\r\\n or \\r only (never at U+2028 and friends)."""
    lines, start, i = [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == '\n' or ch == '\r':
            if ch == '\r' and i + 1 < len(text) and text[i + 1] == '\n':
                i += 1
            lines.append(text[start:i + 1])
            start = i + 1
        i += 1
    if start < len(text):
        lines.append(text[start:])
    return lines


def send(page: Page, prompt: str) -> None:
    box = page.get_by_test_id('prompt-input')
    box.fill(prompt)
    box.press('Enter')


def last_answer(page: Page):
    return page.locator('[data-testid=message][data-role=assistant]').last


def wait_done(page: Page, timeout: float = 60_000) -> None:
    expect(last_answer(page)).to_have_attribute('data-status', 'completed', timeout=timeout)


def test_answer_streams_with_live_code_blocks_and_ends_exact(demo_app: AppProcess, page: Page) -> None:
    prompt = 'Show me some tricky unicode handling in python'
    text = demo_answer(prompt)
    expected = expected_code(text)
    assert any(lang == 'python' for lang, _ in expected)

    page.goto(demo_app.url)
    send(page, prompt)
    answer = last_answer(page)
    expect(answer).to_have_attribute('data-status', 'streaming', timeout=15_000)
    live = answer.locator('[data-testid=code-block][data-streaming=true]').first
    expect(live).to_be_visible(timeout=30_000)
    assert live.get_attribute('data-language') == expected[0][0]
    # While a block streams, no raw fence is shown anywhere in prose.
    # (inline code may legitimately quote backticks, e.g. `fence = "```"`: only prose text itself counts)
    prose = answer.locator('.sv-prose').evaluate_all('''els => els.map(e => {
        const c = e.cloneNode(true); c.querySelectorAll('code').forEach(x => x.remove()); return c.textContent;
    }).join("")''')
    assert '```' not in prose and '~~~' not in prose
    assert answer.get_by_test_id('stream-status').get_attribute('data-status') == 'streaming'

    wait_done(page)
    blocks = answer.locator('[data-testid=code-block]')
    assert blocks.count() == len(expected)
    assert [b.get_attribute('data-language') for b in blocks.all()] == [lang for lang, _ in expected]
    assert all(b.get_attribute('data-streaming') == 'false' for b in blocks.all())
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == [code for _, code in expected]
    assert answer.get_by_test_id('copy-code-button').count() == len(expected)
    assert answer.get_by_test_id('download-code-button').count() == len(expected)
    # Hostile content stays inert text.
    content = answer.get_by_test_id('message-content')
    assert content.locator('script').count() == 0
    assert content.locator('img').count() == 0
    assert content.locator('a[href^="javascript"], a[href^="JAVASCRIPT" i]').count() == 0
    assert '<script>alert(1)</script>' in content.text_content()
    assert page.dialogs == []  # type: ignore[attr-defined]
    # Highlighted: pygments classes on the python block.
    assert blocks.first.locator('span.k, span.kn, span.nf, span.s2, span.s1').count() > 0


def test_reload_mid_stream_continues_and_ends_exact(demo_app: AppProcess, page: Page) -> None:
    prompt = 'Write a typescript http api server, please'
    expected = expected_code(demo_answer(prompt))
    page.goto(demo_app.url)
    send(page, prompt)
    expect(last_answer(page).locator('[data-testid=code-block]').first).to_be_visible(timeout=30_000)
    assert last_answer(page).get_attribute('data-status') == 'streaming'
    page.wait_for_url('**/projects/*')
    page.reload()
    answer = last_answer(page)
    # The text so far is there at once, and the stream goes on live.
    expect(answer.locator('[data-testid=code-block]').first).to_be_attached(timeout=10_000)
    wait_done(page)
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == [code for _, code in expected]


def test_second_tab_follows_the_same_stream(demo_app: AppProcess, page: Page) -> None:
    """A tab open on the project sees a prompt sent from another tab, and both show the same live stream."""
    prompt = 'A rust cli that counts words'
    expected = [code for _, code in expected_code(demo_answer(prompt))]
    page.goto(demo_app.url)
    page.get_by_test_id('new-project-button').click()
    page.wait_for_url('**/projects/*')
    other = page.context.new_page()
    other.goto(page.url)
    expect(other.get_by_test_id('prompt-input')).to_be_visible()
    send(page, prompt)
    expect(last_answer(other)).to_be_attached(timeout=10_000)
    expect(other.get_by_test_id('message').first).to_have_attribute('data-role', 'user')
    wait_done(page)
    wait_done(other)
    for p in (page, other):
        assert last_answer(p).get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == expected
    third = page.context.new_page()  # and a tab opened afterwards shows the stored answer
    third.goto(page.url)
    assert last_answer(third).get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == expected


def test_stop_keeps_the_partial_answer_as_interrupted(demo_app: AppProcess, page: Page) -> None:
    prompt = 'a long python module please'
    page.goto(demo_app.url)
    send(page, prompt)
    answer = last_answer(page)
    expect(answer.locator('[data-testid=code-block]').first).to_be_visible(timeout=30_000)
    answer.get_by_test_id('stop-button').click()
    expect(answer).to_have_attribute('data-status', 'interrupted', timeout=10_000)
    expect(answer.get_by_test_id('stop-button')).to_be_hidden()
    shown = answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS)
    full = [code for _, code in expected_code(demo_answer(prompt))]
    assert shown and all(full[i].startswith(code) for i, code in enumerate(shown))
    assert len(shown[-1]) < len(full[len(shown) - 1]) or len(shown) < len(full)
    # The stored partial is what a reload shows.
    page.reload()
    answer = last_answer(page)
    expect(answer).to_have_attribute('data-status', 'interrupted')
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == shown


def test_continue_after_stop_finishes_the_same_answer_exactly(demo_app: AppProcess, page: Page) -> None:
    prompt = 'a sql database schema, please'
    full = [code for _, code in expected_code(demo_answer(prompt))]
    page.goto(demo_app.url)
    send(page, prompt)
    answer = last_answer(page)
    expect(answer.locator('[data-testid=code-block]').first).to_be_visible(timeout=30_000)
    answer.get_by_test_id('stop-button').click()
    expect(answer).to_have_attribute('data-status', 'interrupted', timeout=10_000)
    expect(answer.get_by_test_id('retry-button')).to_be_visible()
    answer.get_by_test_id('continue-button').click()
    expect(answer).to_have_attribute('data-status', 'completed', timeout=60_000)
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == full
    assert page.locator('[data-testid=message][data-role=assistant]').count() == 1
    page.reload()  # what was stored is the whole answer
    assert last_answer(page).get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == full


def test_retry_writes_a_new_answer_and_keeps_the_old_one(demo_app: AppProcess, page: Page) -> None:
    prompt = 'bash script to back up a folder'
    page.goto(demo_app.url)
    send(page, prompt)
    wait_done(page)
    expect(last_answer(page).get_by_test_id('continue-button')).to_be_hidden()
    last_answer(page).get_by_test_id('retry-button').click()
    answers = page.locator('[data-testid=message][data-role=assistant]')
    expect(answers).to_have_count(2)
    wait_done(page)
    expected = [code for _, code in expected_code(demo_answer(prompt))]
    for i in range(2):
        assert answers.nth(i).get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == expected


def test_an_empty_prompt_is_refused_at_the_prompt_box(demo_app: AppProcess, page: Page) -> None:
    page.goto(demo_app.url)
    page.get_by_test_id('prompt-input').fill('   \n  ')
    page.get_by_test_id('send-button').click()
    expect(page.get_by_test_id('prompt-error')).to_contain_text('The prompt is empty')
    assert page.get_by_test_id('message').count() == 0
    assert page.get_by_test_id('prompt-input').input_value() == '   \n  '  # nothing the user typed is lost
