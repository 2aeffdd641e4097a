"""The demo provider: deterministic answers that exercise every part of the pipeline, paced like a real model.

Pacing is checked on a virtual clock (the provider takes ``clock`` and ``sleep``), never against wall time, so these
tests cannot flake on a slow machine.
"""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.errors import ConfigError
from services.providers import demo, demo_answers
from services.providers.base import ChatMessage, CompletionRequest
from services.providers.demo import DemoProvider, demo_answer, demo_chunks, fixed_chunks, thinking_delay

ROOT = Path(__file__).resolve().parents[2]
FENCE_RE = re.compile(r'^```(\S*)\n(.*?)^```\n', re.M | re.S)


def request(prompt: str, model: str = 'scribe-demo') -> CompletionRequest:
    return CompletionRequest(messages=(ChatMessage('user', prompt),), model=model)


async def collect(provider: DemoProvider, req: CompletionRequest) -> list[str]:
    return [chunk async for chunk in provider.stream(req)]


def fences(text: str) -> list[tuple[str, str]]:
    """(info string, code) of each top-level fenced block; the answers only use ``` fences at column 0."""
    return FENCE_RE.findall(text)


def prose(text: str) -> str:
    return FENCE_RE.sub('', text)


class VirtualClock:
    """A clock that only moves when the provider sleeps, optionally oversleeping like a busy event loop."""

    def __init__(self, oversleep: float = 0.0) -> None:
        self.now = 1000.0
        self.oversleep = oversleep
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds + self.oversleep


# --- the text -----------------------------------------------------------------------------------------------------

PROMPTS = ['python sorting please', 'write a rust http server', 'sql database schema for a library',
           'a bash cli tool to count words', 'typescript expression parser', 'how do I cache things?', 'hello']


@pytest.mark.parametrize('prompt', PROMPTS)
def test_same_prompt_same_answer_and_chunks(prompt: str) -> None:
    first_answer, first_chunks = demo_answer(prompt), demo_chunks(prompt)
    demo_answer.cache_clear()
    demo._chunks.cache_clear()
    assert demo_answer(prompt) == first_answer
    assert demo_chunks(prompt) == first_chunks
    assert thinking_delay(prompt) == thinking_delay(prompt)


def test_deterministic_across_processes() -> None:
    """No use of ``hash()`` or other per-process randomness: another interpreter gives the same text."""
    def digest(answer: str, chunks: list[str]) -> str:
        return hashlib.sha256(repr((answer, chunks)).encode()).hexdigest()

    code = ('import hashlib; from services.providers.demo import demo_answer as a, demo_chunks as c; '
            "print(hashlib.sha256(repr((a('rust parser'), c('rust parser'))).encode()).hexdigest())")
    expected = digest(demo_answer('rust parser'), demo_chunks('rust parser'))
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={'PYTHONHASHSEED': '12345', 'PATH': ''})
    assert result.stdout.strip() == expected


@pytest.mark.parametrize('prompt', [*PROMPTS, 'a long python module', 'tricky unicode', ''])
def test_chunks_join_to_the_answer(prompt: str) -> None:
    chunks = demo_chunks(prompt)
    assert ''.join(chunks) == demo_answer(prompt)
    assert all(1 <= len(chunk) <= 8 for chunk in chunks)
    assert len({len(chunk) for chunk in chunks}) >= 6  # sizes vary like tokens


def test_chunks_are_a_copy() -> None:
    chunks = demo_chunks('hello')
    chunks.clear()
    assert demo_chunks('hello')


def test_different_prompts_differ() -> None:
    answers = {demo_answer(prompt) for prompt in PROMPTS}
    assert len(answers) == len(PROMPTS)
    assert demo_chunks('sort a list') != demo_chunks('sort a list!')


def test_all_five_languages_appear() -> None:
    seen = {info for prompt in PROMPTS for info, _ in fences(demo_answer(prompt))}
    assert {'python', 'typescript', 'rust', 'sql', 'bash'} <= seen


@pytest.mark.parametrize(('prompt', 'language'), [
    ('sorting in python', 'python'), ('merge sort in Rust', 'rust'), ('binary search in TS', 'typescript'),
    ('an http api in typescript', 'typescript'), ('database queries in SQL', 'sql'), ('a shell script cli', 'bash'),
    ('a parser written in bash', 'bash'), ('an LRU cache in rust please', 'rust'),
])
def test_main_language_follows_the_prompt(prompt: str, language: str) -> None:
    assert fences(demo_answer(prompt))[0][0] == language


