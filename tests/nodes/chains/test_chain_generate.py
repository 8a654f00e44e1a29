"""chain.generate on the real tiny Llama: streaming, stop strings, chat templates, warm models, cacheability."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowstudio.nodes.chains.chain import Generate

from flowstudio.core.node import PortValues
from flowstudio.core.values import Artifact


def generate(make_ctx, model: Artifact, prompt, **params):
    events: list[dict] = []
    out = Generate().run(make_ctx("gen", events=events), PortValues({"model": model, "prompt": prompt}),
                         Generate.Params(**params))
    return out, events


def streamed(events: list[dict]) -> str:
    return "".join(e["text"] for e in events if e["event"] == "stream")


def test_streams_exactly_the_reply_and_reports_metrics(make_ctx, tiny_llama) -> None:
    out, events = generate(make_ctx, tiny_llama, "Once upon a time", max_new_tokens=24, temperature=1.0, seed=3)
    assert out["text"] and streamed(events) == out["text"]
    assert len([e for e in events if e["event"] == "stream"]) > 1  # piece by piece, not at the end
    metrics = {e["name"]: e["value"] for e in events if e["event"] == "metric"}
    assert metrics["new_tokens"] == 24 and metrics["tokens_per_s"] > 0
    assert out["messages"][-1] == {"role": "assistant", "content": out["text"]}


def test_same_seed_same_text_and_greedy_is_deterministic(make_ctx, tiny_llama) -> None:
    a, _ = generate(make_ctx, tiny_llama, "The cat", max_new_tokens=16, temperature=1.2, seed=7)
    b, _ = generate(make_ctx, tiny_llama, "The cat", max_new_tokens=16, temperature=1.2, seed=7)
    c, _ = generate(make_ctx, tiny_llama, "The cat", max_new_tokens=16, temperature=1.2, seed=8)
    assert a["text"] == b["text"] != c["text"]
    g1, _ = generate(make_ctx, tiny_llama, "The cat", max_new_tokens=8)
    g2, _ = generate(make_ctx, tiny_llama, "The cat", max_new_tokens=8)
    assert g1["text"] == g2["text"]


def test_stop_string_ends_the_reply_and_is_never_streamed(make_ctx, tiny_llama) -> None:
    full, _ = generate(make_ctx, tiny_llama, "A story:", max_new_tokens=40, temperature=1.0, seed=11)
    text = full["text"]
    assert len(text) > 12
    stop = text[len(text) // 2: len(text) // 2 + 3]
    cut = text[: text.index(stop)]
    out, events = generate(make_ctx, tiny_llama, "A story:", max_new_tokens=40, temperature=1.0, seed=11,
                           stop=[stop, "never appears \u2603"])
    assert out["text"] == cut
    assert streamed(events) == cut and stop not in streamed(events)
    assert any("stopped: stop" in e.get("line", "") for e in events if e["event"] == "log")


def test_chat_template_is_applied_to_text_and_messages(tiny_llama_dir: Path) -> None:
    from flowstudio.nodes.chains.generation import render_prompt
    from flowstudio.nodes.hf.loading import load_tokenizer

    tok = load_tokenizer(tiny_llama_dir)
    text, chat = render_prompt(tok, "Hi")
    assert chat and text == tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                                    add_generation_prompt=True)
    raw, chat = render_prompt(tok, "Hi", use_chat_template=False)
    assert raw == "Hi" and not chat
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    text, _ = render_prompt(tok, messages)
    assert "Be brief." in text and text.index("Be brief.") < text.index("Hi")


def test_system_param_is_added_to_text_prompts(make_ctx, tiny_llama) -> None:
    out, _ = generate(make_ctx, tiny_llama, "Hi", max_new_tokens=2, system="Be brief.")
    assert out["messages"][:2] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def test_bad_prompt_value_names_the_port(make_ctx, tiny_llama) -> None:
    from flowstudio.core.errors import NodeRunError

    with pytest.raises(NodeRunError) as err:
        generate(make_ctx, tiny_llama, [1, 2], max_new_tokens=2)
    assert err.value.field == "prompt"


def test_model_stays_warm_in_the_process(make_ctx, tiny_llama) -> None:
    from flowstudio.nodes.chains.generation import load_model

    first = load_model(tiny_llama)
    _, events = generate(make_ctx, tiny_llama, "Hi", max_new_tokens=2)
    assert load_model(tiny_llama) is first
    assert any("already loaded (warm)" in e.get("line", "") for e in events if e["event"] == "log")


def test_cacheable_only_when_deterministic() -> None:
    assert Generate.is_cacheable(Generate.Params(temperature=0))
    assert Generate.is_cacheable(Generate.Params(temperature=0.8, seed=1))
    assert not Generate.is_cacheable(Generate.Params(temperature=0.8))


def test_second_engine_run_finds_the_model_warm_in_its_worker(tmp_path) -> None:
    """Through the engine's Python API: the long-lived worker keeps the model between runs."""
    from flowstudio.engine import Engine, RunOptions
    from flowstudio.engine.events import NodeLog
    from tests.stubs import make_flow

    flow = make_flow([("m", "model.load", {"source": "builtin:tiny-llama"}),
                      ("q", "io.text", {"text": "Hello"}),
                      ("g", "chain.generate", {"max_new_tokens": 4}),
                      ("out", "io.output", {})],
                     [("m.model", "g.model"), ("q.text", "g.prompt"), ("g.text", "out.value")])
    engine = Engine()
    try:
        logs = []
        for _ in range(2):
            result = engine.run(flow, tmp_path, RunOptions(use_cache=False))
            assert result.ok, result.summary
            logs.append([e.line for e in result.events if isinstance(e, NodeLog) and e.node == "g"])
        assert any("loaded in" in line for line in logs[0])
        assert any("already loaded (warm)" in line for line in logs[1])
        assert isinstance(result.summary["outputs"]["out"], str)
    finally:
        engine.close()


