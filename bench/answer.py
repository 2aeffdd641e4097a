"""The benchmark's answer: a deterministic, realistic markdown reply of a given size, about half of it one Python block.

Prose first (paragraphs with inline code, a list), then one long fenced ```python block of realistic code, then
more prose (a list, a short table-free wrap-up). The same size always gives the same text, byte for byte.
"""

from __future__ import annotations

import random

SEED = 20_000

_OPENERS = (
    'Here is a complete, working implementation of the job scheduler you described, followed by an explanation of '
    'the design decisions and the trade-offs that come with them.',
)

_PROSE = (
    'The scheduler keeps every pending job in a heap ordered by its next run time, so finding the next job to run '
    'is `O(log n)` and the worker never scans the whole table. Each job is a small dataclass with a `next_run` '
    'timestamp, a retry budget and the callable to execute.',
    'Retries use exponential backoff with full jitter: the delay before attempt `n` is a random value between zero '
    'and `base * 2 ** n`, capped at `max_delay`. Jitter matters more than it seems; without it, a burst of failures '
    'retries in lock-step and hits the downstream service all at once.',
    'Cancellation is cooperative. A cancelled job is only marked, not removed from the heap, because removing an '
    'arbitrary element from a binary heap costs `O(n)`; the worker skips marked entries when it pops them. The '
    'memory this keeps alive is bounded by the number of cancellations between two compactions.',
    'Time is injected: the scheduler takes a `clock` and a `sleep` function, so the tests run on a virtual clock '
    'and a suite that schedules a week of jobs finishes in milliseconds. Production code passes `time.monotonic` '
    'and `asyncio.sleep`, never `time.time`, because wall-clock time can jump backwards.',
    'Errors never escape the worker loop. An exception in a job is logged with the job id, counted in the '
    '`failures` metric and, if the job has retries left, rescheduled; a job that runs out of retries moves to the '
    'dead-letter list where an operator can inspect and replay it.',
    'The public surface is deliberately small: `schedule()`, `cancel()`, `run_forever()` and `stats()`. Everything '
    'else is private, so the storage can move from the in-memory heap to a database table without any caller '
    'noticing the difference.',
)

_LIST_INTRO = 'The main pieces, from the bottom up:'
_LIST = (
    '`Job`: an immutable description of the work, its schedule and its retry policy.',
    '`JobQueue`: the heap plus the cancellation marks, with `push`, `pop_due` and `compact`.',
    '`Backoff`: computes the next delay from the attempt number, with jitter and a cap.',
    '`Scheduler`: the async worker loop that pops due jobs, runs them with a timeout and records the outcome.',
    '`Stats`: counters for runs, failures, retries and the current queue depth, safe to read from any task.',
)

_AFTER_INTRO = 'A few things worth knowing before you put this into production:'
_AFTER = (
    'Run one scheduler per process. Two schedulers sharing the in-memory queue would need a lock around every heap '
    'operation; if you need several workers, put the queue in PostgreSQL and use `SELECT … FOR UPDATE SKIP LOCKED`.',
    'Keep jobs idempotent. A process that crashes after a job ran but before the outcome was recorded will run it '
    'again on restart, and that is the right trade-off for most workloads.',
    'Bound the timeout of each job. A job without a timeout can block the worker forever; `asyncio.wait_for` with '
    'the job\'s `timeout` turns that into an ordinary failure that goes through the retry path.',
    'Watch `stats().queue_depth` in your metrics. A queue that only grows means jobs are scheduled faster than they '
    'finish, and no amount of retry tuning fixes that.',
)

