"""Which memory allocator the app's Python objects live in, chosen before anything else is imported.

CPython's own small-object allocator (pymalloc) carves objects out of 1 MiB arenas and returns an arena to the
system only when every object in it is gone. A server that builds pages and streams all day allocates in waves:
the busiest moment takes fresh arenas, and afterwards a few long-lived objects (a cache entry, an interned string,
a grown dict) keep each of them from ever going back. The memory bench measured it: over 1,000 answers the process
grew by 72 MB while the live objects grew by 2. With ``PYTHONMALLOC=malloc`` every object comes from glibc's
malloc instead, and ``malloc_trim`` (services/reclaim.py) returns every free page, wherever it lies in the heap:
the same run grew by about 30 MB.

The variable must be set before the interpreter starts, so ``app.py`` starts it again with it set: one ``execve``
of the same command line, which keeps the process id. Where the C library is not glibc (no ``malloc_trim``) or
``PYTHONMALLOC`` is already set (``PYTHONMALLOC=pymalloc`` keeps Python's allocator), nothing happens.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence

Exec = Callable[[str, list[str], dict[str, str]], object]

__all__ = ['VARIABLE', 'current_allocator', 'restart_with_system_allocator', 'wanted']

VARIABLE = 'PYTHONMALLOC'
SYSTEM = 'malloc'


def _is_glibc() -> bool:
    """Asked of the C library itself (``platform.libc_ver`` would read the interpreter's binary to guess)."""
    try:
        return (os.confstr('CS_GNU_LIBC_VERSION') or '').startswith('glibc')
    except (ValueError, OSError, AttributeError):  # not a name this C library knows, or no confstr at all
        return False


def wanted(environ: Mapping[str, str], *, glibc: bool | None = None) -> bool:
    """Whether a restart on glibc's malloc is due: on glibc (asked only when ``glibc`` is None, and only once the
    variable is found unset, so the restarted process asks nothing), when nobody chose an allocator yet."""
    return not environ.get(VARIABLE) and (_is_glibc() if glibc is None else glibc)


def restart_with_system_allocator(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, *,
                                  glibc: bool | None = None,
                                  execve: Exec | None = None) -> bool:
    """Replace this process with the same command on glibc's malloc when that is wanted; returns False (and does
    nothing) when it is not. ``argv`` is the interpreter's own command line (``sys.orig_argv``), so interpreter
    options such as ``-X dev`` are kept."""
    environ = os.environ if environ is None else environ
    if not wanted(environ, glibc=glibc):
        return False
    if not sys.executable:
        return False  # an embedded interpreter: nothing to start again, Python's own allocator it is
    args = list(sys.orig_argv if argv is None else argv)
    try:
        (execve or os.execve)(sys.executable, [sys.executable, *args[1:]], {**environ, VARIABLE: SYSTEM})
    except OSError:
        return False  # could not start again: go on as it is, with Python's own allocator
    return True  # only reached with a stand-in for execve (tests)


def current_allocator(environ: Mapping[str, str] | None = None) -> str:
    """The allocator this interpreter started with, for /metrics: the variable is read once at start and stays in
    the environment."""
    environ = os.environ if environ is None else environ
    return environ.get(VARIABLE) or 'pymalloc'
