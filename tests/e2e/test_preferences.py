"""Preferences in Chromium: each change made on /settings (or in the workspace's quick menu) shows at once on
another page that is streaming an answer, without a reload; bad values are refused next to their field; choices
survive a reload and a restart."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pygments.styles import get_style_by_name
from pygments.token import Keyword

from tests.e2e.conftest import AppProcess
from tests.e2e.test_streaming import CODE_TEXTS, expected_code, last_answer, send

pytestmark = pytest.mark.e2e

STEPS = 40  # the code block is about 6,000 characters: 20 s of streaming at 300 characters per second
_FUNCS = '\n'.join(f'''    def step_{i}(self, value: int) -> int:
        """Step {i} of the pipeline."""
        if value % {i + 2} == 0:
            return value // {i + 2}
        return value * {i + 3} + 1
''' for i in range(STEPS))
SCRIPT = f'''Here is a small pipeline class, with a short explanation after it.

```python
import re
from dataclasses import dataclass, field


@dataclass
class Pipeline:
    """Runs every step in order."""
    name: str
    seen: list[int] = field(default_factory=list)

{_FUNCS}
    def run(self, value: int) -> int:
        for n in range({STEPS}):
            value = getattr(self, f"step_{{n}}")(value)
            self.seen.append(value)
        return value


print(Pipeline("demo").run(7))  # "done"
```

Each step either divides or multiplies, so the value stays small; `seen` keeps the trace for debugging.
'''
EXPECTED_CODE = [code for _, code in expected_code(SCRIPT)]

# The element the cursor is drawn after, while a code block is being written.
CURSOR_HOST = "document.querySelector('.scribe-stream.streaming .sv-live.sv-code .sv-ctail')"
CURSOR = f'''() => {{ const h = {CURSOR_HOST}; if (!h) return null; const s = getComputedStyle(h, '::after');
    return {{content: s.content, width: parseFloat(s.width), height: parseFloat(s.height),
             animation: s.animationName, fontSize: parseFloat(getComputedStyle(h).fontSize)}}; }}'''
SHOWN = '''() => { const m = Array.from(document.querySelectorAll('[data-testid=message][data-role=assistant]')).pop();
    return m ? m.querySelector('[data-testid=message-content]').textContent.length : -1; }'''

SAMPLER = f'''() => {{
    window.__steps = new Set();
    const tick = () => {{ const n = ({SHOWN})(); if (n > 0) window.__steps.add(n); requestAnimationFrame(tick); }};
    tick();
}}'''


def keyword_color(style: str) -> str:
    color = get_style_by_name(style).style_for_token(Keyword)['color']
    r, g, b = (int(color[i:i + 2], 16) for i in (0, 2, 4))
    return f'rgb({r}, {g}, {b})'


@pytest.fixture(scope='module')
def script_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp('prefs-script') / 'answer.md'
    path.write_text(SCRIPT, encoding='utf-8')
    return path


@pytest.fixture(scope='module')
def prefs_app(tmp_path_factory: pytest.TempPathFactory, script_file: Path) -> Iterator[AppProcess]:
    """Every prompt gets SCRIPT at 300 characters per second (its code block takes about 20 s, enough to change
    several settings while it streams even on a busy machine; tests that need the end stop it, or use the demo's
    fast model)."""
    app = AppProcess(tmp_path_factory.mktemp('prefs-app'), '--demo-script', str(script_file),
                     '--demo-speed', '300').start()
    yield app
    app.stop()


@pytest.fixture(scope='module')
def burst_app(tmp_path_factory: pytest.TempPathFactory, script_file: Path) -> Iterator[AppProcess]:
    """The provider sends the whole of SCRIPT at once."""
    app = AppProcess(tmp_path_factory.mktemp('burst-app'), '--demo-script', str(script_file),
                     '--demo-speed', 'inf').start()
    yield app
    app.stop()


def settings(context: BrowserContext, app: AppProcess, *, reset: bool = True) -> Page:
    """/settings in a page of its own, back to the defaults (preferences are per user, shared by the tests)."""
    page = context.new_page()
    page.goto(f'{app.url}/settings')
    if reset:
        page.get_by_test_id('settings-reset').click()
        expect(page.get_by_test_id('settings-saved')).to_have_text('Back to the defaults')
    return page


def switch(page: Page, name: str, on: bool) -> None:
    control = page.get_by_test_id(f'pref-{name}')
    if (control.get_attribute('aria-checked') == 'true') != on:
        control.click()
    expect(control).to_have_attribute('aria-checked', 'true' if on else 'false')


def choose(page: Page, name: str, label: str) -> None:
    """A button of a toggle group."""
    page.get_by_test_id(f'pref-{name}').get_by_role('button', name=label, exact=True).click()


def select(page: Page, name: str, option: str) -> None:
    page.bring_to_front()  # a menu's opening transition waits for animation frames, which a background tab lacks
    page.get_by_test_id(f'pref-{name}').click()
    page.get_by_role('option', name=option, exact=True).click()
    expect(page.get_by_role('listbox')).to_have_count(0)


def type_in(page: Page, name: str, text: str) -> None:
    field = page.get_by_test_id(f'pref-{name}')
    field.fill(text)
    field.press('Enter')


def saved(page: Page, name: str) -> None:
    """Wait until the page says this field was saved."""
    labels = {'highlight_style': 'Highlight style (light)', 'code_font_size': 'Code font size',
              'smooth_cps': 'Typewriter pace', 'model': 'Default model', 'temperature': 'Temperature'}
    expect(page.get_by_test_id('settings-saved')).to_have_text(f'Saved: {labels.get(name, name)}')


def streaming_code(app: AppProcess, context: BrowserContext, prompt: str = 'a pipeline') -> Page:
    """A workspace page whose answer is writing its code block now."""
    page = context.new_page()
    page.goto(app.url)
    page.evaluate('window.__sameDocument = true')
    send(page, prompt)
    expect(last_answer(page).locator('[data-testid=code-block][data-streaming=true]')).to_be_visible(timeout=30_000)
    return page


def stop(page: Page) -> None:
    """Stop the answer being written (Escape: the Stop button moves while the page follows the stream)."""
    page.keyboard.press('Escape')
    expect(last_answer(page)).to_have_attribute('data-status', 'interrupted')


def not_reloaded(page: Page) -> None:
    assert page.evaluate('window.__sameDocument === true'), 'the page was reloaded'


def wait_cursor(page: Page, condition: str) -> dict[str, object]:
    """Wait until the live code block's cursor satisfies ``condition`` (JS over ``c``), and return it."""
    handle = page.wait_for_function(f'() => {{ const c = ({CURSOR})(); return c && ({condition}) ? c : null; }}',
                                    timeout=15_000)
    value = handle.json_value()
    assert isinstance(value, dict)
    return value


