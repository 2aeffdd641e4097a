"""Durability in Chromium: an answer survives a kill -9 of the server, a storm of reloads and a dropped websocket,
and always ends exact (no gap, no duplicate), with the event log telling what happened."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from services.providers.demo import demo_answer
from tests.e2e.conftest import AppProcess
from tests.e2e.test_streaming import CODE_TEXTS, expected_code, last_answer, send

pytestmark = pytest.mark.e2e

ANSWERS = '[data-testid=message][data-role=assistant]'


# --- reading the app's SQLite database from outside, read-only (it is in WAL mode) --------------------------------

def query(app: AppProcess, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    uri = f'file:{app.data_dir / "scribe.db"}?mode=ro'
    with closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        return db.execute(sql, args).fetchall()


def message_row(app: AppProcess, message_id: str) -> tuple[str, str, str]:
    """(streaming_status, content, partial_content) of a message as stored."""
    rows = query(app, 'SELECT streaming_status, content, partial_content FROM message WHERE id = ?', message_id)
    assert rows, f'message {message_id} is not in the database'
    return rows[0]


def events(app: AppProcess, message_id: str) -> list[tuple[str, int, str | None]]:
    """The message's event log in insertion order: (event_type, position, data)."""
    return query(app, 'SELECT event_type, position, data FROM streaming_event WHERE message_id = ? ORDER BY id',
                 message_id)


def poll(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Wait (polling, not sleeping a fixed time) until ``check()`` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout} s waiting for {what}')
        time.sleep(0.1)


def code_texts(page_or_answer: Any) -> list[str]:
    return page_or_answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS)


def started_answer(page: Page, app: AppProcess, prompt: str) -> tuple[str, str]:
    """Send ``prompt`` on a fresh workspace; wait until its answer streams code. (project id, answer id)"""
    page.goto(app.url)
    send(page, prompt)
    answer = last_answer(page)
    expect(answer.locator('[data-testid=code-block]').first).to_be_visible(timeout=30_000)
    assert answer.get_attribute('data-status') == 'streaming', 'the answer ended before the test could act'
    page.wait_for_url('**/projects/*')
    project_id = page.url.rstrip('/').rsplit('/', 1)[-1]
    message_id = answer.get_attribute('data-message-id')
    assert project_id and message_id
    return project_id, message_id


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Callable[..., AppProcess]]:
    """Start apps on demand (several may share a data folder, one after the other); all stopped at the end."""
    started: list[AppProcess] = []

    def start(data_dir: Path, *args: str) -> AppProcess:
        app = AppProcess(data_dir, '--provider', 'demo', *args)
        started.append(app)
        return app.start()

    yield start
    for app in started:
        app.stop()


# --- 1. kill -9 mid-stream ---------------------------------------------------------------------------------------

def test_kill_9_mid_stream_then_restart_keeps_the_checkpoint_and_continue_finishes_exactly(
        apps: Callable[..., AppProcess], tmp_path: Path, page: Page) -> None:
    prompt = 'a sql database schema, please'
    full_text = demo_answer(prompt)
    full = [code for _, code in expected_code(full_text)]
    data_dir = tmp_path / 'data'
    first = apps(data_dir, '--demo-speed', '400')  # ~3,300 characters: about 8 s for the whole answer

    project_id, message_id = started_answer(page, first, prompt)
    # A checkpoint with some code in it is on disk (the manager writes one about every second).
    poll(lambda: message_row(first, message_id)[2].count('```') >= 1
         and len(message_row(first, message_id)[2]) > 200, 'a checkpoint with code in it', timeout=30)
    assert message_row(first, message_id)[0] == 'streaming'

    first.kill()  # SIGKILL: no shutdown hook runs, nothing more is written
    assert first.proc is not None and first.proc.returncode == -9
    status, _content, checkpoint = message_row(first, message_id)
    assert status == 'streaming'  # what the dead process left behind
    assert checkpoint and full_text.startswith(checkpoint) and len(checkpoint) < len(full_text)

    second = apps(data_dir, '--demo-speed', '400')  # same database, new process, new port
    status, content, partial = message_row(second, message_id)
    assert (status, content, partial) == ('interrupted', checkpoint, checkpoint)

    page.goto(f'{second.url}/projects/{project_id}')
    answer = page.locator(f'{ANSWERS}[data-message-id="{message_id}"]')
    expect(answer).to_have_attribute('data-status', 'interrupted', timeout=15_000)
    shown = code_texts(answer)
    assert shown, 'the checkpoint had code, so code blocks are shown'
    assert shown == [code for _, code in expected_code(checkpoint)]  # exactly the last checkpoint
    assert all(full[i].startswith(code) for i, code in enumerate(shown))  # a prefix of the real answer
    assert shown != full
    continue_button = answer.get_by_test_id('continue-button')
    expect(continue_button).to_be_visible()

    continue_button.click()
    expect(answer).to_have_attribute('data-status', 'completed', timeout=60_000)
    assert code_texts(answer) == full
    assert answer.locator('[data-testid=code-block]').count() == len(full)
    assert page.locator(ANSWERS).count() == 1  # continued in place, not a second answer
    assert message_row(second, message_id) == ('completed', full_text, full_text)

    log = events(second, message_id)
    kinds = [kind for kind, _, _ in log]
    assert kinds.count('start') == 1 and kinds[0] == 'start'
    interrupt = kinds.index('interrupt')
    assert log[interrupt][1:] == (len(checkpoint), 'server restarted')
    assert 'continue' in kinds[interrupt:] and kinds[-1] == 'complete'
    assert log[kinds.index('continue', interrupt)][1] == len(checkpoint)  # continued from the checkpoint

    page.reload()  # what was stored is the whole answer
    assert code_texts(last_answer(page)) == full


