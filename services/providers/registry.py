"""Which providers this process offers, from the environment the SDKs read themselves."""

from __future__ import annotations

import os
from collections.abc import Mapping

from services.providers.base import Provider
from services.providers.demo import DemoProvider


def build_providers(default: str, *, demo_speed: float, demo_script: str | None = None,
                    demo_chunk: int | None = None, env: Mapping[str, str] | None = None) -> dict[str, Provider]:
    """The demo provider is always there; a real one when its key or base URL is set, or when it is the default
    (so a missing key is reported clearly at the prompt instead of the provider silently vanishing).
    ``demo_script``/``demo_chunk``: the demo provider replays that text, in chunks of that size."""
    env = os.environ if env is None else env
    providers: dict[str, Provider] = {
        'demo': DemoProvider(speed=demo_speed, script=demo_script, chunk_size=demo_chunk)}
    if default == 'openai' or env.get('OPENAI_API_KEY') or env.get('OPENAI_BASE_URL'):
        from services.providers.openai import OpenAIProvider

        providers['openai'] = OpenAIProvider()
    if default == 'anthropic' or env.get('ANTHROPIC_API_KEY') or env.get('ANTHROPIC_BASE_URL'):
        from services.providers.anthropic import AnthropicProvider

        providers['anthropic'] = AnthropicProvider()
    return providers