def test_cursor_style_blink_and_off_apply_to_a_streaming_page(prefs_app: AppProcess, page: Page) -> None:
    st = settings(page.context, prefs_app)
    ws = streaming_code(prefs_app, page.context)
    block = wait_cursor(ws, "c.content !== 'none'")
    assert block['width'] > 0.4 * float(block['fontSize'])  # a block: about half a character wide
    wait_cursor(ws, "c.animation === 'none'")  # like an editor's caret: steady while text arrives

    choose(st, 'cursor_style', 'Bar')
    bar = wait_cursor(ws, 'c.width < 3')
    assert bar['height'] > 0.8 * float(bar['fontSize'])
    choose(st, 'cursor_style', 'Underscore')
    underscore = wait_cursor(ws, 'c.height < 4')
    assert underscore['width'] > 0.4 * float(underscore['fontSize'])
    switch(st, 'cursor_blink', False)
    assert wait_cursor(ws, "c.animation === 'none'")['content'] != 'none'  # steady: shown, not animated
    switch(st, 'cursor', False)
    wait_cursor(ws, "c.content === 'none'")  # gone, while the block is still being written
    assert last_answer(ws).get_attribute('data-status') == 'streaming'
    switch(st, 'cursor', True)
    wait_cursor(ws, "c.content !== 'none' && c.animation === 'none'")
    not_reloaded(ws)
    stop(ws)


