"""train.sft inside the real engine: stop the SFT template mid-way, resume it in the same run dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowstudio.core.flow import load_flow
from flowstudio.core.paths import templates_dir
from flowstudio.engine import Engine, RunOptions
from flowstudio.engine.cache import ArtifactStore
from flowstudio.engine.devices import DeviceInventory


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(inventory=DeviceInventory.fake(gpus=0), store=ArtifactStore(tmp_path / "cache"))
    yield eng
    eng.close()


def test_stop_the_sft_template_then_resume_it(engine: Engine, tmp_path: Path):
    pressed: list[int] = []

    def stop_at_step_10(event) -> None:
        if event.kind == "node_progress" and event.node == "sft" and (event.step or 0) >= 10 and not pressed:
            pressed.append(event.step)
            engine.cancel()

    sets = ["model.source=builtin:tiny-llama", "sft.learning_rate=0.005"]
    flow_file = templates_dir() / "sft_lora.flow.json"
    options = RunOptions(sets=sets, run_dir=tmp_path / "run", source=str(flow_file))
    stopped = engine.run(load_flow(flow_file), flow_dir=flow_file.parent, options=options,
                         listeners=[stop_at_step_10])
    assert stopped.status == "cancelled", stopped.summary
    assert stopped.summary["nodes"]["sft"]["status"] == "cancelled"
    checkpoints = sorted(Path(stopped.summary["nodes"]["sft"]["checkpoint_dir"]).glob("checkpoint-*"))
    assert len(checkpoints) == 1
    stopped_at = int(checkpoints[0].name.split("-")[1])
    assert 10 <= stopped_at < 40

    resumed = engine.resume(stopped.run_dir)
    assert resumed.ok, resumed.summary
    sft = resumed.summary["nodes"]["sft"]
    assert sft["metrics"]["steps"] == 40
    lineage = sft["outputs"]["model"]["meta"]["lineage"]
    assert [(s["start_step"], s["end_step"], s["status"]) for s in lineage] == [
        (0, stopped_at, "stopped"), (stopped_at, 40, "finished")]
    assert lineage[1]["resumed_from"] == f"checkpoint-{stopped_at}"
    assert sft["metrics"]["eval_loss"] < sft["metrics"]["eval_loss_start"]