# --- 2. reload storm --------------------------------------------------------------------------------------------

def test_a_reload_storm_mid_stream_leaves_one_generation_and_the_exact_text(
        apps: Callable[..., AppProcess], tmp_path: Path, page: Page) -> None:
    prompt = 'Write a typescript http api server, please'
    full_text = demo_answer(prompt)
    full = [code for _, code in expected_code(full_text)]
    app = apps(tmp_path / 'data', '--demo-speed', '200')  # ~3,900 characters: about 19 s

    _project_id, message_id = started_answer(page, app, prompt)
    during_stream = 0
    for i in range(20):
        # Hammering F5: most reloads cut the previous load short; every fourth one lets the page attach to the
        # live answer and receive a few batches before the next.
        page.reload(wait_until='commit')
        if i % 4 == 3:
            expect(page.locator(f'{ANSWERS}[data-message-id="{message_id}"]')).to_be_attached(timeout=15_000)
        page.wait_for_timeout(150)
        if message_row(app, message_id)[0] in ('pending', 'streaming'):
            during_stream += 1
    assert during_stream >= 10, f'only {during_stream} of the 20 reloads hit the live stream'

    answer = page.locator(f'{ANSWERS}[data-message-id="{message_id}"]')
    expect(answer).to_have_attribute('data-status', 'completed', timeout=60_000)
    assert code_texts(answer) == full
    assert answer.locator('[data-testid=code-block]').count() == len(full)
    assert page.locator(ANSWERS).count() == 1
    assert message_row(app, message_id) == ('completed', full_text, full_text)

    kinds = [kind for kind, _, _ in events(app, message_id)]
    assert kinds.count('start') == 1, kinds  # one generation, however many pages looked at it
    assert kinds[0] == 'start' and kinds[-1] == 'complete'
    assert not {'continue', 'interrupt', 'retry', 'error'} & set(kinds), kinds


# --- 3. dropped websocket ---------------------------------------------------------------------------------------

def test_dropped_websockets_reconnect_and_the_text_ends_exact(
        apps: Callable[..., AppProcess], tmp_path: Path, page: Page) -> None:
    """Three drops during one answer: the socket closed under the page (it reconnects at once), the network gone
    for 1 s (within NiceGUI's 3 s reconnect timeout: the same client comes back and NiceGUI replays what it
    missed, which the view must not apply twice) and gone for 4 s (with socket.io's backoff, past that timeout:
    the client is gone, the page reloads and shows a snapshot, then follows live). Each time the indicator leaves
    'connected' and comes back; the text ends exact."""
    prompt = 'A rust cli that counts words'
    full_text = demo_answer(prompt)
    full = [code for _, code in expected_code(full_text)]
    app = apps(tmp_path / 'data', '--demo-speed', '250')  # ~4,400 characters: about 18 s

    sockets: list[Any] = []
    page.on('websocket', lambda ws: sockets.append(ws))
    _project_id, message_id = started_answer(page, app, prompt)
    status = page.get_by_test_id('connection-status')
    answer = page.locator(f'{ANSWERS}[data-message-id="{message_id}"]')
    dropped = re.compile('^(reconnecting|offline)$')
    for drop, seconds in (('close-socket', 0), ('offline', 1), ('offline', 4)):
        expect(status).to_have_attribute('data-state', 'connected', timeout=30_000)
        expect(answer).to_have_attribute('data-status', 'streaming', timeout=10_000)  # the drop hits a live stream
        opened = len(sockets)
        if drop == 'close-socket':
            page.evaluate('window.socket.io.engine.close()')
            expect(status).to_have_attribute('data-state', dropped, timeout=10_000)
        else:
            page.context.set_offline(True)
            expect(status).to_have_attribute('data-state', dropped, timeout=10_000)
            page.wait_for_timeout(seconds * 1_000)  # the length of the outage is the point of the step
            page.context.set_offline(False)
        expect(status).to_have_attribute('data-state', 'connected', timeout=30_000)
        assert len(sockets) > opened, f'{drop}: the page should have opened a new websocket'

    expect(answer).to_have_attribute('data-status', 'completed', timeout=60_000)
    assert code_texts(answer) == full  # no gap, no duplicate
    assert answer.locator('[data-testid=code-block]').count() == len(full)  # each block once
    assert page.locator(ANSWERS).count() == 1
    assert message_row(app, message_id) == ('completed', full_text, full_text)
    kinds = [kind for kind, _, _ in events(app, message_id)]
    assert kinds.count('start') == 1 and kinds[-1] == 'complete', kinds