# The animation of the cursor of an answer that has no text yet, on each frame until its text begins.
THINKING = '''() => { window.__thinking = []; window.__thought = false;
    const tick = () => { const s = document.querySelector('.scribe-stream.streaming:empty');
        if (s) window.__thinking.push(getComputedStyle(s, '::after').animationName);
        else if (window.__thinking.length) { window.__thought = true; return; }
        requestAnimationFrame(tick); };
    tick(); }'''


def test_the_cursor_blinks_while_the_model_thinks_and_holds_still_while_text_arrives(demo_app: AppProcess,
                                                                                      page: Page) -> None:
    page.goto(demo_app.url)
    page.bring_to_front()  # animation frames run in the tab in front
    page.evaluate(THINKING)
    send(page, 'a long python module please')  # the demo model thinks for 150-300 ms before it writes
    page.wait_for_function('window.__thought', timeout=15_000)
    assert set(page.evaluate('window.__thinking')) == {'sv-blink'}
    wait_cursor(page, "c.content !== 'none' && c.animation === 'none'")  # its code block is being written
    stop(page)


def test_code_colours_size_numbers_and_wrap_apply_live_and_keep_the_code_exact(prefs_app: AppProcess,
                                                                               page: Page) -> None:
    st = settings(page.context, prefs_app)
    choose(st, 'theme', 'Light')
    ws = streaming_code(prefs_app, page.context)
    code = last_answer(ws).get_by_test_id('code-text').first
    keyword = last_answer(ws).locator('[data-testid=code-block] span.k').first
    expect(keyword).to_have_css('color', keyword_color('default'))
    expect(code).to_have_css('font-size', '13px')
    expect(code).to_have_css('white-space', 'pre')

    select(st, 'highlight_style', 'vs')
    expect(keyword).to_have_css('color', keyword_color('vs'))
    type_in(st, 'code_font_size', '18')
    expect(code).to_have_css('font-size', '18px')
    switch(st, 'line_wrap', True)
    expect(code).to_have_css('white-space', 'pre-wrap')
    switch(st, 'line_numbers', True)
    first_line = code.locator('.ln').first
    ws.wait_for_function('el => getComputedStyle(el, "::before").content.includes("counter")',
                         arg=first_line.element_handle())
    # The numbers are drawn, not written: the code's text is what the model sent so far, not a digit more.
    shown = code.text_content() or ''
    assert shown and EXPECTED_CODE[0].startswith(shown)
    assert last_answer(ws).get_attribute('data-status') == 'streaming'

    choose(st, 'theme', 'Dark')
    ws.wait_for_function('document.body.classList.contains("body--dark")')
    expect(keyword).to_have_css('color', keyword_color('monokai'))
    select(st, 'highlight_style_dark', 'github-dark')
    expect(keyword).to_have_css('color', keyword_color('github-dark'))

    # Enough lines to check the numbering on (how many the steps above took time for varies: 18-28 were seen).
    ws.wait_for_function("el => (el.textContent.match(/\\n/g) || []).length > 20", arg=code.element_handle())
    stop(ws)
    shown = code.text_content() or ''
    assert EXPECTED_CODE[0].startswith(shown) and shown.count('\n') > 20
    numbers = code.locator('.ln').evaluate_all('els => els.map(e => getComputedStyle(e, "::before").content)')
    lines = shown.count('\n') + (0 if shown.endswith('\n') else 1)  # a cut last line is a line too
    assert len(numbers) == lines and all('counter' in n for n in numbers)
    # Selecting the block and copying gives the code itself: no numbers, no extra newline between line blocks.
    copied = code.evaluate('''el => {
        const range = document.createRange(); range.selectNodeContents(el);
        const selection = window.getSelection(); selection.removeAllRanges(); selection.addRange(range);
        const event = new ClipboardEvent('copy', {clipboardData: new DataTransfer(), bubbles: true, cancelable: true});
        el.dispatchEvent(event);
        return event.clipboardData.getData('text/plain'); }''')
    assert copied == shown
    not_reloaded(ws)


