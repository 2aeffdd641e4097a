"""services/render_cache.py: what goes in comes out equal, or not at all; the ring never hands back a half-written
or overwritten entry, whatever the sizes and the order of writes and reads."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from services.render_cache import RenderCache
from services.rendering import render_static

TEXT = 'Intro with `code` and ünïcode ✍️\n\n```python\ndef f(x):\n    return "<b>" + x\n```\n\nThe end.\n'


def _size(ops: list[list[object]]) -> int:
    return len(orjson.dumps(ops))


def test_ops_come_back_equal() -> None:
    cache = RenderCache()
    ops = render_static(TEXT)
    cache.put('a', ops)
    assert 'a' in cache
    assert cache.get('a') == ops
    assert cache.get('missing') is None


def test_the_encoded_entry_is_the_json_a_page_takes() -> None:
    cache = RenderCache()
    ops = render_static(TEXT)
    encoded = cache.put('a', ops)
    assert cache.get_encoded('a') == encoded
    assert orjson.loads(encoded) == ops
    assert cache.get_encoded('missing') is None


def test_each_get_is_a_fresh_copy() -> None:
    cache = RenderCache()
    cache.put('a', [['P', 0, 'x']])
    first = cache.get('a')
    assert first is not None
    first.append(['X', 0])
    assert cache.get('a') == [['P', 0, 'x']]


def test_the_oldest_entry_is_overwritten_first() -> None:
    one: list[list[object]] = [['P', 0, 'x' * 90]]
    cache = RenderCache(capacity=_size(one) * 3)
    for key in 'abc':
        cache.put(key, one)
    cache.put('d', one)
    assert [k for k in 'abcd' if k in cache] == ['b', 'c', 'd']
    assert cache.size == 3 * _size(one)


def test_an_entry_read_in_the_older_half_is_kept() -> None:
    one: list[list[object]] = [['P', 0, 'y' * 90]]
    cache = RenderCache(capacity=_size(one) * 4)
    for key in 'abcd':
        cache.put(key, one)
    assert cache.get('a') == one  # the oldest: written again at the front
    cache.put('e', one)
    cache.put('f', one)
    assert 'a' in cache
    assert cache.get('a') == one


def test_an_entry_larger_than_the_cache_is_not_kept_and_pushes_nothing_out() -> None:
    cache = RenderCache(capacity=100)
    cache.put('small', [['P', 0, 'x']])
    cache.put('big', [['P', 0, 'x' * 200]])
    assert 'big' not in cache
    assert cache.get('small') == [['P', 0, 'x']]


def test_writing_a_key_again_replaces_it() -> None:
    cache = RenderCache(capacity=1000)
    cache.put('a', [['P', 0, 'old']])
    cache.put('a', [['P', 0, 'new']])
    assert cache.get('a') == [['P', 0, 'new']]
    assert len(cache) == 1


@given(st.lists(st.tuples(st.booleans(), st.sampled_from('abcdefgh'), st.text(max_size=80)), max_size=60),
       st.integers(min_value=16, max_value=600))
def test_a_read_returns_the_last_value_written_or_nothing(actions: list[tuple[bool, str, str]], capacity: int) -> None:
    cache = RenderCache(capacity=capacity)
    last: dict[str, list[list[object]]] = {}
    for is_read, key, text in actions:
        if is_read:
            got = cache.get(key)
            assert got is None or got == last[key]
        else:
            ops: list[list[object]] = [['P', 0, text]]
            cache.put(key, ops)
            last[key] = ops
        assert cache.size <= capacity
    # the newest entry that fits is always there
    if actions and not actions[-1][0] and _size(last[actions[-1][1]]) <= capacity:
        assert cache.get(actions[-1][1]) == last[actions[-1][1]]
