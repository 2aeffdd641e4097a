"""The workspace page in Chromium: Markdown export, long projects opening fast, auto-scroll that lets the reader go.

The long project is written straight into the app's SQLite database through Storage before the app starts, as a
user who has used Scribe for a long time would have it.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from bench.load_bench import parse_metrics
from services.export import export_filename, parse_export
from services.providers.demo import demo_answer
from services.storage import MessageRecord, Storage
from tests.e2e.conftest import AppProcess
from tests.e2e.test_streaming import last_answer, send, wait_done

pytestmark = pytest.mark.e2e

PAGE_SIZE = 20
LONG_COUNT = 500
LANGUAGES = ('python', 'sql', 'rust', 'bash', 'typescript', 'go', 'css', 'html')
EXACT_TEXTS = (
    'Windows line ends\r\nand a lone\rcarriage return, a line\u2028separator, 👩‍💻 🇯🇵 e\u0301 — 漢字  \n',
    'An answer cut off inside a fence:\r\n\r\n```python\r\ndef f():\r\n    return "<!--"',
    '<!-- an html comment that never closes\n\n## You\n\nstill inside it',
    'An answer that failed halfway ~~~',
)
MESSAGES = '[data-testid=message]'
IDS = 'els => els.map(e => e.dataset.messageId)'
POSITION = '''() => { const s = document.scrollingElement;
    return {top: s.scrollTop, height: s.scrollHeight, bottom: s.scrollHeight - s.scrollTop - s.clientHeight}; }'''
FIRST_VISIBLE = '''() => { const m = [...document.querySelectorAll("[data-testid=message]")]
    .find(e => e.getBoundingClientRect().bottom > 60);
    return m ? [m.dataset.messageId, m.getBoundingClientRect().top] : null; }'''


@dataclass
class Seeded:
    app: AppProcess
    long_id: str
    long_messages: list[MessageRecord]
    exact_id: str
    exact_messages: list[MessageRecord]


async def _seed(data_dir: Path) -> tuple[str, list[MessageRecord], str, list[MessageRecord]]:
    async with Storage(f'sqlite:///{data_dir}/scribe.db') as storage:
        long = await storage.create_project('Five hundred long messages')
        for i in range(LONG_COUNT // 2):
            prompt = f'Question {i}: explain a {LANGUAGES[i % len(LANGUAGES)]} example ' + 'in some detail. ' * 12
            user = await storage.add_message(long.id, 'user', prompt)
            await storage.add_message(long.id, 'assistant', demo_answer(prompt), reply_to=user.id,
                                      provider='demo', model='scribe-demo')
        exact = await storage.create_project('Exact text: ünïcode & friends')
        user = await storage.add_message(exact.id, 'user', EXACT_TEXTS[0])
        await storage.add_message(exact.id, 'assistant', EXACT_TEXTS[1], status='interrupted', reply_to=user.id,
                                  provider='demo', model='scribe-demo')
        user = await storage.add_message(exact.id, 'user', EXACT_TEXTS[2])
        await storage.add_message(exact.id, 'assistant', EXACT_TEXTS[3], status='error', reply_to=user.id,
                                  provider='demo', model='scribe-demo', error='The provider failed.')
        return (long.id, await storage.list_messages(long.id), exact.id, await storage.list_messages(exact.id))


@pytest.fixture(scope='module')
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data_dir = tmp_path_factory.mktemp('seeded-app')
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API already runs an event loop in this thread
        long_id, long_messages, exact_id, exact_messages = pool.submit(asyncio.run, _seed(data_dir)).result()
    app = AppProcess(data_dir, '--provider', 'demo').start()
    yield Seeded(app, long_id, long_messages, exact_id, exact_messages)
    app.stop()


def download_export(page: Page) -> tuple[str, str]:
    """(suggested file name, text) of the file the export button downloads."""
    with page.expect_download(timeout=60_000) as info:
        page.get_by_test_id('export-button').click()
    download = info.value
    raw = Path(download.path()).read_bytes()
    return download.suggested_filename, raw.decode('utf-8')  # strict: the file is valid UTF-8


def position(page: Page) -> dict[str, float]:
    return page.evaluate(POSITION)


def top_of(page: Page, message_id: str) -> float:
    """Where a message is in the viewport now."""
    return page.locator(f'[data-message-id="{message_id}"]').evaluate('e => e.getBoundingClientRect().top')


# --- export ---------------------------------------------------------------------------------------------------


def test_export_downloads_the_streamed_answer_exactly(demo_app: AppProcess, page: Page) -> None:
    prompt = 'tricky unicode please'
    answer = demo_answer(prompt)
    assert '\u2028' in answer and '👩\u200d💻' in answer
    page.goto(demo_app.url)
    expect(page.get_by_test_id('export-button')).to_be_hidden()  # nothing to export before the first prompt
    send(page, prompt)
    wait_done(page)
    name, text = download_export(page)
    assert name == 'tricky-unicode-please.md'
    assert text.startswith('# tricky unicode please\n')
    assert [(m.role, m.status, m.text) for m in parse_export(text)] == [
        ('user', 'completed', prompt), ('assistant', 'completed', answer)]
    assert '## You\n\n' in text and '## Assistant (demo / scribe-demo)\n\n' in text
    assert answer in text  # verbatim: nothing escaped, nothing wrapped


def test_export_keeps_stored_text_exactly_and_marks_unfinished_answers(seeded: Seeded, page: Page) -> None:
    page.goto(f'{seeded.app.url}/projects/{seeded.exact_id}')
    expect(page.locator(MESSAGES)).to_have_count(4)
    name, text = download_export(page)
    assert name == export_filename('Exact text: ünïcode & friends') == 'exact-text-unicode-friends.md'
    read = parse_export(text)
    assert [m.text for m in read] == list(EXACT_TEXTS)
    assert [m.id for m in read] == [m.id for m in seeded.exact_messages]
    assert [m.status for m in read] == ['completed', 'interrupted', 'completed', 'error']
    assert '## Assistant (demo / scribe-demo) · interrupted\n' in text
    assert '## Assistant (demo / scribe-demo) · error\n\n> The provider failed.\n' in text
    for exact in EXACT_TEXTS:
        assert exact in text


def test_export_of_a_long_project_has_every_message_not_only_those_shown(seeded: Seeded, page: Page) -> None:
    page.goto(f'{seeded.app.url}/projects/{seeded.long_id}')
    expect(page.locator(MESSAGES)).to_have_count(PAGE_SIZE)
    _, text = download_export(page)
    read = parse_export(text)
    assert [(m.id, m.role, m.text) for m in read] == [(m.id, m.role, m.content) for m in seeded.long_messages]


# --- long projects ----------------------------------------------------------------------------------------------


def test_a_project_of_500_long_messages_opens_with_the_newest_and_reaches_the_rest(seeded: Seeded,
                                                                                   page: Page) -> None:
    messages = seeded.long_messages
    assert len(messages) == LONG_COUNT and sum(len(m.content) for m in messages) > 900_000
    start = time.perf_counter()
    page.goto(f'{seeded.app.url}/projects/{seeded.long_id}')
    shown = page.locator(MESSAGES)
    expect(shown.last).to_be_visible(timeout=30_000)
    # Measured and reported, not asserted (machines differ).
    print(f'\n500 long messages: the newest visible after {time.perf_counter() - start:.2f} s')
    expect(shown).to_have_count(PAGE_SIZE)
    assert shown.last.get_attribute('data-message-id') == messages[-1].id
    assert position(page)['bottom'] <= 48  # opens at the newest message
    expect(page.get_by_test_id('jump-to-latest')).to_be_hidden()
    control = page.get_by_test_id('load-earlier')
    expect(control).to_contain_text(str(LONG_COUNT - PAGE_SIZE))
    page.wait_for_timeout(1_000)
    expect(shown).to_have_count(PAGE_SIZE)  # nothing more loads while the reader stays at the bottom

    # The control loads the batch before (a click, or Enter on it); a reader at the bottom stays there.
    control.dispatch_event('click')
    expect(shown).to_have_count(2 * PAGE_SIZE, timeout=20_000)
    page.wait_for_timeout(300)
    assert position(page)['bottom'] <= 48
    expect(control).to_contain_text(str(LONG_COUNT - 2 * PAGE_SIZE))

    # Scrolling to the top brings the previous batch, and what the reader sees does not move.
    seen = page.evaluate(f'() => {{ window.scrollTo(0, 0); return ({FIRST_VISIBLE})(); }}')  # before it can land
    expect(shown).to_have_count(3 * PAGE_SIZE, timeout=20_000)
    page.wait_for_timeout(300)
    assert abs(top_of(page, seen[0]) - seen[1]) <= 1
    assert position(page)['top'] > 2_000  # the batch went in above the view
    expect(page.get_by_test_id('jump-to-latest')).to_be_visible()
    assert shown.evaluate_all(IDS) == [m.id for m in messages[-3 * PAGE_SIZE:]]

    # The rest is reachable: each time the reader is back at the top, the batch before comes, in order.
    while shown.count() < LONG_COUNT:
        count = shown.count()
        page.evaluate('() => window.scrollTo(0, 0)')
        expect(shown).not_to_have_count(count, timeout=20_000)
    expect(control).to_be_hidden()
    assert shown.evaluate_all(IDS) == [m.id for m in messages]
    assert shown.first.get_by_test_id('message-content').text_content() == messages[0].content


# --- auto-scroll ------------------------------------------------------------------------------------------------


def record_scroll(page: Page, element: Locator) -> None:
    """From now on, note the scroll position each time ``element`` changes size, as the reader sees it: this
    observer is created after the page's own, so it runs after the page has reacted, in the same frame."""
    element.evaluate('''(el) => { window.scrollLog = [];
        new ResizeObserver(() => { const s = document.scrollingElement;
            window.scrollLog.push({top: s.scrollTop, bottom: s.scrollHeight - s.scrollTop - s.clientHeight});
        }).observe(el); }''')


