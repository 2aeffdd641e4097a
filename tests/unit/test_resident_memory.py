"""pages/metrics.py's split of resident memory: the parts add up to what the kernel reports as resident."""

from __future__ import annotations

import sys

import pytest

from pages.metrics import resident_by_mapping, resident_memory_bytes


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc/self/smaps')
def test_the_parts_add_up_to_the_resident_memory() -> None:
    parts = resident_by_mapping()
    assert parts is not None
    assert set(parts) == {'heap', 'anonymous', 'files'}
    total = resident_memory_bytes()
    # Read a moment apart, so allow the few pages touched in between.
    assert abs(sum(parts.values()) - total) < 2 * 2**20
    assert parts['files'] > 0  # the interpreter itself is a mapped file


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc/self/smaps')
def test_a_large_block_shows_as_anonymous_memory() -> None:
    before = resident_by_mapping()
    block = b'\x01' * (64 * 2**20)  # above glibc's mmap threshold: a mapping of its own, every page written
    after = resident_by_mapping()
    assert before is not None and after is not None
    assert after['anonymous'] - before['anonymous'] > 60 * 2**20
    del block