# Sections after the code: (heading, paragraphs), used in order until the answer is long enough.
_SECTIONS = (
    ('## Testing it', (
        'Because the clock is injected, a test builds a `Scheduler` with a fake clock whose `sleep` simply advances '
        'the current time. Scheduling a job with `interval=3600` and advancing the clock by a day must run it '
        'exactly twenty-four times, and the test finishes in a few milliseconds instead of a day.',
        'The backoff is tested the same way: seed the `random.Random` passed to `Backoff`, fail a job three times, '
        'and check that every delay lies in `[0, base * 2 ** attempt]` and that none exceeds `cap`. Testing the '
        'bounds rather than exact values keeps the test valid if the jitter formula changes later.',
        'For the failure path, give the scheduler a job that raises `ConnectionError` on the first two calls and '
        'succeeds on the third. After advancing the clock past the backoff delays, `stats.failures` is 2, '
        '`stats.retries` is 2, `stats.runs` is 1 and the dead-letter list is empty.',
    )),
    ('## Configuration', (
        'Every knob has a safe default, so `Scheduler(clock=loop.time, sleep=asyncio.sleep)` is a working setup. The '
        'ones you are most likely to change are the backoff `base` and `cap`, the per-job `timeout` and `retries`, '
        'and the polling ceiling in `run_forever`, which bounds how late a job scheduled from another task can start.',
        'Keep the values in one place. A `SchedulerConfig` dataclass loaded from environment variables at start-up, '
        'validated once and passed down, is easier to audit than defaults scattered across job definitions, and it '
        'lets an operator slow every retry down during an incident without a deploy.',
        'Resist the temptation to make the interval of a job configurable at run time through the queue itself. '
        'Changing `Job.interval` means cancelling the job and scheduling a new one with the new value; the two-step '
        'change is explicit, shows up in the logs and cannot race with a run that is already in progress.',
    )),
    ('## Observability', (
        'Log one line per state change, never one per poll. The worker loop wakes up often, and a debug line there '
        'produces gigabytes of noise; the interesting events are a job starting, succeeding, failing, being retried '
        'and landing in the dead-letter list, and each of those already has its own `log` call.',
        'Attach the `job_id` and the attempt number to every line with `logging.LoggerAdapter` or structured '
        'logging, so that one query in your log store shows the full history of a job that keeps failing, including '
        'the delays the backoff chose between the attempts.',
        'For tracing, wrap `_run` in a span named after the job. The span\'s duration is the job\'s run time, its '
        'status is the outcome, and a retried job shows up as several spans with the same `job_id` attribute, which '
        'makes retry storms easy to spot on a trace timeline.',
    )),
    ('## Common pitfalls', (
        'Calling blocking code inside a job stalls every other job, because they all share one event loop. Database '
        'drivers, `requests` and file compression are the usual suspects; use their async counterparts or push the '
        'call into `asyncio.to_thread` so the loop keeps turning.',
        'Catching `BaseException` instead of `Exception` in the worker would swallow `asyncio.CancelledError` and make '
        'the scheduler impossible to shut down cleanly. The code above catches `Exception` on purpose, so a '
        'cancellation still propagates out of `run_forever`.',
        'Scheduling thousands of jobs with the same due time creates a thundering herd at that instant. Spread them '
        'with a small random offset when you schedule them, the same idea as the jitter in the backoff, and the load '
        'on the downstream services stays flat.',
    )),
    ('## Why a heap and not a sorted list', (
        'A sorted list makes the next due job trivially available at index zero, but every insertion shifts half '
        'the list on average. With a few hundred jobs that is invisible; with a hundred thousand recurring jobs '
        'each rescheduling after every run, the shifting dominates the worker\'s time. `heapq` keeps both pushing and '
        'popping at `O(log n)`.',
        'The `_Entry` wrapper exists because `Job` objects are not comparable, and should not be: two jobs due at '
        'the same instant would otherwise be compared field by field and fail on the function. The monotonically '
        'increasing `sequence` number breaks ties, which also makes the order of simultaneous jobs deterministic.',
        'A timer wheel would be faster still for very large numbers of short timers, which is why network stacks '
        'use one, but it trades precision for speed and needs a tick. For a job scheduler, where intervals range '
        'from seconds to days, the heap is simpler and precise enough.',
    )),
    ('## Shutting down cleanly', (
        'Stopping the scheduler is a matter of cancelling the task that runs `run_forever`. The cancellation '
        'interrupts either the `sleep` between polls or the job that is currently running; in the second case '
        '`asyncio.wait_for` cancels the job too, and the job sees `CancelledError` at its next `await`.',
        'If jobs must not be interrupted halfway, add a `draining` flag: once it is set, `_pop_due` returns nothing, '
        'the worker waits for the running job to finish and then returns. Give the drain a deadline, though, or a '
        'stuck job will hold up every deploy.',
        'Whatever is still in the heap at shutdown is simply lost in this in-memory version. That is acceptable for '
        'recurring jobs, which are scheduled again on start-up, but one-off jobs need the persistent queue described '
        'below if they must survive a restart.',
    )),
    ('## Going further', (
        'Persistence is the first thing most teams add. Store each job as a row with `job_id`, `due`, `attempt` and '
        'a JSON column for the arguments; the worker then claims a due row with `UPDATE … SET claimed_by = :me '
        'WHERE job_id = (SELECT job_id … FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *`.',
        'Cron-style schedules fit in without changing the worker: replace the fixed `interval` with a `next_due()` '
        'method that a cron expression parser implements, and keep the heap ordered by whatever it returns. A '
        'library such as `croniter` handles the awkward cases like the last day of the month.',
        'If jobs are CPU-bound rather than I/O-bound, run them with `loop.run_in_executor` on a process pool. The '
        'scheduler itself stays single-threaded and async; only the job bodies move, so none of the bookkeeping '
        'needs a lock.',
        'Finally, expose `stats().as_dict()` on a `/metrics` endpoint. Queue depth, failure rate and the age of the '
        'oldest due job are the three numbers that tell you, at a glance, whether the scheduler is keeping up.',
    )),
    ('## When to use something else', (
        'If you already run Celery, RQ or Dramatiq, use their schedulers: they bring persistence, a dashboard and '
        'years of fixed edge cases. This module is for services that want a dependency-free scheduler they can read '
        'in one sitting.',
        'For workflows, meaning jobs that depend on other jobs, look at Temporal or Prefect instead. Encoding '
        'dependencies as jobs that schedule other jobs works for two steps and becomes unmaintainable at five.',
        'And for a single nightly task on one machine, a systemd timer or a cron entry is still the simplest '
        'thing that could possibly work.',
        'Either way, the ideas carry over: inject the clock, bound every job, back off with jitter, and measure the '
        'queue.',
    )),
)