def record_after_updates(page: Page) -> None:
    """From now on, note the scroll position right after each update of a live answer is applied, in the same task,
    before any frame: the frame that shows new text must already show it scrolled into view (a scroll made later,
    after that frame's layout, would need a frame of its own)."""
    page.evaluate('''() => { window.updateLog = []; const run = window.runMethod;
        window.runMethod = function (id, name, args) {
            const result = run.apply(this, arguments);
            if (name === 'apply') { const s = document.scrollingElement;
                window.updateLog.push(s.scrollHeight - s.scrollTop - s.clientHeight); }
            return result;
        }; }''')


def scroll_log(page: Page) -> list[dict[str, float]]:
    """The positions noted since the last call."""
    return page.evaluate('() => window.scrollLog.splice(0)')


def following(page: Page) -> None:
    """The view stays at the end while the text grows: new text may land between a scroll and the next sample
    (more so on a loaded machine), so each sample may be a few lines short, but never falls behind for good."""
    page.wait_for_function(f'() => ({POSITION})().bottom <= 48', timeout=5_000)
    scroll_log(page)
    page.wait_for_timeout(1_000)
    log = scroll_log(page)
    assert len(log) > 5 and all(p['bottom'] <= 400 for p in log) and log[-1]['bottom'] <= 400


