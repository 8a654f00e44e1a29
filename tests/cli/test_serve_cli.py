"""`flowstudio serve` as a process: it prints its address once ready, and --api-key guards every request."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import openai
import pytest

from flowstudio.serve.server import READY_PREFIX


def start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "flowstudio", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(READY_PREFIX):
            return proc, line[len(READY_PREFIX):].strip()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve did not start: {proc.stderr.read()}")


def test_serve_cli_with_api_key():
    proc, url = start("--model", "tiny=builtin:tiny-llama", "--api-key", "k3y")
    try:
        assert url.startswith("http://127.0.0.1:")
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="nope", max_retries=0).models.list()
        client = openai.OpenAI(base_url=url, api_key="k3y", max_retries=0)
        assert [m.id for m in client.models.list()] == ["tiny"]
        reply = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi"}],
                                               max_tokens=4, temperature=0)
        assert reply.usage.completion_tokens == 4
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_cli_refuses_nothing_to_serve():
    out = subprocess.run([sys.executable, "-m", "flowstudio", "serve"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "nothing to serve" in out.stderr
