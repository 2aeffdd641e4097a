"""An answer's card stays light, because time to first character depends on it.

NiceGUI re-renders the whole page's Vue tree on every update, so each element a card keeps costs every later update
on the page, and the frame that shows a new answer's first character waits for that re-render. These tests pin down
what the card is built from (only the controls that apply, no hidden elements) and that NiceGUI's dark mode no
longer restyles the whole page on each update (``components/dark_mode_guard.py``).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppProcess
from tests.e2e.test_streaming import last_answer, send, wait_done

pytestmark = pytest.mark.e2e

CONTROLS = ('stop', 'pause', 'resume', 'continue', 'retry')
#: The testids of the controls present in a card, in document order.
PRESENT = f'''el => Array.from(el.querySelectorAll("button[data-testid$='-button']"))
    .map(b => b.dataset.testid).filter(t => {list(f'{c}-button' for c in CONTROLS)}.includes(t))'''
#: NiceGUI elements (ids "c<number>") in a card, itself included; the answer's own text has no such ids.
ELEMENTS = 'el => 1 + el.querySelectorAll("[id^=c]").length'
COLOR_SCHEME_WRITES = '''() => {
    window.__schemeWrites = 0;
    const meta = document.getElementById("nicegui-color-scheme");
    new MutationObserver((records) => { window.__schemeWrites += records.length; })
        .observe(meta, { attributes: true });
}'''


def test_a_card_holds_only_the_controls_that_apply(demo_app: AppProcess, page: Page) -> None:
    page.goto(demo_app.url)
    send(page, 'a long python module please')
    answer = last_answer(page)
    expect(answer.locator('[data-testid=code-block]').first).to_be_visible(timeout=30_000)
    assert answer.evaluate(PRESENT) == ['stop-button', 'pause-button']
    assert answer.get_by_test_id('stream-progress').count() == 0  # streaming is on: no progress bar
    assert answer.get_by_test_id('stream-notice').count() == 0
    assert answer.locator('.scribe-error').count() == 0
    expect(answer.get_by_test_id('stream-status')).to_have_attribute('data-icon', 'edit_note')

    answer.get_by_test_id('pause-button').click()
    expect(answer.get_by_test_id('resume-button')).to_be_visible()
    assert answer.evaluate(PRESENT) == ['stop-button', 'resume-button']
    answer.get_by_test_id('resume-button').click()
    expect(answer.get_by_test_id('pause-button')).to_be_visible()
    assert answer.evaluate(PRESENT) == ['stop-button', 'pause-button']

    answer.get_by_test_id('stop-button').click()
    expect(answer).to_have_attribute('data-status', 'interrupted', timeout=10_000)
    expect(answer.get_by_test_id('stream-status')).to_have_attribute('data-icon', 'stop_circle')
    expect(answer.get_by_test_id('retry-button')).to_be_visible()
    assert answer.evaluate(PRESENT) == ['continue-button', 'retry-button']


def test_a_finished_card_is_a_handful_of_elements(demo_app: AppProcess, page: Page) -> None:
    page.goto(demo_app.url)
    send(page, 'a short sql query')
    wait_done(page)
    answer = last_answer(page)
    assert answer.evaluate(PRESENT) == ['retry-button']
    # The card, its head, status, rate, model, Retry and the answer's view.
    assert answer.evaluate(ELEMENTS) <= 7
    page.reload()  # built from storage: the same
    answer = last_answer(page)
    expect(answer).to_have_attribute('data-status', 'completed')
    assert answer.evaluate(PRESENT) == ['retry-button']
    assert answer.evaluate(ELEMENTS) <= 7


def test_updates_do_not_rewrite_the_color_scheme(demo_app: AppProcess, page: Page) -> None:
    """NiceGUI's dark mode re-applied its value on every update, which made Chromium restyle every element."""
    page.goto(demo_app.url)
    page.wait_for_function('window.did_handshake === true')
    page.evaluate(COLOR_SCHEME_WRITES)
    send(page, 'a short python function')
    wait_done(page)
    send(page, 'and a bash script')
    wait_done(page)
    assert page.evaluate('window.__schemeWrites') == 0
    # The theme still follows the preference at once (a change of value goes through).
    page.get_by_test_id('quick-settings').click()
    page.get_by_test_id('quick-theme').get_by_role('button', name='Dark', exact=True).click()
    page.wait_for_function('document.body.classList.contains("body--dark")')
    assert page.evaluate('window.__schemeWrites') >= 1
    assert page.get_attribute('#nicegui-color-scheme', 'content') == 'dark'