def test_theme_light_dark_and_system(prefs_app: AppProcess, page: Page) -> None:
    st = settings(page.context, prefs_app)
    ws = page.context.new_page()
    ws.emulate_media(color_scheme='dark')
    ws.goto(prefs_app.url)
    ws.evaluate('window.__sameDocument = true')
    dark = 'document.body.classList.contains("body--dark")'
    ws.wait_for_function(dark)  # the default follows the system, which is dark here
    choose(st, 'theme', 'Light')
    ws.wait_for_function(f'!{dark}')
    choose(st, 'theme', 'Dark')
    ws.wait_for_function(dark)
    choose(st, 'theme', 'System')
    ws.wait_for_function(dark)
    ws.emulate_media(color_scheme='light')
    ws.wait_for_function(f'!{dark}')  # and it follows a change of the system's setting
    not_reloaded(ws)
    ws.emulate_media(color_scheme='dark')
    ws.reload()  # a page opened in dark mode is dark from its first paint
    assert ws.evaluate(dark)


def test_streaming_off_shows_progress_then_the_whole_answer_at_once(prefs_app: AppProcess, page: Page) -> None:
    st = settings(page.context, prefs_app)
    select(st, 'model', 'scribe-demo-fast')  # 4 times the pace: the end comes sooner
    saved(st, 'model')
    switch(st, 'streaming', False)
    ws = page.context.new_page()
    ws.goto(prefs_app.url)
    send(ws, 'a pipeline, all at once')
    answer = last_answer(ws)
    expect(answer).to_have_attribute('data-status', 'streaming', timeout=30_000)
    expect(answer.get_by_test_id('stream-progress')).to_be_visible()
    samples = []
    for _ in range(5):
        samples.append((answer.get_attribute('data-status'), ws.evaluate(SHOWN)))
        ws.wait_for_timeout(250)
    # Nothing of the answer is shown while it is written, though the status says it is streaming.
    assert all(shown == 0 for status, shown in samples if status == 'streaming'), samples
    assert any(status == 'streaming' for status, _ in samples)
    expect(answer).to_have_attribute('data-status', 'completed', timeout=60_000)
    expect(answer.get_by_test_id('stream-progress')).to_be_hidden()
    assert answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == EXPECTED_CODE
    assert 'seen keeps the trace for debugging' in (answer.get_by_test_id('message-content').inner_text())


def test_streaming_back_on_mid_answer_shows_the_text_so_far_and_goes_on_live(prefs_app: AppProcess,
                                                                            page: Page) -> None:
    st = settings(page.context, prefs_app)
    ws = streaming_code(prefs_app, page.context)
    answer = last_answer(ws)
    switch(st, 'streaming', False)
    expect(answer.get_by_test_id('stream-progress')).to_be_visible()
    expect(answer.get_by_test_id('message-content')).to_be_hidden()
    # Turned back on from the workspace's quick menu: the text so far at once, then live until the end.
    ws.bring_to_front()
    ws.get_by_test_id('quick-settings').click()
    quick = ws.get_by_test_id('quick-streaming')
    expect(quick).to_have_attribute('aria-checked', 'false')
    quick.click()
    expect(answer.get_by_test_id('message-content')).to_be_visible()
    expect(answer.get_by_test_id('stream-progress')).to_be_hidden()
    expect(st.get_by_test_id('pref-streaming')).to_have_attribute('aria-checked', 'true')  # and on /settings
    first = ws.evaluate(SHOWN)
    assert first > 0
    if answer.get_attribute('data-status') == 'streaming':
        ws.wait_for_function(f'({SHOWN})() > {first}')
    ws.keyboard.press('Escape')  # closes the menu
    expect(ws.get_by_test_id('quick-menu')).to_be_hidden()
    stop(ws)
    shown = answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS)
    assert shown and EXPECTED_CODE[0].startswith(shown[0])  # held and live parts joined without a gap
    not_reloaded(ws)


