"""The long-lived services of one app process, built once from the settings and shared by every page."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from services.event_bus import EventBus, InProcessEventBus
from services.preferences import PreferenceStore
from services.providers.base import Provider
from services.providers.registry import build_providers
from services.reclaim import Reclaimer, freeze
from services.rendering import warm_up
from services.retry import RetryPolicy
from services.settings import Settings
from services.storage import Storage
from services.stream_manager import StreamManager

log = logging.getLogger(__name__)

P = ParamSpec('P')
T = TypeVar('T')


def _one_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix='scribe-work')


@dataclass(slots=True)
class AppServices:
    settings: Settings
    storage: Storage
    bus: EventBus
    providers: dict[str, Provider]
    manager: StreamManager
    preferences: PreferenceStore
    #: Collects and trims a moment after pages close and answers end (see services/reclaim.py).
    reclaimer: Reclaimer
    #: The thread for CPU work kept off the event loop (highlighting stored answers, exports). One thread, not
    #: asyncio's pool of several: the work is pure Python, which the GIL runs one thread at a time anyway, and
    #: glibc gives each new thread its own heap, whose freed memory stays with the process (the memory bench saw
    #: five pool threads leave about 8 MB behind).
    _worker: ThreadPoolExecutor = field(default_factory=_one_thread)

    async def run_in_worker(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``function(*args, **kwargs)`` on the work thread."""
        return await asyncio.get_running_loop().run_in_executor(self._worker,
                                                                functools.partial(function, *args, **kwargs))

    @classmethod
    def build(cls, settings: Settings) -> AppServices:
        storage = Storage(settings.database_url)
        bus = InProcessEventBus()
        providers = build_providers(settings.providers, demo_speed=settings.demo_speed,
                                    demo_script=settings.demo_script, demo_chunk=settings.demo_chunk,
                                    openai_api=settings.openai_api)
        preferences = PreferenceStore(storage, settings.preferences, providers=list(providers))
        reclaimer = Reclaimer()
        manager = StreamManager(storage, bus, providers, default_provider=settings.provider,
                                default_model=settings.model, flush_interval=settings.flush_interval,
                                checkpoint_interval=settings.checkpoint_interval,
                                retry_policy=RetryPolicy(retries=settings.retries),
                                max_concurrent=settings.max_concurrent,
                                requests_per_minute=settings.requests_per_minute,
                                max_prompt_chars=settings.max_prompt_chars, pause_limit=settings.pause_limit,
                                preferences=preferences, on_ended=reclaimer.soon)
        reclaimer.busy = lambda: bool(manager.active_ids())
        return cls(settings, storage, bus, providers, manager, preferences, reclaimer)

    def prepare(self) -> None:
        """Before the server listens: build the grammars and the markdown parser (0.4 s), then freeze all that is
        alive out of later collections (services/reclaim.py). Not once pages can be served: NiceGUI does not wait
        for start-up handlers, a page alive at the freeze would never be collected, and waiting for a moment
        without pages may wait for ever, leaving every full collection to walk the grammars (30 ms, a stall for
        every live stream)."""
        warm_up()
        freeze()

    async def start(self) -> None:
        if self.settings.redis_url:
            log.warning('--redis-url is set, but this version shares streams in-process only: '
                        'run a single app process')
        if self.settings.auth:
            log.warning('--auth is set, but accounts are not available yet: the app runs single-user')
        await self.storage.start()
        self.manager.governor.start()
        orphans = await self.storage.interrupt_orphans()
        if orphans:
            log.warning('%d answer(s) were cut off by a previous stop; they are marked interrupted', len(orphans))

    async def stop(self) -> None:
        self.reclaimer.cancel()
        await self.manager.shutdown()
        for provider in self.providers.values():
            await provider.aclose()
        await self.storage.close()
        self._worker.shutdown(wait=False, cancel_futures=True)


_current: AppServices | None = None


def install(services: AppServices) -> None:
    global _current
    _current = services


def current() -> AppServices:
    if _current is None:
        raise RuntimeError('Scribe services are not started')
    return _current