@pytest.mark.parametrize(('prompt', 'topic'), [
    ('how do I sort a list', 'sorting'), ('binary search', 'sorting'), ('build a REST api', 'http'),
    ('an http server', 'http'), ('design a database schema', 'database'), ('write a CLI', 'cli'),
    ('write a parser for expressions', 'parser'), ('an LRU cache', 'cache'), ('tell me something', 'cache'),
    ('a CLI that parses JSON', 'cli'),
])
def test_topic_follows_keywords(prompt: str, topic: str) -> None:
    chosen = demo_answers.topic_for(prompt)
    assert chosen.key == topic
    main_language = fences(demo_answer(prompt))[0][0]
    assert fences(demo_answer(prompt))[0][1] == chosen.snippets[main_language]


@pytest.mark.parametrize('prompt', PROMPTS)
def test_answers_look_like_model_output(prompt: str) -> None:
    answer = demo_answer(prompt)
    blocks = fences(answer)
    assert len(blocks) >= 3
    assert re.search(r'^#{2,3} ', answer, re.M)  # headings
    assert re.search(r'^(- |1\. )', answer, re.M)  # lists
    assert re.search(r'`[^`\n]+`', prose(answer))  # inline code
    main_code = blocks[0][1]
    assert 10 <= main_code.count('\n') <= 60
    assert answer.count('```') % 2 == 0


def test_some_answers_have_a_table() -> None:
    assert any('|---|' in demo_answer(f'{prompt} {n}') for prompt in PROMPTS for n in range(3))


@pytest.mark.parametrize('prompt', ['', '   ', '?'])
def test_empty_ish_prompt_still_answers(prompt: str) -> None:
    answer = demo_answer(prompt)
    assert len(answer) > 500 and fences(answer)


@pytest.mark.parametrize('prompt', ['give me a long python module', 'something big', 'a huge file', '2000 lines'])
def test_long_answer_has_2000_lines_of_code(prompt: str) -> None:
    answer = demo_answer(prompt)
    blocks = fences(answer)
    assert sum(code.count('\n') for _, code in blocks) >= 2_000
    assert max(code.count('\n') for _, code in blocks) >= 2_000
    assert {info for info, _ in blocks} >= {'python', 'sql', 'bash'}
    module = next(code for info, code in blocks if info == 'python')
    compile(module, 'inventory.py', 'exec')  # realistic means at least syntactically valid
    assert module.count('class ') >= 40 and module.count('"""') >= 80


def test_long_is_a_word_not_a_substring() -> None:
    assert not demo_answers.is_long('how do I add elements that belong together')


TRICKY = ['\U0001f469\u200d\U0001f4bb', 'e\u0301', '\U0001f1ef\U0001f1f5', '漢字', 'مرحبا', '\u2028',
          '<script>alert(1)</script>', '<img src=x onerror=alert(1)>']


@pytest.mark.parametrize('prompt', ['tricky', 'show me some unicode', 'an xss test', 'a long tricky answer'])
def test_tricky_answer_has_every_item_in_prose_and_code(prompt: str) -> None:
    answer = demo_answer(prompt)
    text, blocks = prose(answer), fences(answer)
    code = ''.join(code for _, code in blocks)
    for item in TRICKY:
        assert item in text, item
        assert item in code, item
    assert '[link](javascript:alert(1))' in text
    line_separator_lines = [line for line in answer.split('\n') if '\u2028' in line]
    assert line_separator_lines and all(not line.startswith('\u2028') for line in line_separator_lines)
    python = [code for info, code in blocks if info == 'python']
    fence_lines = [line for code in python for line in code.split('\n') if '```' in line]
    assert fence_lines and all(not line.lstrip().startswith('```') for line in fence_lines)


# --- the stream ---------------------------------------------------------------------------------------------------

def test_identity_and_models() -> None:
    provider = DemoProvider()
    assert provider.name == 'demo' and provider.default_model == 'scribe-demo' and provider.supports_streaming


async def test_models() -> None:
    assert await DemoProvider().models() == ['scribe-demo', 'scribe-demo-fast']


@pytest.mark.parametrize('speed', [math.inf, 0])
async def test_unpaced_stream_yields_the_chunks(speed: float) -> None:
    clock = VirtualClock()
    provider = DemoProvider(speed=speed, clock=clock, sleep=clock.sleep)
    chunks = await collect(provider, request('write a rust http server'))
    assert chunks == demo_chunks('write a rust http server')
    assert clock.sleeps == []  # never waits (it only yields to the event loop)


