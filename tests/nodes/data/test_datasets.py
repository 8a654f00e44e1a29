"""data.load / data.split / data.tokenize on real files in every supported format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowstudio.nodes.data.datasets import LoadData, SplitData, TokenStats

from flowstudio.core.errors import NodeRunError

ROWS = [{"instruction": f"Say {i}", "output": f"{i}!"} for i in range(20)]


def _write(tmp_path: Path, suffix: str) -> Path:
    path = tmp_path / f"data{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    elif suffix == ".json":
        path.write_text(json.dumps(ROWS))
    elif suffix == ".csv":
        path.write_text("instruction,output\n" + "".join(f"{r['instruction']},{r['output']}\n" for r in ROWS))
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(ROWS), path)
    else:
        import datasets

        path = tmp_path / "saved"
        datasets.Dataset.from_list(ROWS).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet", "dir"])
def test_every_file_type_loads_and_aliases_become_prompt_completion(tmp_path, run_node, suffix):
    out = run_node(LoadData, source=str(_write(tmp_path, suffix)))["dataset"]
    assert out.meta["format"] == "prompt_completion"
    assert out.meta["rows"] == 20
    import datasets

    ds = datasets.load_from_disk(out.path)
    assert ds[3] == {"prompt": "Say 3", "completion": "3!"}


def test_column_mapping_renames_before_detection(tmp_path, run_node):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"q": f"What is {i}?", "a": str(i)}) + "\n" for i in range(5)))
    out = run_node(LoadData, source=str(path), column_mapping="q=question, a=answer")["dataset"]
    assert out.meta["format"] == "qa" and out.meta["columns"] == ["question", "answer"]


def test_unknown_columns_name_the_columns_and_the_formats(tmp_path, run_node):
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps({"foo": 1, "bar": "x"}) + "\n")
    with pytest.raises(NodeRunError) as err:
        run_node(LoadData, source=str(path))
    assert "foo" in str(err.value) and "bar" in str(err.value)
    assert "chosen + rejected" in err.value.hint and "messages" in err.value.hint and "question + answer" in err.value.hint


def test_bad_rows_and_bad_lines_are_pinpointed(tmp_path, run_node):
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n"
                    + json.dumps({"messages": "not a list"}) + "\n")
    with pytest.raises(NodeRunError, match="row 1, column 'messages'"):
        run_node(LoadData, source=str(path))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(NodeRunError, match="line 2"):
        run_node(LoadData, source=str(broken))


def test_missing_path_is_reported_before_the_run(tmp_path):
    problems = LoadData.check(LoadData.Params(source=str(tmp_path / "nope.jsonl")), tmp_path)
    assert problems and problems[0].field == "source" and "does not exist" in problems[0].message
    assert LoadData.check(LoadData.Params(source="builtin:qa"), tmp_path) == []
    assert LoadData.check(LoadData.Params(source="builtin:nope"), tmp_path)[0].field == "source"


@pytest.mark.parametrize("name,fmt,min_rows", [("sft-chat", "messages", 300), ("preference", "preference", 300),
                                               ("qa", "qa", 200), ("corpus", "text", 300)])
def test_builtin_demo_sets(run_node, tmp_path, name, fmt, min_rows):
    # built-in references are names, never resolved as paths (neither by the engine nor by the node)
    out = run_node(LoadData, source=f"builtin:{name}")["dataset"]
    assert out.meta["format"] == fmt and out.meta["rows"] >= min_rows


def test_format_mismatch_is_explained(run_node):
    with pytest.raises(NodeRunError, match="looks like 'qa'"):
        run_node(LoadData, source="builtin:qa", format="preference")


def test_split_is_seeded_and_disjoint(run_node, make_ctx):
    import datasets

    data = run_node(LoadData, source="builtin:qa")["dataset"]
    a = run_node(SplitData, {"dataset": data}, node_id="a", eval_fraction=0.2, seed=1)
    b = run_node(SplitData, {"dataset": data}, node_id="b", eval_fraction=0.2, seed=1)
    c = run_node(SplitData, {"dataset": data}, node_id="c", eval_fraction=0.2, seed=2)
    qa = [datasets.load_from_disk(x["eval"].path)["question"] for x in (a, b, c)]
    train = datasets.load_from_disk(a["train"].path)["question"]
    assert len(qa[0]) == 40 and len(train) == 160
    assert qa[0] == qa[1] and qa[0] != qa[2]
    assert not set(qa[0]) & set(train)
    assert a["eval"].meta["format"] == "qa"


def test_token_stats(run_node, tiny_llama):
    data = run_node(LoadData, source="builtin:sft-chat")["dataset"]
    stats = run_node(TokenStats, {"dataset": data, "tokenizer": tiny_llama}, max_length=4096)["stats"]
    assert stats["rows"] == 400 and stats["truncated_share"] == 0
    assert stats["mean"] > 0 and stats["p50"] <= stats["p95"] <= stats["max"]
    cut = run_node(TokenStats, {"dataset": data, "tokenizer": tiny_llama}, node_id="t2",
                   max_length=int(stats["p50"]))["stats"]
    assert 0.05 <= cut["truncated_share"] <= 0.5


def test_chat_data_needs_a_chat_template(run_node, tiny_llama_dir, tmp_path):
    import shutil

    from flowstudio.nodes.hf.loading import tokenizer_artifact

    plain = tmp_path / "plain_tok"
    shutil.copytree(tiny_llama_dir, plain)
    (plain / "chat_template.jinja").unlink()
    data = run_node(LoadData, source="builtin:sft-chat")["dataset"]
    with pytest.raises(NodeRunError, match="no chat template") as err:
        run_node(TokenStats, {"dataset": data, "tokenizer": tokenizer_artifact(plain)})
    assert "chat_template" in err.value.hint


def test_sharegpt_conversations_become_messages(tmp_path, run_node):
    import datasets

    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps([{"conversations": [{"from": "human", "value": "Hi?"},
                                                   {"from": "gpt", "value": "Hello!"}]}] * 3))
    out = run_node(LoadData, source=str(path))["dataset"]
    assert out.meta["format"] == "messages" and out.meta["conversational"] is True
    assert datasets.load_from_disk(out.path)[0]["messages"] == [{"role": "user", "content": "Hi?"},
                                                                {"role": "assistant", "content": "Hello!"}]


def _listing(path: Path) -> dict[str, int]:
    return {p.relative_to(path).as_posix(): p.stat().st_size for p in path.rglob("*") if p.is_file()}


def test_inputs_are_only_read_and_what_datasets_writes_goes_with_the_node(tmp_path):
    """data.load of the user's own save_to_disk directory and data.split of a dataset input: `datasets` writes
    `cache-*.arrow` files for select/map/train_test_split beside what it loaded; they must land in the node's
    scratch dir, which the engine's executor removes when the node ends."""
    import threading

    import datasets

    from flowstudio.engine.execute import execute_node

    user_dir = tmp_path / "saved"
    datasets.Dataset.from_list(ROWS * 5).save_to_disk(str(user_dir))
    before = _listing(user_dir)

    def run(node: type, node_id: str, params: dict, inputs: dict) -> dict:
        node_dir = tmp_path / "run" / node_id
        task = {"node_id": node_id, "node_type": node.type, "module": node.__module__, "qualname": node.__qualname__,
                "params": params, "inputs": inputs, "work_dir": str(node_dir / "work"),
                "checkpoint_dir": str(node_dir / "checkpoint"), "flow_dir": str(tmp_path),
                "log_path": str(node_dir / "log.txt")}
        result = execute_node(task, lambda event: None, threading.Event())
        assert result["ok"], result
        assert not (node_dir / "scratch").exists()
        return result["outputs"]

    loaded = run(LoadData, "data", {"source": str(user_dir), "limit": 90}, {})
    assert _listing(user_dir) == before
    data_dir = Path(loaded["dataset"]["path"])
    stored = _listing(data_dir)
    split = run(SplitData, "split", {"eval_rows": 10}, {"dataset": loaded["dataset"]})
    assert _listing(data_dir) == stored and not any("cache-" in name for name in stored)
    assert len(datasets.load_from_disk(split["eval"]["path"])) == 10