_HEADER = '''"""A small asynchronous job scheduler with retries, backoff, cancellation and statistics.

The scheduler keeps pending jobs in a heap ordered by their next run time. Time is injected (``clock`` and
``sleep``) so the whole module can be tested on a virtual clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[Any]]


class JobState(Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: a random delay in [0, min(cap, base * 2 ** attempt)]."""

    base: float = 0.5
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int) -> float:
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        ceiling = min(self.cap, self.base * 2 ** attempt)
        return self.rng.uniform(0.0, ceiling)


@dataclass(order=True, slots=True)
class _Entry:
    due: float
    sequence: int
    job: Job = field(compare=False)

'''

_JOB_KINDS = (
    ('send_invoice_reminders', 'customers with overdue invoices', 'invoice', 3, 300.0),
    ('refresh_exchange_rates', 'currency pairs the shop prices in', 'rate', 5, 60.0),
    ('rebuild_search_index', 'documents changed since the last run', 'document', 2, 900.0),
    ('expire_sessions', 'sessions idle for more than a day', 'session', 1, 120.0),
    ('sync_inventory', 'warehouses that reported stock changes', 'warehouse', 4, 600.0),
    ('compact_audit_log', 'audit entries older than ninety days', 'entry', 2, 1800.0),
    ('send_daily_digest', 'users who opted in to the digest', 'user', 3, 3600.0),
    ('retry_failed_webhooks', 'webhook deliveries that failed', 'delivery', 6, 30.0),
    ('recalculate_loyalty_points', 'orders completed yesterday', 'order', 2, 86400.0),
    ('archive_old_projects', 'projects without activity for a year', 'project', 1, 86400.0),
    ('purge_deleted_uploads', 'uploads in the trash for thirty days', 'upload', 2, 7200.0),
    ('warm_report_cache', 'reports opened most often this week', 'report', 3, 1200.0),
)