async def test_stream_uses_the_last_user_message() -> None:
    req = CompletionRequest(messages=(ChatMessage('system', 'be brief'), ChatMessage('user', 'sort things'),
                                      ChatMessage('assistant', 'Sure.'), ChatMessage('user', 'now in rust')),
                            model='scribe-demo')
    assert ''.join(await collect(DemoProvider(speed=math.inf), req)) == demo_answer('now in rust')


async def test_no_user_message_still_answers() -> None:
    chunks = await collect(DemoProvider(speed=math.inf), CompletionRequest(messages=(), model='scribe-demo'))
    assert ''.join(chunks) == demo_answer('')


async def test_unknown_model_is_served_like_the_default() -> None:
    chunks = await collect(DemoProvider(speed=math.inf), request('hello', model='gpt-something'))
    assert ''.join(chunks) == demo_answer('hello')


async def test_high_speed_stream_finishes() -> None:
    """Real clock and real sleeps: it must finish and deliver the exact text (no assertion on elapsed time)."""
    chunks = await collect(DemoProvider(speed=200_000), request('an LRU cache in python'))
    assert chunks == demo_chunks('an LRU cache in python')


@pytest.mark.parametrize(('model', 'factor'), [('scribe-demo', 1.0), ('scribe-demo-fast', 4.0)])
async def test_pacing_averages_the_configured_speed(model: str, factor: float) -> None:
    prompt = 'python sorting please'
    clock = VirtualClock()
    start = clock.now
    provider = DemoProvider(speed=1_000, clock=clock, sleep=clock.sleep)
    chunks = await collect(provider, request(prompt, model))
    assert chunks == demo_chunks(prompt)
    assert 0.15 <= thinking_delay(prompt) <= 0.3
    assert clock.sleeps[0] == pytest.approx(thinking_delay(prompt))
    before_last = len(demo_answer(prompt)) - len(chunks[-1])
    assert clock.now - start == pytest.approx(thinking_delay(prompt) + before_last / (1_000 * factor))
    assert len(clock.sleeps) == len(chunks)  # one (possibly zero) sleep per chunk, no polling


async def test_pacing_compensates_for_late_wakeups() -> None:
    """An event loop that wakes 3 ms late must not make the stream 3 ms later per chunk."""
    prompt = 'how do I cache things?'
    clock = VirtualClock(oversleep=0.003)
    start = clock.now
    chunks = await collect(DemoProvider(speed=1_000, clock=clock, sleep=clock.sleep), request(prompt))
    ideal = thinking_delay(prompt) + (len(demo_answer(prompt)) - len(chunks[-1])) / 1_000
    assert clock.now - start == pytest.approx(ideal, abs=0.0031)
    assert min(clock.sleeps) >= 0


async def test_continues_after_a_prefill() -> None:
    prompt = 'typescript expression parser'
    answer = demo_answer(prompt)
    prefix = answer[:1234]
    req = CompletionRequest(messages=(ChatMessage('user', prompt), ChatMessage('assistant', prefix)),
                            model='scribe-demo')
    rest = await collect(DemoProvider(speed=math.inf), req)
    assert prefix + ''.join(rest) == answer
    assert all(rest)


async def test_continues_after_a_please_continue_turn() -> None:
    prompt = 'a bash cli tool to count words'
    answer = demo_answer(prompt)
    partial = answer[:777]
    req = CompletionRequest(messages=(ChatMessage('user', prompt), ChatMessage('assistant', partial),
                                      ChatMessage('user', 'Continue exactly where you stopped.')),
                            model='scribe-demo')
    rest = await collect(DemoProvider(speed=math.inf), req)
    assert partial + ''.join(rest) == answer


async def test_a_new_question_after_a_stopped_answer_is_answered() -> None:
    partial = demo_answer('hello')[:300]
    req = CompletionRequest(messages=(ChatMessage('user', 'hello'), ChatMessage('assistant', partial),
                                      ChatMessage('user', 'sort things')), model='scribe-demo')
    assert ''.join(await collect(DemoProvider(speed=math.inf), req)) == demo_answer('sort things')


async def test_an_unrelated_assistant_turn_is_not_a_continuation() -> None:
    req = CompletionRequest(messages=(ChatMessage('user', 'hello'), ChatMessage('assistant', 'Something else.'),
                                      ChatMessage('user', 'please continue')), model='scribe-demo')
    assert ''.join(await collect(DemoProvider(speed=math.inf), req)) == demo_answer('please continue')