def test_quick_menu_turns_the_cursor_off_and_links_to_all_settings(prefs_app: AppProcess, page: Page) -> None:
    settings(page.context, prefs_app).close()
    ws = streaming_code(prefs_app, page.context)
    wait_cursor(ws, "c.content !== 'none'")
    ws.bring_to_front()
    ws.get_by_test_id('quick-settings').click()
    ws.get_by_test_id('quick-cursor').click()
    wait_cursor(ws, "c.content === 'none'")
    ws.get_by_test_id('quick-theme').get_by_role('button', name='Dark', exact=True).click()
    ws.wait_for_function('document.body.classList.contains("body--dark")')
    not_reloaded(ws)
    ws.keyboard.press('Escape')  # closes the menu; the answer goes on (Escape stops it only outside the menu)
    expect(ws.get_by_test_id('quick-menu')).to_be_hidden()
    assert last_answer(ws).get_attribute('data-status') == 'streaming'
    stop(ws)
    ws.get_by_test_id('quick-settings').click()
    ws.get_by_test_id('quick-all-settings').click()
    ws.wait_for_url('**/settings')
    expect(ws.get_by_test_id('pref-cursor')).to_have_attribute('aria-checked', 'false')


def test_instant_speed_shows_the_held_text_at_once_after_resume(prefs_app: AppProcess, page: Page) -> None:
    st = settings(page.context, prefs_app)
    choose(st, 'speed', 'Instant')
    ws = streaming_code(prefs_app, page.context)
    answer = last_answer(ws)
    answer.get_by_test_id('pause-button').click()
    expect(answer.get_by_test_id('resume-button')).to_be_visible()
    ws.bring_to_front()
    held = ws.evaluate(SHOWN)
    ws.wait_for_timeout(2000)  # about 600 characters arrive meanwhile, held
    assert ws.evaluate(SHOWN) == held
    ws.evaluate(SAMPLER)
    answer.get_by_test_id('resume-button').click()
    ws.wait_for_function(f'({SHOWN})() > {held}')
    ws.wait_for_timeout(300)
    steps = sorted(ws.evaluate('Array.from(window.__steps)'))
    # The first change after Resume is the whole held part (the default catches up in about 30 small steps).
    after = [n for n in steps if n > held]
    assert after and after[0] - held >= 300, (held, steps)
    stop(ws)
    shown = answer.get_by_test_id('code-text').evaluate_all(CODE_TEXTS)
    assert shown and EXPECTED_CODE[0].startswith(shown[0])


def test_invalid_values_are_refused_next_to_their_field_and_not_saved(prefs_app: AppProcess, page: Page) -> None:
    st = settings(page.context, prefs_app)
    type_in(st, 'temperature', '0.5')
    saved(st, 'temperature')
    type_in(st, 'temperature', '5')
    expect(st.get_by_test_id('pref-error-temperature')).to_have_text('must be from 0 to 2')
    choose(st, 'speed', 'Typewriter')
    type_in(st, 'smooth_cps', '0')
    expect(st.get_by_test_id('pref-error-smooth_cps')).to_have_text('must be from 20 to 20,000')
    type_in(st, 'buffer_size', 'abc')
    expect(st.get_by_test_id('pref-error-buffer_size')).to_have_text('must be a whole number')
    expect(st.get_by_test_id('pref-error-temperature')).to_have_text('must be from 0 to 2')  # each keeps its own
    type_in(st, 'smooth_cps', '250')
    expect(st.get_by_test_id('pref-error-smooth_cps')).to_be_hidden()
    saved(st, 'smooth_cps')

    st.reload()
    expect(st.get_by_test_id('pref-temperature')).to_have_value('0.5')
    expect(st.get_by_test_id('pref-smooth_cps')).to_have_value('250')
    expect(st.get_by_test_id('pref-buffer_size')).to_have_value('4096')
    for name in ('temperature', 'smooth_cps', 'buffer_size'):
        expect(st.get_by_test_id(f'pref-error-{name}')).to_be_hidden()