_SCHEDULER = '''class Scheduler:
    """Runs jobs when they are due, retries failures with backoff, and never lets an exception escape."""

    def __init__(self, *, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                 backoff: Backoff | None = None) -> None:
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff or Backoff()
        self._heap: list[_Entry] = []
        self._sequence = itertools.count()
        self._cancelled: set[str] = set()
        self._dead: list[Job] = []
        self.stats = Stats()

    def schedule(self, job: Job, *, delay: float = 0.0) -> None:
        """Add ``job``; it runs ``delay`` seconds from now and then every ``job.interval`` seconds."""
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        heapq.heappush(self._heap, _Entry(self._clock() + delay, next(self._sequence), job))
        self.stats.scheduled += 1

    def cancel(self, job_id: str) -> bool:
        """Mark a job as cancelled; it is dropped the next time it comes up."""
        if any(entry.job.job_id == job_id for entry in self._heap):
            self._cancelled.add(job_id)
            return True
        return False

    def _pop_due(self) -> _Entry | None:
        while self._heap and self._heap[0].due <= self._clock():
            entry = heapq.heappop(self._heap)
            if entry.job.job_id in self._cancelled:
                self._cancelled.discard(entry.job.job_id)
                self.stats.cancelled += 1
                continue
            return entry
        return None

    async def _run(self, entry: _Entry) -> None:
        job = entry.job
        self.stats.running += 1
        try:
            await asyncio.wait_for(job.function(*job.args), timeout=job.timeout)
        except Exception as error:  # a job must never stop the worker
            self.stats.failures += 1
            attempt = job.attempt + 1
            if attempt > job.retries:
                log.error("job %s failed for good after %d attempts: %r", job.job_id, attempt, error)
                self._dead.append(job)
                return
            delay = self._backoff.delay(attempt)
            log.warning("job %s failed (attempt %d), retrying in %.1f s: %r", job.job_id, attempt, delay, error)
            self.stats.retries += 1
            self.schedule(job.with_attempt(attempt), delay=delay)
        else:
            self.stats.runs += 1
            if job.interval:
                self.schedule(job.with_attempt(0), delay=job.interval)
        finally:
            self.stats.running -= 1

    async def run_forever(self) -> None:
        while True:
            entry = self._pop_due()
            if entry is None:
                wait = self._heap[0].due - self._clock() if self._heap else 1.0
                await self._sleep(max(0.01, min(wait, 1.0)))
                continue
            await self._run(entry)

    def dead_letters(self) -> list[Job]:
        return list(self._dead)

    def queue_depth(self) -> int:
        return len(self._heap) - len(self._cancelled)

'''


def _job_code(name: str, what: str, item: str, retries: int, interval: float, rng: random.Random) -> str:
    batch = rng.choice((50, 100, 200, 500))
    title = name.replace('_', ' ')
    return f'''async def {name}(store: Any, *, batch_size: int = {batch}) -> int:
    """Process {what}, {batch} at a time; returns how many were handled."""
    handled = 0
    async for page in store.pages("{item}s", size=batch_size):
        for {item} in page:
            if {item}.get("skip"):
                log.debug("skipping {item} %s", {item}["id"])
                continue
            await store.mark_done("{item}s", {item}["id"])
            handled += 1
    log.info("{title}: %d {item}s", handled)
    return handled


{name.upper()} = Job(
    job_id="{name}",
    function={name},
    retries={retries},
    interval={interval!r},
    timeout={max(5.0, interval / 10)!r},
)


'''


