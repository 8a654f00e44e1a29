"""The Chat Playground with real model servers (`flowstudio serve` child processes) and real HTTP.

The trained model is the SFT template's LoRA adapter on tiny-llama (tests/ui/history/sft_runs.py; a cache
hit when the Run History tests ran first). Streamed answers are checked against a plain, non-streamed
request to the same server, made here with urllib.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from flowstudio.core.flow import load_flow
from flowstudio.engine import Engine
from flowstudio.ui.playground.server import SERVED_NAME
from tests.ui.history.sft_runs import save_shot, sft_flow_file, wait_until
from tests.ui.test_main_window_support import ScriptedPrompts, forget_changes

SERVER_TIMEOUT_S = 180.0
GREEDY = {"temperature": 0.0, "max_tokens": 10}


def plain_answer(server, messages: list[dict]) -> str:
    """The same request without streaming, from this process (no proxies)."""
    body = json.dumps({"model": SERVED_NAME, "messages": messages, **GREEDY}).encode()
    request = urllib.request.Request(server.url + "/chat/completions", body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {server.api_key}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=60) as reply:
        return json.loads(reply.read())["choices"][0]["message"]["content"]


def unauthorised_status(server) -> int:
    request = urllib.request.Request(server.url + "/models", headers={"Authorization": "Bearer wrong"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        opener.open(request, timeout=30)
    except urllib.error.HTTPError as err:
        return err.code
    return 200


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """The SFT run's outputs: sft.model (a LoRA adapter) and the events the run emitted."""
    path = sft_flow_file(tmp_path_factory.mktemp("playground"))
    with Engine() as engine:
        result = engine.run(load_flow(path), flow_dir=path.parent)
    assert result.ok, result.summary
    return {"adapter": result.summary["nodes"]["sft"]["outputs"]["model"]["path"], "events": result.events,
            "flow": path}


@pytest.fixture(scope="module")
def window(qapp, trained):
    from flowstudio.ui import theme
    from flowstudio.ui.window.main_window import MainWindow

    theme.apply_theme("dark")
    win = MainWindow(prompts=ScriptedPrompts(), autosave_ms=100, restore_layout=False)
    win.resize(1200, 800)
    win.show()
    yield win
    forget_changes(win)
    win.close()  # also stops the playground's servers
    view = win.playground.view
    assert view is None or not view.pool.servers


def _answer(pane, count: int) -> dict:
    wait_until(lambda: len(pane.stats) >= count, SERVER_TIMEOUT_S, "an answer")
    return pane.stats[count - 1]


def test_the_playground_streams_from_the_trained_model_and_keeps_it_loaded(window, trained):
    panel = window.run_panel
    for event in trained["events"]:  # the run as the Run panel saw it
        panel.on_event(event)
    menu = panel.chat_menu("sft")
    assert menu is not None and panel.chat_menu("data") is None
    [chat] = menu.actions()
    assert chat.text() == "Chat with this model"
    chat.trigger()  # opens the playground on the adapter and starts loading it
    view = window.playground.view
    assert view is not None and view.isVisible()
    pane = view.panes[0]
    assert pane.chosen() == trained["adapter"] and pane.lora.isVisibleTo(view) and pane.lora.isChecked()
    server = pane.server
    assert server is not None and server.source == trained["adapter"]
    pane.lora.setChecked(False)  # without its LoRA: the base model the adapter was trained on
    base = json.loads((Path(trained["adapter"]) / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert pane.source() == base
    pane.lora.setChecked(True)

    deltas: list[str] = []
    pane.delta.connect(deltas.append)
    view.system.setPlainText("You are terse.")
    view.temperature.setValue(0.0)
    view.max_tokens.setValue(GREEDY["max_tokens"])
    view.prompt.setPlainText("What is the capital of France?")
    assert view.send()  # sent while the model is still loading: it waits for it
    first = _answer(pane, 1)
    assert first["error"] is None and first["text"], first
    assert first["model"] == SERVED_NAME and server.state == "ready"
    assert "".join(deltas) == first["text"]
    turn1 = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is the capital of France?"}]
    assert first["text"] == plain_answer(server, turn1)  # the stream is the server's own answer
    assert pane.transcript.toPlainText().endswith(first["text"])
    pid, loads = server.pid, server.loads
    assert pid > 0 and loads == 1 and server.starts == 1

    view.prompt.setPlainText("And of Italy?")
    assert view.send()
    assert pane.stream is not None  # the model is loaded: the request goes out at once
    deltas.clear()
    second = _answer(pane, 2)
    assert second["error"] is None and "".join(deltas) == second["text"]
    assert (server.pid, server.loads, server.starts) == (pid, 1, 1)  # the same process: not reloaded
    assert [m["role"] for m in pane.messages] == ["user", "assistant", "user", "assistant"]
    turn2 = turn1 + [{"role": "assistant", "content": first["text"]}, {"role": "user", "content": "And of Italy?"}]
    assert second["text"] == plain_answer(server, turn2)  # the whole conversation went with it
    print(f"\nfirst token: {first['first_token_s']:.2f} s (with loading), second: {second['first_token_s']:.3f} s")
    assert unauthorised_status(server) == 401  # the random key guards the server



def test_side_by_side_answers_from_two_different_models(window, trained):
    view = window.playground.show()
    view.clear()
    a, b = view.panes
    b.set_source("builtin:tiny-llama")
    view.set_side_by_side(True)  # starts loading the second model at once
    assert b.isVisibleTo(view) and b.server is not None and b.server.state == "starting"
    view.temperature.setValue(0.0)
    view.max_tokens.setValue(GREEDY["max_tokens"])
    view.system.setPlainText("")
    view.prompt.setPlainText("Hello there")
    b_deltas: list[str] = []
    b.delta.connect(b_deltas.append)
    assert view.send()
    answer_a, answer_b = _answer(a, len(a.stats) + 1), _answer(b, 1)
    assert answer_a["error"] is None and answer_b["error"] is None and answer_a["text"] and answer_b["text"]
    assert a.server is not b.server and a.server.pid != b.server.pid
    assert (a.server.source, b.server.source) == (trained["adapter"], "builtin:tiny-llama")
    assert a.server.loads == 1 and a.server.starts == 1  # still the first load of the trained model
    turn = [{"role": "user", "content": "Hello there"}]
    assert answer_a["text"] == plain_answer(a.server, turn)
    assert answer_b["text"] == plain_answer(b.server, turn)
    assert set(view.pool.servers) == {trained["adapter"], "builtin:tiny-llama"}
    assert len(b_deltas) > 1 and "".join(b_deltas) == answer_b["text"]  # streamed piece by piece

    view.max_tokens.setValue(4000)  # Stop ends a long answer; the models stay loaded
    view.temperature.setValue(1.0)
    view.prompt.setPlainText("Tell me a long story.")
    pid = b.server.pid
    assert view.send() and view.stop_button.isEnabled()
    wait_until(lambda: b.stream is not None and len(b.stream.text) > 20, 60, "the story to begin")
    view.stop()
    stopped = _answer(b, 2)
    assert stopped["stopped"] and stopped["error"] is None and stopped["text"]
    assert b.server.state == "ready" and b.server.pid == pid and b.server.loads == 1
    wait_until(lambda: not a.busy, 60, "pane A to end")
    assert not view.stop_button.isEnabled() and view.send_button.isEnabled()

    b.unload()  # Unload stops that model's server
    assert "builtin:tiny-llama" not in view.pool.servers and b.server is None

    if os.environ.get("FLOWSTUDIO_SCREENSHOTS"):  # the docs' screenshot: the trained adapter beside SmolLM2
        view.clear()
        b.set_source("builtin:smollm2-135m-instruct")
        view.system.setPlainText("You are a helpful assistant. Answer in one sentence.")
        view.temperature.setValue(0.0)
        view.max_tokens.setValue(40)
        view.prompt.setPlainText("What is the capital of France?")
        assert view.send()
        _answer(b, 3)
        wait_until(lambda: not a.busy, 60, "pane A")
        view.resize(1400, 760)
        save_shot(view, "playground.png")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_server_ends_with_the_app_that_started_it(tmp_path):
    """The child asks the kernel for SIGTERM when its parent dies: a crashed app leaves no server."""
    import subprocess
    import time

    from flowstudio.ui.playground.server import BOOT

    script = tmp_path / "parent.py"
    script.write_text(
        "import os, subprocess, sys\n"
        f"boot = {BOOT!r}\n"
        "env = dict(os.environ, FLOWSTUDIO_PARENT_PID=str(os.getpid()))\n"
        "child = subprocess.Popen([sys.executable, '-c', boot, 'serve', '--port', '0', '--model', 'm=builtin:tiny-llama'],\n"
        "                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(child.pid, flush=True)\n"
        "import time; time.sleep(1.0)\n"
        "os._exit(0)\n")
    parent = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    child = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child}/status").exists() and "zombie" in Path(f"/proc/{child}/status").read_text():
            break
        time.sleep(0.1)
    else:
        os.kill(child, 9)
        raise AssertionError("the server outlived its parent")
