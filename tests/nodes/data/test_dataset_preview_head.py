"""The data head check (validation before Run) and the preview: formats, mapping, bounded reads, token lengths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from flowstudio.nodes.data import head as head_module
from flowstudio.nodes.data.datasets import LoadData
from flowstudio.nodes.data.preview import lengths_summary, preview_data

from flowstudio.cli import main
from flowstudio.core.flow import Flow, NodeSpec, save_flow
from flowstudio.core.registry import default_registry
from flowstudio.core.validation import validate_flow
from tests.nodes.data.test_datasets import ROWS, _write

REPO = Path(__file__).resolve().parents[3]


def _check(path: Path, **params: str) -> list:
    return LoadData.check(LoadData.Params(source=str(path), **params), None)


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet", "dir"])
def test_every_file_type_previews_with_its_mapping(tmp_path, suffix):
    path = _write(tmp_path, suffix)
    assert _check(path) == []
    out = preview_data(path, "auto", "", "train", None)
    assert out["error"] is None, out
    assert out["format"] == "prompt_completion" and out["detected"]
    assert out["renamed"] == {"instruction": "prompt", "output": "completion"}
    assert out["columns"] == ["instruction", "output"]
    assert out["rows"][0] == {"prompt": "Say 0", "completion": "0!"}
    assert out["rows_read"] == 20
    if suffix in (".parquet", "dir", ".json"):
        assert out["total_rows"] == 20


def test_columns_that_fit_no_format_are_a_validation_problem(tmp_path, capsys):
    path = _jsonl(tmp_path / "odd.jsonl", [{"foo": "a", "bar": "b"}] * 3)
    [problem] = _check(path)
    assert problem.code == "bad_dataset" and problem.field == "format"
    assert "['foo', 'bar'] fit no known dataset format" in problem.message
    assert "column mapping" in problem.hint
    assert _check(path, column_mapping="foo=prompt, bar=completion") == []
    [wrong] = _check(path, column_mapping="foo=prompt, bar=completion", format="qa")
    assert "looks like 'prompt_completion'" in wrong.message
    # the same problem through validation and `flowstudio validate`, before anything runs
    flow = Flow(name="odd", nodes=[NodeSpec(id="data", type="data.load", params={"source": "odd.jsonl"})])
    problems = validate_flow(flow, default_registry(), tmp_path)
    assert [(p.node_id, p.code) for p in problems] == [("data", "bad_dataset")]
    save_flow(flow, tmp_path / "odd.flow.json")
    assert main(["validate", str(tmp_path / "odd.flow.json")]) == 1
    assert "node 'data', field 'format': the columns ['foo', 'bar'] fit no known" in capsys.readouterr().out


def test_bad_rows_and_bad_json_are_named(tmp_path):
    [bad_type] = _check(_jsonl(tmp_path / "m.jsonl", [{"messages": "not a list"}]))
    assert "row 0, column 'messages'" in bad_type.message
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a"}\n{"text": "b"}\n{"text": \n')
    [line] = _check(broken)
    assert "line 3 is not valid JSON" in line.message
    sharegpt = _jsonl(tmp_path / "s.jsonl", [{"conversations": [{"from": "human", "value": "hi"},
                                                                  {"from": "gpt", "value": "hello"}]}])
    assert _check(sharegpt) == []  # converted as data.load converts it
    assert preview_data(sharegpt, "auto", "", "train", None)["format"] == "messages"


def test_a_huge_first_row_is_read_boundedly_and_left_to_the_run(tmp_path):
    big = tmp_path / "big.jsonl"
    with big.open("w") as fh:
        fh.write('{"text": "' + "x" * (24 << 20) + '"}\n')
    tracemalloc.start()
    problems = _check(big)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert problems == []  # nothing can be judged from a cut row: the run checks it
    assert peak < 8 * head_module.MAX_HEAD_BYTES  # a few MiB, not the 24 MiB row
    out = preview_data(big, "auto", "", "train", None)
    assert "longer than 1 MiB" in out["error"]


def test_a_fifo_never_blocks(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(_check(fifo)), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the check blocked on a FIFO"
    assert "not a regular file" in result[0][0].message


def test_lengths_summary_matches_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100, 101):
        values = [int(v) for v in rng.integers(1, 500, n)]
        got = lengths_summary(values)
        assert got["rows"] == n and got["mean"] == pytest.approx(np.mean(values)) and got["max"] == max(values)
        assert got["p50"] == np.percentile(values, 50, method="nearest")
        assert got["p95"] == np.percentile(values, 95, method="nearest")


def test_token_lengths_equal_the_transformers_tokenizer(tiny_llama_dir):
    from transformers import AutoTokenizer

    path = REPO / "assets" / "data" / "sft_chat.jsonl"
    out = preview_data(path, "auto", "", "train", None, "builtin:tiny-llama")
    tokens = out["tokens"]
    assert not tokens["estimated"] and "builtin:tiny-llama" in tokens["label"]
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    rows = [json.loads(line) for line in path.read_text().splitlines()[:200]]
    lengths = [len(tok(tok.apply_chat_template(r["messages"], tokenize=False), add_special_tokens=True)["input_ids"])
               for r in rows]
    assert tokens["stats"] == lengths_summary(lengths)
    assert tokens["stats"]["mean"] == pytest.approx(sum(lengths) / len(lengths))


def test_without_a_tokenizer_lengths_are_an_estimate_and_say_so(tmp_path):
    path = _jsonl(tmp_path / "t.jsonl", [{"text": "a" * 40}, {"text": "b" * 9}])
    tokens = preview_data(path, "auto", "", "train", None)["tokens"]
    assert tokens["estimated"] and tokens["label"].startswith("estimate: characters / 4")
    assert tokens["stats"] == lengths_summary([10, 3])


def test_the_preview_imports_no_torch(tiny_llama_dir):
    code = (
        "import sys\n"
        "import flowstudio.ui.panels.dataset_preview\n"
        "from flowstudio.nodes.data.datasets import LoadData\n"
        "out = LoadData.preview(LoadData.Params(source='builtin:sft-chat'), None, 'builtin:tiny-llama')\n"
        "assert not out['tokens']['estimated'], out\n"
        "print([m for m in ('torch', 'transformers', 'datasets', 'peft', 'trl') if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_rows_stay_bounded(tmp_path):
    path = _jsonl(tmp_path / "many.jsonl", ROWS * 100)
    out = preview_data(path, "auto", "", "train", None)
    assert out["rows_read"] == 200 and len(out["rows"]) == 20 and out["complete"] is False
