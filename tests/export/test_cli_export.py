"""`flowstudio export FLOW -o DIR`: the verb, its --set overrides and its refusals; every template exports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowstudio.core.flow import load_flow
from flowstudio.core.paths import templates_dir
from flowstudio.engine.plan import FlowInvalidError, RunSetupError
from flowstudio.export import render


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowstudio", "export", *args], capture_output=True, text=True,
                          timeout=120)


def test_the_verb_writes_the_export_with_overrides_and_names_what_it_refuses(tmp_path: Path):
    flow = str(templates_dir() / "sft_lora.flow.json")
    ok = _cli(flow, "-o", str(tmp_path / "out"), "--set", "sft.max_steps=7", "--set", "model.source=builtin:tiny-llama")
    assert ok.returncode == 0, ok.stderr
    assert "'max_steps': 7" in (tmp_path / "out" / "flow.py").read_text()
    code = _cli(str(templates_dir() / "tool_agent.flow.json"), "-o", str(tmp_path / "agent"))
    assert code.returncode == 1 and "'python' (tool.python)" in code.stderr and "--allow-code" in code.stderr
    assert not (tmp_path / "agent").exists()


def test_overrides_are_parsed_and_checked_as_flowstudio_run_does(tmp_path: Path):
    flow = load_flow(templates_dir() / "sft_lora.flow.json")
    with pytest.raises(RunSetupError, match="expected NODE_ID.PARAM=VALUE"):
        render(flow, tmp_path, sets=["sft.max_steps"])
    with pytest.raises(FlowInvalidError, match="max_steps"):
        render(flow, tmp_path, sets=["sft.max_steps=-3"])
    with pytest.raises(RunSetupError, match="no node 'nope'"):
        render(flow, tmp_path, sets=["nope.x=1"])
    assert "'max_steps': 9" in render(flow, templates_dir(), sets=["sft.max_steps=9"]).files["flow.py"]


@pytest.mark.parametrize("path", sorted(templates_dir().glob("*.flow.json")), ids=lambda p: p.name.split(".")[0])
def test_every_template_exports(path: Path):
    rendered = render(load_flow(path), path.parent, allow_code=True)
    script = rendered.files["flow.py"]
    compile(script, "flow.py", "exec")
    planned = {n.id for n in rendered.nodes}
    for node in load_flow(path).nodes:  # every node has its function, or the docstring says why it is left out
        assert node.id in planned or f"node {node.id} is not in this script" in script


def test_exporting_imports_neither_torch_nor_qt():
    code = ("import sys\nfrom pathlib import Path\nfrom flowstudio.core.flow import load_flow\n"
            "from flowstudio.export import render\np = Path(sys.argv[1])\n"
            "render(load_flow(p), p.parent, allow_code=True)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'PySide6') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, str(templates_dir() / "rlhf_ppo.flow.json")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr
