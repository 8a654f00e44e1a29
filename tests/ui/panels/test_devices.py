"""The Devices panel: GPU rows from nvidia-smi output, CPU only here, the run's device, which node ran
where, and Free memory emptying the engine's warm workers."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from flowstudio.engine.gpu_usage import UsageReport, parse_smi_csv
from flowstudio.ui.panels.devices import DevicesPanel
from tests.engine.test_devices_usage import WITH_UNITS
from tests.ui import test_main_window_support as support
from tests.ui.run.test_presenter import _open, _run

home = support.home  # a fixture
window = support.window  # a fixture


def test_cpu_only_machine(qtbot):
    panel = DevicesPanel()
    qtbot.addWidget(panel)
    panel.show()  # polls NVML / nvidia-smi in a thread: neither works on this machine
    qtbot.waitUntil(lambda: panel.report is not None, timeout=10_000)
    assert panel.summary.text().startswith("CPU only: no NVIDIA GPU was found")
    assert panel.gpus.isHidden() and panel.gpu_set.isHidden()
    gpus_choice = panel.choice.model().item(panel.choice.findData("gpus"))
    assert not gpus_choice.isEnabled()
    assert panel.device() == "auto"
    panel.choice.setCurrentIndex(panel.choice.findData("cpu"))
    assert panel.device() == "cpu"


def test_gpu_rows_and_a_gpu_set(qtbot):
    panel = DevicesPanel()
    qtbot.addWidget(panel)
    panel.show_report(UsageReport(tuple(parse_smi_csv(WITH_UNITS)), "nvidia-smi"))
    assert panel.summary.text() == "2 GPUs (read through nvidia-smi)"
    rows = [[panel.gpus.topLevelItem(i).text(c) for c in range(4)] for i in range(panel.gpus.topLevelItemCount())]
    assert rows == [["0", "NVIDIA H200", "71,234 / 143,771 MiB (50%)", "87%"],
                    ["1", "NVIDIA GeForce RTX 4090", "3 / 24,564 MiB (0%)", "n/a"]]
    seen = []
    panel.deviceChanged.connect(seen.append)
    panel.choice.setCurrentIndex(panel.choice.findData("gpus"))
    assert panel.device() == "cuda:0,1" and not panel.gpu_set.isHidden()
    panel.gpu_set.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert panel.device() == "cuda:1" and seen[-1] == "cuda:1"
    panel.set_device("cuda:0")
    assert panel.device() == "cuda:0"
    panel.set_device("auto")
    assert panel.device() == "auto"


def test_the_device_choice_reaches_the_run_and_nodes_show_where_they_ran(window, qtbot, tmp_path: Path):
    _open(window, [("m", "stub.model", {}), ("c", "stub.const", {"value": 1})])
    window.devices.choice.setCurrentIndex(window.devices.choice.findData("cpu"))
    assert window.run_device == "cpu"
    result = _run(window, qtbot)
    assert result.ok, result.summary
    info = json.loads((Path(result.summary["run_dir"]) / "run.json").read_text())
    assert info["attempts"][-1]["options"]["device"] == "cpu"
    rows = {node: (runs_on, state) for node, runs_on, state in window.devices.rows()}
    pid = window.run_bridge.engine.worker_pids[0]
    assert rows == {"m": (f"CPU (worker {pid})", "done"), "c": ("CPU (in the engine)", "done")}


def test_free_memory_empties_the_warm_workers(window, qtbot):
    panel = window.devices
    panel.free_memory()
    assert panel.free_status.text().startswith("Nothing is loaded")
    _open(window, [("w", "stub.warm", {"key": "model-a"})])
    first = _run(window, qtbot).summary["nodes"]["w"]["outputs"]["info"]
    second = _run(window, qtbot).summary["nodes"]["w"]["outputs"]["info"]
    assert second["warm"] and second["pid"] == first["pid"]
    engine = window.run_bridge.engine
    assert engine.worker_pids == [first["pid"]]
    panel.free_button.click()
    qtbot.waitUntil(lambda: panel.free_button.isEnabled(), timeout=20_000)
    assert panel.free_status.text() == "Closed 1 worker process: the models they held are unloaded"
    assert engine.worker_pids == []
    third = _run(window, qtbot).summary["nodes"]["w"]["outputs"]["info"]
    assert not third["warm"]  # the model was really unloaded: loaded again


def test_the_panel_reads_the_gpus_only_while_its_tab_is_in_front(window, qtbot):
    """Behind the Inspector tab it never polls (the first read imports NVML); raising its tab starts it."""
    qtbot.wait(100)
    assert window.devices.report is None and not window.devices.timer.isActive()
    window.docks["devices"].raise_()
    qtbot.waitUntil(lambda: window.devices.report is not None, timeout=10_000)
    assert window.devices.timer.isActive()
    window.docks["inspector"].raise_()
    qtbot.waitUntil(lambda: not window.devices.timer.isActive(), timeout=5_000)