def test_auto_scroll_follows_until_the_reader_scrolls_up_then_jump_resumes(demo_app: AppProcess, page: Page) -> None:
    page.goto(demo_app.url)
    send(page, 'a long python module please')
    answer = last_answer(page)
    expect(answer).to_have_attribute('data-status', 'streaming', timeout=15_000)
    jump = page.get_by_test_id('jump-to-latest')
    page.wait_for_function('() => document.scrollingElement.scrollHeight > 3 * innerHeight', timeout=30_000)
    record_scroll(page, answer)
    record_after_updates(page)
    # The rest of the page's scroll listeners (Quasar's layout has one) hear of the reader's scrolls, not of the
    # page's own scrolls that follow the answer: those would cost the browser a frame per update.
    page.evaluate('() => { window.othersHeard = 0; window.addEventListener("scroll", () => window.othersHeard++); }')

    # Following: the bottom stays in view every time the answer grows, from the moment the growth is applied.
    page.wait_for_timeout(1_000)
    log = scroll_log(page)
    assert len(log) > 5 and all(p['bottom'] <= 48 for p in log)
    after_updates = page.evaluate('() => window.updateLog.splice(0)')
    assert len(after_updates) > 5 and all(bottom <= 1 for bottom in after_updates), after_updates
    assert page.evaluate('() => window.othersHeard') == 0
    expect(jump).to_be_hidden()

    # The reader scrolls up: following stops at once, the view stays put, the button appears.
    page.mouse.move(640, 450)
    page.mouse.wheel(0, -1200)
    expect(jump).to_be_visible()
    page.wait_for_timeout(400)  # let the wheel's smooth scroll end
    assert page.evaluate('() => window.othersHeard') > 0
    before, seen = position(page), page.evaluate(FIRST_VISIBLE)
    scroll_log(page)
    page.wait_for_timeout(1_500)
    log = scroll_log(page)
    assert answer.get_attribute('data-status') == 'streaming'
    assert len(log) > 5 and all(p['top'] == before['top'] for p in log)  # it grew below, the view did not move
    assert log[-1]['bottom'] > before['bottom'] + 200
    assert abs(top_of(page, seen[0]) - seen[1]) <= 1

    # Jump to latest: at the bottom, and following again as the answer grows.
    jump.click()
    expect(jump).to_be_hidden()
    following(page)
    expect(jump).to_be_hidden()

    # Scrolling back down to the bottom by hand resumes following too.
    page.mouse.wheel(0, -800)
    expect(jump).to_be_visible()
    page.wait_for_timeout(400)
    page.mouse.wheel(0, 5_000)
    expect(jump).to_be_hidden()
    following(page)
    answer.get_by_test_id('stop-button').dispatch_event('click')  # it moves with the text: never 'stable'
    expect(answer).to_have_attribute('data-status', 'interrupted', timeout=10_000)


