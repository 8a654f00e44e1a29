"""Training faults, injected for real: a half-written checkpoint, a loss that becomes NaN, inputs that must stay
as they were stored.

- a kill during a checkpoint save (fabricated: a newer `checkpoint-N` with truncated and missing files) →
  the rerun says so, resumes from the newest complete checkpoint and finishes;
- an absurd learning rate (1e20: finite, so `--set` accepts it) → the node fails naming learning_rate, and
  the engine does not cache it (the rerun trains again);
- an SFT on a `data.split` output in the real engine → the split's cache entry (and data.load's) gains no
  file and keeps its size.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flowstudio.nodes.data.datasets import LoadData, SplitData
from flowstudio.nodes.hf.checkpoints import MARKER, checkpoint_problem
from flowstudio.nodes.training.trainers import SupervisedFineTune

from flowstudio.core.errors import NodeRunError, RunCancelled
from flowstudio.core.flow import EdgeSpec, Flow, NodeSpec
from flowstudio.engine import ArtifactStore, DeviceInventory, Engine, RunOptions

FAST = {"batch_size": 8, "logging_steps": 2, "max_length": 128}


@pytest.fixture(scope="module")
def chat_train(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from flowstudio.core.node import PortValues
    from flowstudio.engine.context import LocalContext

    root = tmp_path_factory.mktemp("chat")
    data = LoadData().run(LocalContext("data", root / "d", root / "dc"), PortValues({}),
                          LoadData.Params(source="builtin:sft-chat"))
    return SplitData().run(LocalContext("split", root / "s", root / "sc"), PortValues(data),
                           SplitData.Params(eval_rows=40))["train"]


def test_a_half_written_checkpoint_is_skipped_and_the_run_resumes_from_the_last_complete_one(
        run_node, make_ctx, tiny_llama, chat_train, tmp_path: Path) -> None:
    inputs = {"model": tiny_llama, "dataset": chat_train}
    params = {"max_steps": 8, "learning_rate": 3e-3, "save_steps": 2, **FAST}
    stop = threading.Event()

    def sink(event: dict[str, Any]) -> None:
        if event["event"] == "progress" and event["step"] == 4:
            stop.set()

    ckpt = tmp_path / "ckpt"
    with pytest.raises(RunCancelled, match="stopped at step 4"):
        run_node(SupervisedFineTune, inputs, ctx=make_ctx("a", None, checkpoint_dir=ckpt, cancel_event=stop,
                                                          sink=sink), **params)
    complete = ckpt / "checkpoint-4"
    assert (complete / MARKER).is_file() and checkpoint_problem(complete) == ""
    # A kill while checkpoint-6 was being written: weights cut short, no optimizer, no trainer state, no marker.
    half = ckpt / "checkpoint-6"
    shutil.copytree(complete, half)
    for name in (MARKER, "optimizer.pt", "trainer_state.json"):
        (half / name).unlink()
    weights = half / "model.safetensors"
    with weights.open("r+b") as fh:
        fh.truncate(weights.stat().st_size // 2)
    assert checkpoint_problem(half) == "trainer_state.json is missing or unreadable"

    events: list[dict[str, Any]] = []
    out = run_node(SupervisedFineTune, inputs, ctx=make_ctx("b", events, checkpoint_dir=ckpt), **params)
    lines = [e["line"] for e in events if e["event"] == "log"]
    assert any(line.startswith("checkpoint-6 is incomplete") for line in lines), lines
    assert "resuming from checkpoint-4" in lines
    assert out["metrics"]["steps"] == 8
    assert [(s["start_step"], s["end_step"], s["status"]) for s in out["model"].meta["lineage"]] == [
        (0, 4, "stopped"), (4, 8, "finished")]
    assert checkpoint_problem(ckpt / "checkpoint-6") == "", "step 6 was saved again, completely this time"


def test_a_checkpoint_without_a_marker_is_judged_by_its_files(run_node, make_ctx, tiny_llama, chat_train,
                                                               tmp_path: Path) -> None:
    """Checkpoints from before the marker (or a kill between the save and the marker) are still resumable
    when whole; a truncated torch or safetensors file is found without one."""
    stop = threading.Event()
    ckpt = tmp_path / "ckpt"
    with pytest.raises(RunCancelled):
        run_node(SupervisedFineTune, {"model": tiny_llama, "dataset": chat_train},
                 ctx=make_ctx("a", None, checkpoint_dir=ckpt, cancel_event=stop,
                              sink=lambda e: e["event"] == "progress" and e["step"] == 1 and stop.set()),
                 max_steps=4, **FAST)
    saved = ckpt / "checkpoint-1"
    (saved / MARKER).unlink()
    assert checkpoint_problem(saved) == ""
    for name, expected in (("optimizer.pt", "optimizer.pt is not a whole torch file"),
                           ("model.safetensors", "model.safetensors has")):
        copy = tmp_path / f"copy-{name}" / "checkpoint-1"
        shutil.copytree(saved, copy)
        with (copy / name).open("r+b") as fh:
            fh.truncate((copy / name).stat().st_size - 100)
        assert checkpoint_problem(copy).startswith(expected)


def test_a_nan_loss_fails_the_node_naming_the_learning_rate(run_node, tiny_llama, chat_train) -> None:
    with pytest.raises(NodeRunError, match="training diverged: .* became nan") as err:
        run_node(SupervisedFineTune, {"model": tiny_llama, "dataset": chat_train}, max_steps=6,
                 learning_rate=1e20, **FAST)
    assert err.value.field == "learning_rate" and "learning_rate" in err.value.hint
    assert "1e+20" in str(err.value)


def test_a_model_that_computes_nan_already_is_blamed_not_the_learning_rate(run_node, tiny_llama_dir, chat_train,
                                                                           tmp_path: Path) -> None:
    import torch
    from flowstudio.nodes.hf.loading import model_artifact
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    with torch.no_grad():
        model.get_input_embeddings().weight[:, 0] = float("nan")
    model.save_pretrained(tmp_path / "nan-model")
    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(tmp_path / "nan-model")
    with pytest.raises(NodeRunError, match="before training started: the input model computes NaN") as err:
        run_node(SupervisedFineTune, {"model": model_artifact(tmp_path / "nan-model"), "dataset": chat_train},
                 max_steps=2, **FAST)
    assert err.value.field == "model"


def test_a_divergence_after_the_last_logged_step_is_found_in_the_weights(run_node, make_ctx, tiny_llama,
                                                                          chat_train) -> None:
    ctx = make_ctx("sft")
    with pytest.raises(NodeRunError, match="training diverged: weight .* is not finite after step 3"):
        run_node(SupervisedFineTune, {"model": tiny_llama, "dataset": chat_train}, ctx=ctx, max_steps=3,
                 learning_rate=1e20, **{**FAST, "logging_steps": 100})  # only step 1 is logged
    assert not any(Path(ctx.work_dir).iterdir()), "no model was saved"


# ---------------------------------------------------------------------------------------------- in the engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("engine")
    with Engine(inventory=DeviceInventory.fake(gpus=0), store=ArtifactStore(root / "cache")) as eng:
        yield eng


def sft_flow(learning_rate: float) -> Flow:
    nodes = [("model", "model.load", {"source": "builtin:tiny-llama"}),
             ("data", "data.load", {"source": "builtin:sft-chat"}),
             ("split", "data.split", {"eval_rows": 40}),
             ("sft", "train.sft", {"max_steps": 3, "learning_rate": learning_rate, **FAST})]
    edges = [("data.dataset", "split.dataset"), ("model.model", "sft.model"), ("split.train", "sft.dataset"),
             ("split.eval", "sft.eval_dataset")]
    return Flow(name="sft", nodes=[NodeSpec(id=i, type=t, params=p, position=(0.0, 0.0)) for i, t, p in nodes],
                edges=[EdgeSpec(source=s, target=d) for s, d in edges])


def files_of(entry: Path) -> dict[str, int]:
    return {p.relative_to(entry).as_posix(): p.stat().st_size for p in entry.rglob("*") if p.is_file()}


def test_training_on_a_split_leaves_the_stored_inputs_as_they_were(engine: Engine, tmp_path: Path) -> None:
    first = engine.run(sft_flow(3e-3), options=RunOptions(run_dir=tmp_path / "run1"))
    assert first.ok, first.summary
    nodes = first.summary["nodes"]
    split_entry = Path(nodes["split"]["outputs"]["train"]["path"]).parents[1]
    data_entry = Path(nodes["data"]["outputs"]["dataset"]["path"]).parents[1]
    # the split was stored before the SFT read it; the SFT tokenised it (cache-*.arrow files) elsewhere
    assert not [f for f in files_of(split_entry) if "cache-" in f] and not [f for f in files_of(data_entry)
                                                                            if "cache-" in f]
    store = engine.store
    assert store.verify(nodes["split"]["cache_key"]) == "" and store.verify(nodes["data"]["cache_key"]) == ""
    before = {e: files_of(e) for e in (split_entry, data_entry)}
    again = engine.run(sft_flow(5e-3), options=RunOptions(run_dir=tmp_path / "run2"))  # the SFT trains again
    assert again.ok and again.summary["nodes"]["sft"]["status"] == "done"
    assert again.summary["nodes"]["split"]["status"] == "cached"
    assert {e: files_of(e) for e in (split_entry, data_entry)} == before
    assert not (tmp_path / "run2" / "nodes" / "sft" / "scratch").exists(), "the scratch dir goes with the node"


def test_a_diverged_training_fails_and_is_not_cached(engine: Engine, tmp_path: Path) -> None:
    first = engine.run(sft_flow(1e20), options=RunOptions(run_dir=tmp_path / "run1"))
    sft = first.summary["nodes"]["sft"]
    assert first.status == "failed" and sft["status"] == "failed"
    assert "training diverged" in sft["error"] and sft["field"] == "learning_rate" and "learning_rate" in sft["hint"]
    again = engine.run(sft_flow(1e20), options=RunOptions(run_dir=tmp_path / "run2"))
    assert "sft" in {e.node for e in again.events if e.kind == "node_started"}, "a failure is never served"
    assert again.summary["nodes"]["sft"]["status"] == "failed"
    assert again.summary["nodes"]["split"]["status"] == "cached"
