"""``make demo``: a guided tour of Scribe in headless Chromium, recorded as a video with a screenshot per step.

It starts its own app (demo provider, a fresh data folder under ``demo-output/``), so it needs no API key and
leaves the user's data alone. Every step waits for what it shows (a status, a code block), never for a fixed time,
so the tour is the same on a fast laptop and a loaded CI machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = '/usr/bin/chromium'
ANSWERS = '[data-testid=message][data-role=assistant]'


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def start_app(out: Path, port: int) -> subprocess.Popen[bytes]:
    data = out / 'data'
    shutil.rmtree(data, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(('SCRIBE_', 'OPENAI_', 'ANTHROPIC_'))}
    log = (out / 'app.log').open('wb')
    proc = subprocess.Popen([sys.executable, str(ROOT / 'app.py'), '--no-show', '--port', str(port),
                             '--data-dir', str(data), '--demo-speed', '300'], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f'the app exited with {proc.returncode}; see {out / "app.log"}')
        try:
            urllib.request.urlopen(f'http://127.0.0.1:{port}', timeout=2).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit('the app did not start within 60 s')


class Tour:
    def __init__(self, page: Page, out: Path, base: str) -> None:
        self.page = page
        self.out = out
        self.base = base
        self.step = 0

    def shot(self, name: str) -> None:
        self.step += 1
        path = self.out / f'{self.step:02d}-{name}.png'
        self.page.screenshot(path=str(path))
        print(f'  {_rel(path)}')

    def ask(self, prompt: str) -> None:
        box = self.page.get_by_test_id('prompt-input')
        box.fill(prompt)
        box.press('Enter')
        self.wait_status('streaming')

    def last(self) -> Locator:
        return self.page.locator(ANSWERS).last

    def wait_status(self, status: str, timeout: float = 120_000) -> None:
        expect(self.last()).to_have_attribute('data-status', status, timeout=timeout)

    def wait_done(self) -> None:
        self.wait_status('completed')

    def toggle(self, field: str, label: str) -> None:
        self.page.locator(f'[data-testid=pref-{field}]').get_by_role('button', name=label, exact=True).click()
        self.page.wait_for_timeout(300)  # let the saved indication show in the video

    def switch(self, field: str) -> None:
        self.page.get_by_test_id(f'pref-{field}').click()
        self.page.wait_for_timeout(300)

    def select(self, field: str, option: str) -> None:
        self.page.get_by_test_id(f'pref-{field}').click()
        self.page.get_by_role('option', name=option, exact=True).click()
        self.page.wait_for_timeout(300)

    def run(self) -> None:
        page = self.page
        page.goto(self.base)
        self.shot('workspace')
        self.ask('Write a python LRU cache with tests')
        self.last().locator('[data-testid=code-block][data-streaming=true]').first.wait_for(timeout=60_000)
        page.wait_for_timeout(700)
        self.shot('code-streaming')
        self.last().get_by_test_id('pause-button').click()
        page.wait_for_timeout(800)
        self.shot('paused')
        self.last().get_by_test_id('resume-button').click()
        self.wait_done()
        self.shot('answer-complete')

        page.goto(f'{self.base}/settings')
        page.wait_for_selector('[data-testid=pref-theme]')
        self.shot('settings')
        self.toggle('theme', 'Dark')
        self.select('highlight_style_dark', 'dracula')
        self.switch('line_numbers')
        self.toggle('cursor_style', 'Bar')
        self.toggle('speed', 'Typewriter')
        self.shot('settings-dark')

        page.go_back()
        page.wait_for_selector('[data-testid=prompt-input]')
        self.ask('Now the same cache in typescript')
        self.last().locator('[data-testid=code-block]').first.wait_for(timeout=60_000)
        page.wait_for_timeout(1200)
        self.shot('dark-typewriter-streaming')
        self.wait_done()
        self.shot('dark-complete')

        self.ask('A tricky unicode answer in rust')
        page.wait_for_timeout(1000)
        self.last().get_by_test_id('stop-button').click()
        self.wait_status('interrupted')
        self.shot('stopped')
        self.last().get_by_test_id('continue-button').click()
        self.wait_done()
        self.shot('continued')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='make demo', description=__doc__)
    parser.add_argument('--out', type=Path, default=ROOT / 'demo-output', help='where video and screenshots go')
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob('*.png'):
        old.unlink()
    port = free_port()
    app = start_app(out, port)
    try:
        with sync_playwright() as p:
            launch: dict[str, Any] = {'args': ['--disable-gpu', '--disable-quic']}
            if os.path.exists(CHROMIUM):
                launch['executable_path'] = CHROMIUM
            browser = p.chromium.launch(**launch)
            context = browser.new_context(viewport={'width': 1280, 'height': 800},
                                          record_video_dir=str(out / 'video'),
                                          record_video_size={'width': 1280, 'height': 800})
            page = context.new_page()
            print(f'Scribe tour on http://127.0.0.1:{port}, writing to {out}:')
            try:
                Tour(page, out, f'http://127.0.0.1:{port}').run()
            finally:
                video = page.video
                context.close()
                if video is not None:
                    target = out / 'tour.webm'
                    video.save_as(str(target))
                    print(f'  {_rel(target)}')
                browser.close()
    finally:
        app.terminate()
        try:
            app.wait(15)
        except subprocess.TimeoutExpired:
            app.kill()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
