"""Fixtures that put the real ``openai`` SDK (through OpenAIProvider) in front of the wire-faithful fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.providers.openai import OpenAIProvider
from tests.fakes.provider_server import DEFAULT_API_KEY, FakeOpenAIServer, Script


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer(Script(seed=0)) as server:
        yield server


@pytest.fixture
async def openai_provider(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(api_key=DEFAULT_API_KEY, base_url=fake_openai.base_url)
    yield provider
    await provider.aclose()
