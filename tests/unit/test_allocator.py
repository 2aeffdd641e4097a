"""services/allocator.py: the restart on glibc's malloc, with a stand-in for execve, and for real in a child."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.allocator import current_allocator, restart_with_system_allocator, wanted

ROOT = Path(__file__).resolve().parents[2]


def test_wanted_only_on_glibc_and_only_when_nobody_chose() -> None:
    assert wanted({}, glibc=True)
    assert wanted({'PYTHONMALLOC': ''}, glibc=True)
    assert not wanted({'PYTHONMALLOC': 'pymalloc'}, glibc=True)
    assert not wanted({'PYTHONMALLOC': 'malloc'}, glibc=True)  # already restarted: never a loop
    assert not wanted({}, glibc=False)


def test_restart_runs_the_same_command_with_the_variable_set_and_the_rest_of_the_environment_kept() -> None:
    calls: list[tuple[str, list[str], dict[str, str]]] = []
    argv = ['python3', '-X', 'dev', 'app.py', '--port', '9000']
    assert restart_with_system_allocator(argv, {'HOME': '/root', 'SCRIBE_PORT': '1'}, glibc=True,
                                         execve=lambda *call: calls.append(call))
    assert calls == [(sys.executable, [sys.executable, '-X', 'dev', 'app.py', '--port', '9000'],
                      {'HOME': '/root', 'SCRIBE_PORT': '1', 'PYTHONMALLOC': 'malloc'})]


@pytest.mark.parametrize(('environ', 'glibc'), [({'PYTHONMALLOC': 'pymalloc'}, True), ({}, False)])
def test_no_restart_when_not_wanted(environ: dict[str, str], glibc: bool) -> None:
    calls: list[object] = []
    assert not restart_with_system_allocator(['python3', 'app.py'], environ, glibc=glibc,
                                             execve=lambda *call: calls.append(call))
    assert calls == []


def test_a_failed_restart_goes_on_with_pythons_own_allocator() -> None:
    def refuse(*_call: object) -> None:
        raise PermissionError('exec refused')
    assert not restart_with_system_allocator(['python3', 'app.py'], {}, glibc=True, execve=refuse)


def test_current_allocator_names_the_variable_or_pythons_own() -> None:
    assert current_allocator({}) == 'pymalloc'
    assert current_allocator({'PYTHONMALLOC': 'malloc'}) == 'malloc'


CHILD = ('import os, sys; sys.path.insert(0, sys.argv[1]); '
         'from services.allocator import restart_with_system_allocator as r; r(); '
         'print(os.environ.get("PYTHONMALLOC"), sys.argv[2])')


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='the restart happens only on glibc')
@pytest.mark.parametrize(('chosen', 'expected'), [(None, 'malloc'), ('pymalloc', 'pymalloc')])
def test_a_real_restart_keeps_the_command_line(chosen: str | None, expected: str) -> None:
    import platform
    if platform.libc_ver()[0] != 'glibc':
        pytest.skip('the restart happens only on glibc')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONMALLOC'}
    if chosen:
        env['PYTHONMALLOC'] = chosen
    out = subprocess.run([sys.executable, '-c', CHILD, str(ROOT), 'kept'], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.split() == [expected, 'kept']