_JOB_CLASS = '''@dataclass(frozen=True, slots=True)
class Job:
    """What to run, how often, and how hard to try."""

    job_id: str
    function: JobFunction
    args: tuple[Any, ...] = ()
    retries: int = 3
    interval: float | None = None
    timeout: float = 30.0
    attempt: int = 0

    def with_attempt(self, attempt: int) -> Job:
        return Job(self.job_id, self.function, self.args, self.retries, self.interval, self.timeout, attempt)


@dataclass(slots=True)
class Stats:
    scheduled: int = 0
    runs: int = 0
    failures: int = 0
    retries: int = 0
    cancelled: int = 0
    running: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


'''

_FOOTER = '''async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    loop = asyncio.get_running_loop()
    scheduler = Scheduler(clock=loop.time, sleep=asyncio.sleep)
    for job in ALL_JOBS:
        scheduler.schedule(job)
    await scheduler.run_forever()


if __name__ == "__main__":
    asyncio.run(main())
'''


def python_code(target: int, rng: random.Random) -> str:
    """Realistic Python of about ``target`` characters (ends with a newline): the module's pieces in order, as many
    as fit, then the job list and ``main``."""
    pieces = [_HEADER, _JOB_CLASS, _SCHEDULER]
    for i, kind in enumerate(_JOB_KINDS * 4):
        pieces.append(_job_code(kind[0] if i < len(_JOB_KINDS) else f'{kind[0]}_{i}', *kind[1:], rng))
    parts: list[str] = []
    names: list[str] = []
    for piece in pieces:
        jobs = 'ALL_JOBS = [' + ', '.join(n.upper() for n in names) + ']\n\n\n'
        if parts and sum(map(len, parts)) + len(piece) + len(jobs) + len(_FOOTER) > target:
            break
        parts.append(piece)
        if piece.startswith('async def '):
            names.append(piece[len('async def '):piece.index('(')])
    parts.append('ALL_JOBS = [' + ', '.join(n.upper() for n in names) + ']\n\n\n')
    parts.append(_FOOTER)
    return ''.join(parts)


def _fill(parts: list[str], sections: list[tuple[str, tuple[str, ...]]], budget: int, reserve: int) -> None:
    """Append whole sections' paragraphs (taking them from ``sections``) while the text stays within budget."""
    while sections:
        heading, paragraphs = sections[0]
        taken = [heading]
        for paragraph in paragraphs:
            if len('\n\n'.join([*parts, *taken, paragraph])) + reserve > budget:
                break
            taken.append(paragraph)
        if len(taken) == 1:
            return
        parts += taken
        sections.pop(0)  # what did not fit of a section is left out, never continued elsewhere
        if len(taken) <= len(paragraphs):
            return


def make_answer(size: int = 20_000, seed: int = SEED) -> tuple[str, str]:
    """(the answer, the code of its Python block): about a quarter prose, half code, a quarter prose. Paragraphs
    are whole, so the length is close to ``size`` rather than exact."""
    rng = random.Random(seed)
    code = python_code(size // 2, rng)
    fence = '\n\n## The code\n\n```python\n' + code + '```\n\n'
    prose = list(_PROSE)
    rng.shuffle(prose)
    listing = _LIST_INTRO + '\n\n' + '\n'.join(f'- {item}' for item in _LIST)
    numbered = _AFTER_INTRO + '\n\n' + '\n'.join(f'{i}. {item}' for i, item in enumerate(_AFTER, 1))
    closing = 'That is the whole scheduler: drop it into `scheduler.py`, run it, and adjust the jobs to your data.'
    sections = [('## How it works', (*prose, listing)), *_SECTIONS]
    head = [_OPENERS[0]]
    _fill(head, sections, (size - len(fence)) // 2, 0)
    tail = ['## Notes', numbered]
    _fill(tail, sections, size - len('\n\n'.join(head)) - len(fence) - 1, len(closing) + 2)
    tail.append(closing)
    return '\n\n'.join(head) + fence + '\n\n'.join(tail) + '\n', code


if __name__ == '__main__':
    answer, code = make_answer()
    print(answer)
    print(f'<!-- {len(answer)} characters, {len(code)} of code -->')
