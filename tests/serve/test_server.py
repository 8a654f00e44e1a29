"""The server end to end: a real uvicorn server on a free loopback port, driven by the `openai` package."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import math
import struct
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from flowstudio.serve.app import build_app
from flowstudio.serve.backends import HFBackend
from flowstudio.serve.flows import FlowBackend
from flowstudio.serve.pool import ModelPool
from flowstudio.serve.server import start_in_thread

from .tool_backend import ANSWER, ScriptedToolModel, SlowTinyLlama, tool_schema


def http(method: str, url: str, body: object = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


ROOT = Path(__file__).resolve().parents[2]


def chat_flow() -> dict:
    """io.text (question, history) -> chain.prompt -> chain.generate on tiny-llama -> io.output."""
    return {"schema_version": 1, "name": "served chain", "nodes": [
        {"id": "question", "type": "io.text", "params": {"text": "hi"}},
        {"id": "history", "type": "io.text", "params": {"text": ""}},
        {"id": "prompt", "type": "chain.prompt", "params": {"template": "{{ past }}\nUser: {{ question }}"}},
        {"id": "model", "type": "model.load", "params": {"source": "builtin:smollm2-135m-instruct"}},
        {"id": "generate", "type": "chain.generate", "params": {"max_new_tokens": 16, "use_chat_template": False}},
        {"id": "answer", "type": "io.output", "params": {}}],
        "edges": [{"source": "question.text", "target": "prompt.question"},
                  {"source": "history.text", "target": "prompt.past"},
                  {"source": "prompt.text", "target": "generate.prompt"},
                  {"source": "model.model", "target": "generate.model"},
                  {"source": "generate.text", "target": "answer.value"}]}


TINY_SETS = ["model.source=builtin:tiny-llama", "generate.max_new_tokens=8"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    flow_path = tmp_path_factory.mktemp("flows") / "chat.flow.json"
    flow_path.write_text(json.dumps(chat_flow()))
    pool = ModelPool()
    pool.add(HFBackend("tiny", "builtin:tiny-llama"))
    tools = ScriptedToolModel("tool-model")
    slow = SlowTinyLlama("slow-tiny")
    pool.add(tools)
    pool.add(slow)
    pool.add(FlowBackend("chain", flow_path, sets=TINY_SETS, device="cpu"))
    pool.load_all()
    running = start_in_thread(build_app(pool, max_body_bytes=64 * 1024))
    yield {"url": running.url, "flow": flow_path, "tools": tools, "slow": slow, "pool": pool}
    running.stop()
    pool.close()


@pytest.fixture(scope="module")
def client(served):
    return openai.OpenAI(base_url=served["url"], api_key="unused", max_retries=0, timeout=120)


def ask(client, content: str, model: str = "tiny", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}],
                                          max_tokens=kw.pop("max_tokens", 8), temperature=0, **kw)


def test_lists_every_served_name(client):
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {"tiny", "tool-model", "slow-tiny", "chain"}
    assert models["chain"].owned_by == "flowstudio"


def test_chat_completion_from_tiny_llama(client):
    reply = ask(client, "Hello there")
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == "tiny"
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 0 and 0 < reply.usage.completion_tokens <= 8


def test_streamed_text_equals_non_streamed(client):
    plain = ask(client, "Tell me a story", max_tokens=16).choices[0].message.content
    chunks = list(ask(client, "Tell me a story", max_tokens=16, stream=True))
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain
    text = client.completions.create(model="tiny", prompt="The cat", max_tokens=12, temperature=0).choices[0].text
    streamed = client.completions.create(model="tiny", prompt="The cat", max_tokens=12, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == text and text


def test_sampling_params_n_seed_and_stop(client):
    reply = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi"}], n=2,
                                           temperature=1.0, top_p=0.9, seed=7, max_tokens=6)
    again = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi"}], n=2,
                                           temperature=1.0, top_p=0.9, seed=7, max_tokens=6)
    assert [c.index for c in reply.choices] == [0, 1]
    assert [c.message.content for c in reply.choices] == [c.message.content for c in again.choices]
    full = client.completions.create(model="tiny", prompt="The cat", max_tokens=12, temperature=0).choices[0].text
    stop = full.strip().split()[1]
    cut = client.completions.create(model="tiny", prompt="The cat", max_tokens=12, temperature=0, stop=[stop])
    assert stop not in cut.choices[0].text and full.startswith(cut.choices[0].text)


def test_a_served_flow_answers_through_chat_completions(client, served):
    from flowstudio.core.flow import load_flow
    from flowstudio.engine import Engine, RunOptions

    def direct(question: str, history: str) -> str:  # the same flow run by the engine directly
        with Engine() as engine:
            result = engine.run(load_flow(served["flow"]), served["flow"].parent,
                                RunOptions(sets=TINY_SETS, inputs=[f"question={question}", f"history={history}"]))
        return result.summary["outputs"]["answer"]

    reply = ask(client, "What is the capital of France?", model="chain")
    expected = direct("What is the capital of France?", "")
    assert reply.choices[0].message.content == expected and expected
    streamed = ask(client, "What is the capital of France?", model="chain", stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == expected
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "And Spain?"}]
    reply = client.chat.completions.create(model="chain", messages=conversation)
    assert reply.choices[0].message.content == direct("And Spain?", "User: Hi\nAssistant: Hello!")


def test_tool_call_round_trip(client, served):
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = client.chat.completions.create(model="tool-model", messages=messages, tools=[tool_schema()])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert '"name": "get_weather"' in served["tools"].prompts[-1]  # the template rendered the tools
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"}]
    second = client.chat.completions.create(model="tool-model", messages=messages, tools=[tool_schema()])
    assert second.choices[0].message.content == ANSWER and second.choices[0].finish_reason == "stop"
    prompt = served["tools"].prompts[-1]
    assert "<tool_response>sunny, 24 C</tool_response>" in prompt and '"city": "Paris"' in prompt
    streamed = list(client.chat.completions.create(model="tool-model", messages=messages[:1], tools=[tool_schema()],
                                                   stream=True))
    deltas = [c.choices[0].delta for c in streamed if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0].tool_calls[0].function.name == "get_weather"
    assert streamed[-1].choices[0].finish_reason == "tool_calls"
    plain = client.chat.completions.create(model="tool-model", messages=messages[:1], tools=[tool_schema()],
                                           tool_choice="none")
    assert plain.choices[0].message.tool_calls is None  # no tools offered: the reply stays text


def test_embeddings_are_mean_pooled_unit_vectors(client):
    result = client.embeddings.create(model="tiny", input=["a cat sat", "the dog ran", "a cat sat"])
    vectors = [d.embedding for d in result.data]
    assert len(vectors) == 3 and len(vectors[0]) == 64
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)
    assert vectors[0] == pytest.approx(vectors[2]) and vectors[0] != pytest.approx(vectors[1])
    _, raw = http("POST", f"{client.base_url}embeddings", {"model": "tiny", "input": "a cat sat",
                                                            "encoding_format": "base64"})
    data = base64.b64decode(raw["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(data) // 4}f", data)) == pytest.approx(vectors[0], abs=1e-6)
    assert raw["usage"]["prompt_tokens"] > 0


def test_unknown_model_is_404_model_not_found(client):
    with pytest.raises(openai.NotFoundError) as err:
        ask(client, "hi", model="no-such-model")
    assert err.value.status_code == 404 and err.value.code == "model_not_found"
    assert err.value.body["type"] == "invalid_request_error"


def test_bad_params_and_oversized_requests(client, served):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], temperature=3)
    assert err.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=[])
    with pytest.raises(openai.BadRequestError) as err:
        ask(client, "word " * 600)  # longer than tiny-llama's 512-token context
    assert err.value.code == "context_length_exceeded"
    status, big = http("POST", f"{served['url']}/chat/completions",
                       {"model": "tiny", "messages": [{"role": "user", "content": "x" * 70_000}]})
    assert status == 413 and big["error"]["code"] == "request_too_large"
    assert http("GET", f"{served['url']}/nothing") == (404, http("GET", f"{served['url']}/nothing")[1])
    assert http("GET", f"{served['url']}/nothing")[1]["error"]["code"] == "not_found"


def test_eight_concurrent_requests_get_their_own_outputs(client):
    prompts = ["Once upon a time", "The dog", "I like", "The sun", "A bird", "Hello", "the cat sat on", "We went"]
    expected = [client.completions.create(model="tiny", prompt=p, max_tokens=10, temperature=0).choices[0].text
                for p in prompts]
    assert len(set(expected)) > 1, "the prompts should give different greedy outputs"

    def one(i: int) -> str:
        if i % 2:
            stream = client.completions.create(model="tiny", prompt=prompts[i], max_tokens=10, temperature=0,
                                               stream=True)
            return "".join(c.choices[0].text for c in stream)
        return client.completions.create(model="tiny", prompt=prompts[i], max_tokens=10, temperature=0).choices[0].text

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(one, range(8)))
    assert got == expected


def test_disconnecting_mid_stream_stops_the_generation(client, served):
    slow = served["slow"]
    slow.finished.clear()
    stream = client.completions.create(model="slow-tiny", prompt="The cat", max_tokens=480, temperature=0,
                                       stream=True)
    for i, _chunk in enumerate(stream):
        if i == 3:
            break
    stream.close()
    deadline = time.monotonic() + 10
    while not slow.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow.finished, "the generation did not end"
    assert slow.finished[0].completion_tokens < 200  # 480 tokens would take over 2 s
    assert ask(client, "still there?", model="slow-tiny", max_tokens=4).choices[0].message.content is not None


def test_api_key_is_required_when_set():
    pool = ModelPool()
    pool.add(HFBackend("tiny", "builtin:tiny-llama"))
    pool.load_all()
    running = start_in_thread(build_app(pool, api_key="s3cret"))
    try:
        wrong = openai.OpenAI(base_url=running.url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as err:
            wrong.models.list()
        assert err.value.status_code == 401 and err.value.code == "invalid_api_key"
        assert http("POST", f"{running.url}/chat/completions", {})[0] == 401  # no header at all
        right = openai.OpenAI(base_url=running.url, api_key="s3cret", max_retries=0)
        assert [m.id for m in right.models.list()] == ["tiny"]
    finally:
        running.stop()
        pool.close()
