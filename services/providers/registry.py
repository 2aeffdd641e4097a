"""Which providers this process offers, from the environment the SDKs read themselves."""

from __future__ import annotations

from collections.abc import Sequence

from services.providers.base import Provider
from services.providers.demo import DemoProvider


def build_providers(enabled: Sequence[str], *, demo_speed: float, demo_script: str | None = None,
                    demo_chunk: int | None = None, openai_api: str = 'chat') -> dict[str, Provider]:
    """The real providers turned on, highest priority first (the stream manager falls back in this order), then
    the demo provider, which is always there. A provider without its key is still built, so asking it for an
    answer says clearly that the key is missing instead of the provider silently vanishing.
    ``demo_script``/``demo_chunk``: the demo provider replays that text, in chunks of that size."""
    providers: dict[str, Provider] = {}
    for name in enabled:
        if name == 'openai':
            from services.providers.openai import OpenAIProvider

            providers['openai'] = OpenAIProvider(api=openai_api)  # type: ignore[arg-type]
        elif name == 'anthropic':
            from services.providers.anthropic import AnthropicProvider

            providers['anthropic'] = AnthropicProvider()
    providers['demo'] = DemoProvider(speed=demo_speed, script=demo_script, chunk_size=demo_chunk)
    return providers