def test_stop_request_ends_generation_within_a_token(make_ctx, tiny_llama) -> None:
    from flowstudio.core.errors import RunCancelled

    events: list[dict] = []
    ctx = make_ctx("gen", events=events)

    def sink(event: dict) -> None:
        events.append(event)
        if event["event"] == "stream":
            ctx.cancel_event.set()

    ctx.sink = sink
    with pytest.raises(RunCancelled, match="stopped after"):
        Generate().run(ctx, PortValues({"model": tiny_llama, "prompt": "Go"}),
                       Generate.Params(max_new_tokens=400, temperature=1.0, seed=1))
    assert len([e for e in events if e["event"] == "stream"]) <= 3


def test_prompt_longer_than_the_context_is_a_clear_error(make_ctx, tiny_llama) -> None:
    from flowstudio.core.errors import NodeRunError

    with pytest.raises(NodeRunError) as err:
        generate(make_ctx, tiny_llama, "word " * 2000, max_new_tokens=4)
    assert err.value.field == "prompt" and "at most 512" in str(err.value)


def test_engine_caches_deterministic_generation_only(tmp_path) -> None:
    """Greedy (or seeded) generation comes from the cache on the second run; unseeded sampling runs again;
    a changed sampling param is a new key."""
    from flowstudio.engine import Engine, RunOptions
    from tests.stubs import make_flow

    def flow(**params):
        return make_flow([("m", "model.load", {"source": "builtin:tiny-llama"}), ("q", "io.text", {"text": "Hi"}),
                          ("g", "chain.generate", {"max_new_tokens": 3, **params})],
                         [("m.model", "g.model"), ("q.text", "g.prompt")])

    engine = Engine()
    try:
        def status(f) -> str:
            result = engine.run(f, tmp_path, RunOptions())
            assert result.ok, result.summary
            return result.summary["nodes"]["g"]["status"]

        assert [status(flow()), status(flow())] == ["done", "cached"]
        assert status(flow(top_k=5, temperature=0.7, seed=1)) == "done"
        assert status(flow(top_k=5, temperature=0.7, seed=1)) == "cached"
        assert [status(flow(temperature=0.7)), status(flow(temperature=0.7))] == ["done", "done"]
    finally:
        engine.close()


def test_special_token_stop_strings_stop_on_their_ids(tiny_llama_dir: Path) -> None:
    from flowstudio.nodes.chains.generation import LoadedModel, Sampling, generation_kwargs
    from flowstudio.nodes.hf.loading import load_tokenizer

    tok = load_tokenizer(tiny_llama_dir)
    loaded = LoadedModel(None, tok, "", "cpu")
    kwargs = generation_kwargs(loaded, Sampling(stop=("<|im_start|>", "plain text")))
    assert kwargs["eos_token_id"] == [tok.convert_tokens_to_ids("<|im_start|>")]
    assert "eos_token_id" not in generation_kwargs(loaded, Sampling(stop=("plain text",)))