async def test_stream_can_be_cancelled_midway() -> None:
    provider = DemoProvider(speed=math.inf)
    received = []
    stream = provider.stream(request('a long python module'))
    async for chunk in stream:
        received.append(chunk)
        if len(received) == 10:
            break
    await stream.aclose()
    assert ''.join(received) == ''.join(demo_chunks('a long python module')[:10])


@pytest.mark.parametrize('speed', [-1.0, math.nan])
def test_bad_speed_is_a_config_error(speed: float) -> None:
    with pytest.raises(ConfigError):
        DemoProvider(speed=speed)


# --- replaying a recorded answer (--demo-script, --demo-chunk) -------------------------------------------------

SCRIPT = 'Intro with `code`.\n\n```python\ndef f(x):\n    return x * 2\n```\n\nThe end: ünïcödé ✓.\n'


@pytest.mark.parametrize('prompt', ['hello', 'write a rust http server', ''])
async def test_script_answers_every_prompt_with_the_script(prompt: str) -> None:
    provider = DemoProvider(speed=math.inf, script=SCRIPT)
    assert ''.join(await collect(provider, request(prompt))) == SCRIPT
    assert provider.answer(prompt) == SCRIPT


@pytest.mark.parametrize('size', [1, 4, 7, 1_000])
async def test_script_in_fixed_size_chunks(size: int) -> None:
    provider = DemoProvider(speed=math.inf, script=SCRIPT, chunk_size=size)
    chunks = await collect(provider, request('anything'))
    assert ''.join(chunks) == SCRIPT
    assert all(len(chunk) == size for chunk in chunks[:-1]) and 1 <= len(chunks[-1]) <= size
    assert chunks == provider.chunks('anything') == fixed_chunks(SCRIPT, size)


async def test_script_without_chunk_size_uses_token_like_sizes() -> None:
    script = SCRIPT * 20
    provider = DemoProvider(speed=math.inf, script=script)
    chunks = await collect(provider, request('x'))
    assert ''.join(chunks) == script
    assert all(1 <= len(chunk) <= 8 for chunk in chunks)
    assert len({len(chunk) for chunk in chunks}) >= 6
    assert chunks == await collect(DemoProvider(speed=math.inf, script=script), request('another prompt'))


async def test_chunk_size_applies_to_demo_answers_too() -> None:
    provider = DemoProvider(speed=math.inf, chunk_size=4)
    chunks = await collect(provider, request('hello'))
    assert ''.join(chunks) == demo_answer('hello')
    assert all(len(chunk) == 4 for chunk in chunks[:-1])


async def test_script_pacing_has_no_thinking_pause_and_does_not_drift() -> None:
    """20,000 characters in 4-character chunks at 2,000 chars/s: the last chunk is due at 9.998 s, from 0 s."""
    script = ('x' * 99 + '\n') * 200
    clock = VirtualClock(oversleep=0.001)
    start = clock.now
    provider = DemoProvider(speed=2_000, script=script, chunk_size=4, clock=clock, sleep=clock.sleep)
    chunks = await collect(provider, request('bench'))
    assert len(chunks) == 5_000 and ''.join(chunks) == script
    assert clock.sleeps[0] == 0  # no thinking delay before the first chunk
    assert clock.now - start == pytest.approx((20_000 - 4) / 2_000, abs=0.0011)


async def test_script_continues_after_a_prefill() -> None:
    prefix = SCRIPT[:17]
    req = CompletionRequest(messages=(ChatMessage('user', 'q'), ChatMessage('assistant', prefix)),
                            model='scribe-demo')
    rest = await collect(DemoProvider(speed=math.inf, script=SCRIPT, chunk_size=4), req)
    assert prefix + ''.join(rest) == SCRIPT


@pytest.mark.parametrize('size', [0, -4, True])
def test_bad_chunk_size_is_a_config_error(size: int) -> None:
    with pytest.raises(ConfigError, match='chunk size'):
        DemoProvider(chunk_size=size)


def test_empty_script_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match='empty'):
        DemoProvider(script='')


def test_fixed_chunks() -> None:
    assert fixed_chunks('abcdefghij', 4) == ['abcd', 'efgh', 'ij']
    assert fixed_chunks('', 4) == []
    with pytest.raises(ConfigError):
        fixed_chunks('abc', 0)
