"""The workspace on a phone-sized screen: the conversation is what one sees first, the top bar stays one line, and
nothing is wider than the screen, the head of a finished answer included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import AppProcess
from tests.e2e.test_streaming import last_answer, send, wait_done

pytestmark = pytest.mark.e2e

OVERFLOW = '() => document.documentElement.scrollWidth - window.innerWidth'


@pytest.fixture(params=[390, 320], ids=lambda w: f'{w}px')
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={'width': request.param, 'height': 780}, has_touch=True)
    yield context.new_page()
    context.close()


def test_a_phone_sees_the_conversation_in_one_screen_width(demo_app: AppProcess, phone: Page) -> None:
    phone.goto(demo_app.url)
    # The project list waits behind the menu instead of covering the conversation.
    expect(phone.get_by_test_id('new-project-button')).not_to_be_in_viewport()
    send(phone, 'Write a small rust web server for a project with a rather wordy name')
    wait_done(phone)
    header = phone.locator('.q-header').bounding_box()
    assert header is not None and header['height'] < 80  # one line, the title cut short rather than wrapped
    head = last_answer(phone).locator('.scribe-msg-head').bounding_box()
    assert head is not None and head['height'] < 100  # a few whole lines, not a column of squeezed words
    assert phone.evaluate(OVERFLOW) <= 0
    phone.locator('.q-header button').first.click()  # the menu
    expect(phone.get_by_test_id('new-project-button')).to_be_in_viewport()


def test_settings_and_stats_fit_a_phone(demo_app: AppProcess, phone: Page) -> None:
    for path in ('/settings', '/stats'):
        phone.goto(demo_app.url + path)
        expect(phone.locator('.q-header')).to_be_visible()
        header = phone.locator('.q-header').bounding_box()
        assert header is not None and header['height'] < 80, path  # its buttons down to their icons, on one line
        if path == '/stats':
            expect(phone.get_by_test_id('stats-chart-memory').locator('canvas').first).to_be_attached()
        assert phone.evaluate(OVERFLOW) <= 0, path
