"""The app talking to an OpenAI-compatible server through the real SDK, shown in Chromium: hostile and tricky
text arrives split at random byte boundaries and ends in the page exactly as served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppProcess
from tests.fakes.provider_server import DEFAULT_API_KEY, FakeOpenAIServer, Script

pytestmark = pytest.mark.e2e

PY_CODE = (
    'fence = "```"  # three backticks inside a string\n'
    'print("<script>alert(1)</script>", "👩‍💻", "e\u0301", "🇯🇵", "漢字", "مرحبا")\r\n'
    'line\u2028sep = "<img src=x onerror=alert(1)>"\n'
)
TS_CODE = (
    '/* a comment\n'
    '   over two lines */\n'
    'const el = document.createElement("script");\n'
    'el.textContent = `alert(${1})`;\n'
)
SERVED = (
    'Tricky text: 👩‍💻, e\u0301, 🇯🇵, 漢字, مرحبا, a line\u2028separator, <script>alert(1)</script> and '
    '[a link](javascript:alert(1)).\n\n'
    '```python\n' + PY_CODE + '```\n\n'
    'And in TypeScript:\n\n'
    '```typescript\n' + TS_CODE + '```\n'
    'That is all.\n'
)
CODE_TEXTS = 'els => els.map(e => e.textContent)'


@pytest.fixture(scope='module')
def openai_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    server = FakeOpenAIServer(Script(text=SERVED, chars_per_second=250, chunk_chars=(1, 6), seed=7))
    server.start_in_thread()
    app = AppProcess(Path(tmp_path_factory.mktemp('openai-app')), '--provider', 'openai', '--model', 'gpt-test',
                     env={'OPENAI_BASE_URL': server.base_url, 'OPENAI_API_KEY': DEFAULT_API_KEY}).start()
    yield app
    app.stop()
    server.stop_thread()


def answer_of(page: Page):
    return page.locator('[data-testid=message][data-role=assistant]').last


def test_served_text_ends_exact_in_the_page_even_across_a_reload(openai_app: AppProcess, page: Page) -> None:
    page.goto(openai_app.url)
    page.get_by_test_id('prompt-input').fill('tricky text please')
    page.get_by_test_id('send-button').click()
    answer = answer_of(page)
    block = answer.locator('[data-testid=code-block][data-streaming=true]')
    expect(block).to_be_visible(timeout=20_000)
    assert block.get_attribute('data-language') == 'python'
    prose = answer.locator('.sv-prose').evaluate_all('els => els.map(e => e.textContent).join("")')
    assert '```' not in prose
    page.wait_for_url('**/projects/*')
    page.reload()
    answer = answer_of(page)
    expect(answer).to_have_attribute('data-status', 'completed', timeout=30_000)
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == [PY_CODE, TS_CODE]
    languages = answer.locator('[data-testid=code-block]').evaluate_all('els => els.map(e => e.dataset.language)')
    assert languages == ['python', 'typescript']
    content = answer.get_by_test_id('message-content')
    assert content.locator('script, img').count() == 0
    assert content.locator('a[href*="javascript" i]').count() == 0
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_a_gap_in_the_event_sequence_is_repaired_by_a_snapshot(openai_app: AppProcess, page: Page) -> None:
    page.goto(openai_app.url)
    page.get_by_test_id('prompt-input').fill('tricky text again')
    page.get_by_test_id('prompt-input').press('Enter')
    answer = answer_of(page)
    expect(answer.locator('[data-testid=code-block]').first).to_be_visible(timeout=20_000)
    # Pretend the browser missed messages: deliver a batch from far ahead; the element must ask for a snapshot.
    page.evaluate('''() => {
        const el = document.querySelectorAll('.scribe-stream');
        const view = getElement(el[el.length - 1].id.slice(1));
        view.apply(view.seq + 50, [[["p", 0, "<p>garbage</p>"]]]);
    }''')
    expect(answer).to_have_attribute('data-status', 'completed', timeout=30_000)
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == [PY_CODE, TS_CODE]
    assert 'garbage' not in answer.get_by_test_id('message-content').text_content()