def test_the_default_model_is_used_for_the_next_prompt(prefs_app: AppProcess, page: Page) -> None:
    st = settings(page.context, prefs_app)
    select(st, 'model', 'scribe-demo-fast')
    saved(st, 'model')
    ws = page.context.new_page()
    ws.goto(prefs_app.url)
    send(ws, 'a pipeline, fast')
    model = last_answer(ws).get_by_test_id('stream-model')
    expect(model).to_have_attribute('data-model', 'scribe-demo-fast', timeout=30_000)
    expect(model).to_have_attribute('data-provider', 'demo')
    expect(last_answer(ws)).to_have_attribute('data-status', 'completed', timeout=60_000)  # 4 times the pace
    st.reload()
    expect(st.get_by_test_id('pref-model')).to_have_value('scribe-demo-fast')


def shown_steps(app: AppProcess, context: BrowserContext, prompt: str) -> list[int]:
    """Every distinct length of the answer's text, sampled at each animation frame from the prompt on."""
    ws = context.new_page()
    ws.goto(app.url)
    ws.bring_to_front()  # animation frames run in the tab in front
    ws.evaluate(SAMPLER)
    send(ws, prompt)
    expect(last_answer(ws)).to_have_attribute('data-status', 'completed', timeout=30_000)
    assert last_answer(ws).get_by_test_id('code-text').evaluate_all(CODE_TEXTS) == EXPECTED_CODE
    lengths = ws.evaluate('Array.from(window.__steps)')
    ws.close()
    return list(lengths)


def test_typewriter_speed_paces_a_burst_into_a_steady_flow(burst_app: AppProcess, page: Page) -> None:
    st = settings(page.context, burst_app)
    at_once = shown_steps(burst_app, page.context, 'a pipeline, as sent')
    choose(st, 'speed', 'Typewriter')
    type_in(st, 'smooth_cps', '400')
    saved(st, 'smooth_cps')
    paced = shown_steps(burst_app, page.context, 'a pipeline, typed')
    # The provider sends it all at once; typed, it grows in many small steps instead of a few large ones.
    assert len(paced) >= 6, paced
    assert len(paced) > len(at_once), (paced, at_once)


def test_preferences_persist_across_a_reload_and_a_restart(tmp_path: Path, page: Page) -> None:
    app = AppProcess(tmp_path / 'restart-app', '--demo-speed', '2000').start()
    try:
        st = settings(page.context, app, reset=False)
        switch(st, 'line_numbers', True)
        choose(st, 'cursor_style', 'Underscore')
        type_in(st, 'temperature', '0.7')
        saved(st, 'temperature')
        st.reload()
        expect(st.get_by_test_id('pref-line_numbers')).to_have_attribute('aria-checked', 'true')
        expect(st.get_by_test_id('pref-temperature')).to_have_value('0.7')
        st.close()  # (an open page reloads by itself when its server comes back)
        app.stop()
        app.start()
        st = page.context.new_page()
        st.goto(f'{app.url}/settings')
        expect(st.get_by_test_id('pref-line_numbers')).to_have_attribute('aria-checked', 'true')
        chosen = st.get_by_test_id('pref-cursor_style').get_by_role('button', name='Underscore', exact=True)
        expect(chosen).to_have_class(re.compile(r'\bbg-primary\b'))
        expect(st.get_by_test_id('pref-temperature')).to_have_value('0.7')
        ws = page.context.new_page()
        ws.goto(app.url)
        assert ws.evaluate('document.body.className').split().count('sc-lines') == 1
        assert 'sc-cursor-underscore' in ws.evaluate('document.body.className')
    finally:
        app.stop()