def _page_figures(app: AppProcess) -> tuple[float, float]:
    with urllib.request.urlopen(app.url + '/metrics', timeout=30) as response:
        metrics = parse_metrics(response.read().decode('utf-8'))
    return metrics['scribe_clients'], metrics['scribe_client_elements']


def test_a_page_left_for_good_frees_its_elements_before_its_client_goes(demo_app: AppProcess, page: Page) -> None:
    """pagehide's beacon (pages/housekeeping.py): the page's elements go at once; NiceGUI deletes the emptied client
    after its reconnect timeout, as for a socket that only dropped."""
    for _ in range(200):  # pages of earlier tests are deleted after the reconnect timeout
        if _page_figures(demo_app)[0] == 0:
            break
        time.sleep(0.05)
    clients_before, elements_before = _page_figures(demo_app)
    page.goto(demo_app.url)
    page.wait_for_function('window.did_handshake === true')
    clients, elements = _page_figures(demo_app)
    assert clients >= clients_before + 1 and elements > elements_before + 10
    page.goto('about:blank')  # a page with an open websocket is not kept in the back-forward cache
    seen: list[tuple[float, float]] = []
    for _ in range(200):
        seen.append(_page_figures(demo_app))
        if seen[-1][0] < clients:
            break
        time.sleep(0.02)
    # Emptied while still there, then deleted.
    assert any(c == clients and e <= elements_before + 1 for c, e in seen), (clients_before, elements_before, seen[:5])
    assert seen[-1][0] < clients, seen[-3:]


def test_a_visit_leaves_no_per_browser_state_on_the_server(demo_app: AppProcess) -> None:
    """NiceGUI's user storage (a dict kept for every browser that ever visits) comes with a storage secret and its
    session cookie; Scribe keeps its state in its database and sets neither."""
    with urllib.request.urlopen(demo_app.url + '/', timeout=30) as response:
        cookies = response.headers.get_all('Set-Cookie') or []
    assert not any(c.lower().startswith('session=') for c in cookies), cookies
