"""Failures the user sees and sees resolved, in Chromium: a retry notice, a fallback notice, an error with
Continue that finishes the answer exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from services.providers.base import CONTINUE_PROMPT
from tests.e2e.conftest import AppProcess
from tests.fakes import anthropic_server as ant
from tests.fakes import provider_server as oai

pytestmark = pytest.mark.e2e

CODE = 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    return a + b  # 👩‍💻\n'
SERVED = 'Here you go:\n\n```python\n' + CODE + '```\n\nThat is the whole function.\n'
CODE_TEXTS = 'els => els.map(e => e.textContent)'


def continuing(body: dict[str, Any]) -> str:
    messages = body['messages']
    if messages[-1]['content'] == CONTINUE_PROMPT:
        return SERVED[len(messages[-2]['content']):]
    return SERVED


@pytest.fixture
def servers() -> Iterator[tuple[oai.FakeOpenAIServer, ant.FakeAnthropicServer]]:
    openai = oai.FakeOpenAIServer(oai.Script(text=continuing, chars_per_second=800)).start_in_thread()
    claude = ant.FakeAnthropicServer(ant.Script(text=SERVED, chars_per_second=800)).start_in_thread()
    yield openai, claude
    openai.stop_thread()
    claude.stop_thread()


@pytest.fixture
def app(tmp_path: Path, servers: tuple[oai.FakeOpenAIServer, ant.FakeAnthropicServer]) -> Iterator[AppProcess]:
    openai, claude = servers
    env = {'OPENAI_BASE_URL': openai.base_url, 'OPENAI_API_KEY': oai.DEFAULT_API_KEY,
           'ANTHROPIC_BASE_URL': claude.base_url, 'ANTHROPIC_API_KEY': ant.DEFAULT_API_KEY}
    process = AppProcess(tmp_path / 'app', '--provider', 'openai', env=env).start()
    yield process
    process.stop()


def ask(page: Page, app: AppProcess) -> Any:
    page.goto(app.url)
    page.get_by_test_id('prompt-input').fill('add two numbers')
    page.get_by_test_id('send-button').click()
    return page.locator('[data-testid=message][data-role=assistant]').last


def test_a_retry_notice_is_shown_then_resolved(app: AppProcess, servers: Any, page: Page) -> None:
    servers[0].script.faults = [oai.Fault(status=429, retry_after='2')]
    answer = ask(page, app)
    notice = answer.get_by_test_id('stream-notice')
    expect(notice).to_contain_text('retrying (1 of 3)', timeout=10_000)
    expect(answer).to_have_attribute('data-status', 'completed', timeout=30_000)
    expect(notice).to_be_hidden()
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == [CODE]


def test_a_fallback_notice_says_who_answered(app: AppProcess, servers: Any, page: Page) -> None:
    servers[0].script.faults = [oai.Fault(status=429, retry_after='0.2')] * 4
    answer = ask(page, app)
    expect(answer).to_have_attribute('data-status', 'completed', timeout=30_000)
    expect(answer.get_by_test_id('stream-notice')).to_contain_text('switched to anthropic')
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == [CODE]


def test_an_error_offers_continue_which_finishes_exactly(app: AppProcess, servers: Any, page: Page) -> None:
    servers[0].script.faults = [oai.Fault(drop_after_chars=40)] + [oai.Fault(drop_after_chars=5)] * 3
    answer = ask(page, app)
    expect(answer).to_have_attribute('data-status', 'error', timeout=30_000)
    expect(answer.locator('.scribe-error')).to_be_visible()
    answer.get_by_test_id('continue-button').click()
    expect(answer).to_have_attribute('data-status', 'completed', timeout=30_000)
    expect(answer.locator('.scribe-error')).to_be_hidden()
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == [CODE]
