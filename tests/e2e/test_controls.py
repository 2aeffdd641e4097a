"""Pause and resume during a code block, a pause that outlasts its limit, and Esc as Stop, in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from services.providers.demo import demo_answer
from tests.e2e.conftest import AppProcess
from tests.e2e.test_streaming import CODE_TEXTS, expected_code, last_answer, send

pytestmark = pytest.mark.e2e

SHOWN = '''() => Array.from(document.querySelectorAll('[data-testid=message][data-role=assistant]'))
    .pop().querySelector('[data-testid=message-content]').textContent.length'''


@pytest.fixture(scope='module')
def short_pause_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    app = AppProcess(tmp_path_factory.mktemp('pause-app'), '--demo-speed', '600', '--pause-limit', '1.5').start()
    yield app
    app.stop()


def test_pause_holds_the_display_during_a_code_block_and_resume_catches_up(demo_app: AppProcess,
                                                                            page: Page) -> None:
    prompt = 'a typescript parser for arithmetic'
    expected = [code for _, code in expected_code(demo_answer(prompt))]
    page.goto(demo_app.url)
    send(page, prompt)
    answer = last_answer(page)
    expect(answer.locator('[data-testid=code-block][data-streaming=true]')).to_be_visible(timeout=30_000)
    answer.get_by_test_id('pause-button').click()
    expect(answer.get_by_test_id('resume-button')).to_be_visible()
    expect(answer.get_by_test_id('pause-button')).to_be_hidden()
    expect(answer.get_by_test_id('stream-status')).to_contain_text('paused')
    held = page.evaluate(SHOWN)
    page.wait_for_timeout(1500)
    assert page.evaluate(SHOWN) == held  # the display holds while the answer keeps arriving on the server
    assert answer.get_attribute('data-status') == 'streaming'
    answer.get_by_test_id('resume-button').click()
    expect(answer).to_have_attribute('data-status', 'completed', timeout=30_000)
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == expected


def test_stop_while_paused_shows_the_answer_as_stopped_at_once(demo_app: AppProcess, page: Page) -> None:
    page.goto(demo_app.url)
    send(page, 'a typescript parser for arithmetic')
    answer = last_answer(page)
    expect(answer.locator('[data-testid=code-block][data-streaming=true]')).to_be_visible(timeout=30_000)
    answer.get_by_test_id('pause-button').click()
    expect(answer.get_by_test_id('resume-button')).to_be_visible()
    page.wait_for_timeout(500)  # more of the answer arrives, held
    answer.get_by_test_id('stop-button').click()
    expect(answer).to_have_attribute('data-status', 'interrupted', timeout=10_000)
    expect(answer.get_by_test_id('stream-status')).not_to_contain_text('paused')
    expect(answer.get_by_test_id('resume-button')).to_be_hidden()
    expect(answer.get_by_test_id('continue-button')).to_be_visible()
    shown = answer.get_by_test_id('message-content').text_content()
    page.reload()  # what the page shows is what was stored, held text included
    assert last_answer(page).get_by_test_id('message-content').text_content() == shown


def test_a_pause_past_its_limit_closes_the_request_and_resume_continues(short_pause_app: AppProcess,
                                                                         page: Page) -> None:
    prompt = 'python http api server'
    expected = [code for _, code in expected_code(demo_answer(prompt))]
    page.goto(short_pause_app.url)
    send(page, prompt)
    answer = last_answer(page)
    expect(answer.locator('[data-testid=code-block]').first).to_be_visible(timeout=30_000)
    answer.get_by_test_id('pause-button').click()
    expect(answer.get_by_test_id('resume-button')).to_be_visible()
    page.wait_for_timeout(2500)  # past the 1.5 s limit: the request is closed, the display still held
    answer.get_by_test_id('resume-button').click()
    expect(answer).to_have_attribute('data-status', 'completed', timeout=40_000)
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == expected
    page.reload()
    assert last_answer(page).get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == expected


def test_escape_stops_the_answer(demo_app: AppProcess, page: Page) -> None:
    page.goto(demo_app.url)
    send(page, 'a long rust module')
    answer = last_answer(page)
    expect(answer.locator('[data-testid=code-block]').first).to_be_visible(timeout=30_000)
    page.keyboard.press('Escape')
    expect(answer).to_have_attribute('data-status', 'interrupted', timeout=10_000)
    expect(answer.get_by_test_id('continue-button')).to_be_visible()
