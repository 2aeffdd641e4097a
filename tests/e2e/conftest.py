"""End-to-end fixtures: the real app in a subprocess, real headless Chromium through Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = '/usr/bin/chromium'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


class AppProcess:
    """``python app.py`` on a free port with its own data folder, stopped (or killed) by the test."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        clean = {k: v for k, v in os.environ.items()
                 if k != 'PYTEST_CURRENT_TEST' and not k.startswith(('NICEGUI_', 'SCRIBE_', 'OPENAI_', 'ANTHROPIC_'))}
        self.env = {**clean, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / 'app.log'

    def start(self) -> AppProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(ROOT / 'app.py'), '--no-show', '--port', str(self.port),
               '--data-dir', str(self.data_dir), *self.args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self.log.open('ab'),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'app exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}')
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f'app did not start:\n{self.log.read_text()[-3000:]}')

    def kill(self) -> None:
        """SIGKILL: the process dies at once, with no shutdown hook and no last write (a crash, a power cut)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def scripted_app(data: Path, script: str, speed: int, env: dict[str, str] | None = None) -> AppProcess:
    """The app with the demo provider replaying ``script`` in 4-character chunks at ``speed`` characters a second,
    started in ``data`` (the script is kept there too)."""
    path = data / 'answer.md'
    path.write_text(script, encoding='utf-8')
    return AppProcess(data / 'data', '--provider', 'demo', '--demo-script', str(path), '--demo-chunk', '4',
                      '--demo-speed', str(speed), env=env).start()


@pytest.fixture(scope='session')
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        if os.path.exists(CHROMIUM):
            b = p.chromium.launch(executable_path=CHROMIUM, args=['--disable-gpu', '--disable-quic'])
        else:
            b = p.chromium.launch()
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={'width': 1280, 'height': 900})
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on('dialog', lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs  # type: ignore[attr-defined]
    yield pg
    context.close()


@pytest.fixture(scope='module')
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    app = AppProcess(tmp_path_factory.mktemp('demo-app'), '--provider', 'demo', '--demo-speed', '1500').start()
    yield app
    app.stop()
