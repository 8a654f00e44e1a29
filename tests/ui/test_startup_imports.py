"""What starting the app imports: never the ML stack, and not what the first frame does not need."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flowstudio.core.paths import templates_dir

ML = ["torch", "transformers", "peft", "trl", "datasets", "accelerate"]
DEFERRED = ["pyqtgraph", "numpy", "networkx", "qtawesome", "qtpy"]  # the metrics plots and the flow graph: imported on first use

PROBE = """
import json, sys
import flowstudio.cli
flowstudio.cli.build_parser()  # `flowstudio` builds every verb's parser before it opens the window
from flowstudio.ui.app import create_application, make_window
app = create_application()
window = make_window(None, restore_layout=False, fill_after_paint=True)  # as `flowstudio` starts it
window.show()
app.processEvents()
window.grab()  # the first frame, painted
names = ML + DEFERRED + NODE_MODULES
first = {"loaded": [m for m in names if m in sys.modules],
         "start_page": window.stack.currentWidget() is window.start_page}
from PySide6.QtCore import QEventLoop, QTimer
loop = QEventLoop()
QTimer.singleShot(300, loop.quit)
loop.exec()  # after the first frame: the node list and the template cards are filled
first["filled"] = [window.palette.tree.topLevelItemCount(), len(window.start_page.templates.cards)]
print(json.dumps(first))
window.autosaver.discard()
"""


def test_starting_the_app_imports_no_ml_library_and_defers_plots_graphs_and_node_modules(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    from flowstudio.nodes import node_modules

    code = f"ML = {ML!r}\nDEFERRED = {DEFERRED!r}\nNODE_MODULES = {node_modules()!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["start_page"], "a new user's first frame is the start page"
    assert not set(result["loaded"]) & set(ML), f"the ML stack was imported at start-up: {result['loaded']}"
    assert not set(result["loaded"]) & set(DEFERRED), f"imported before the first frame needed it: {result['loaded']}"
    assert not set(result["loaded"]) & set(node_modules()), "node modules were imported before the first frame"
    templates = len(list(templates_dir().glob("*.flow.json")))
    assert result["filled"][0] >= 5 and result["filled"][1] == templates, "filled once the first frame is painted"


def test_the_metrics_plot_builds_its_graphics_on_first_use(qtbot):
    from flowstudio.ui.run.metrics_plot import MetricsPlot

    plot = MetricsPlot()
    qtbot.addWidget(plot)
    assert plot._graphics is None and plot.stack.currentWidget() is plot.empty
    plot.add("loss", 1, 2.0)
    plot.flush()
    assert plot._graphics is not None and plot.stack.currentWidget() is plot.graphics
    assert "loss" in plot.curves
