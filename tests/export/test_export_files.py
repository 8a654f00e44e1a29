"""What an export writes, and what it refuses: no code from the flow, no writes outside -o, no overwrites."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowstudio.core.flow import load_flow, parse_flow
from flowstudio.core.node import Node, NodeParams, Port, Ports
from flowstudio.core.ports import Text
from flowstudio.core.registry import NodeRegistry, default_registry
from flowstudio.export import MANIFEST, ExportError, export_flow, preview_node, preview_script, render

from .pairs import poisoned_path, template

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"
EVIL = 'x"""\nimport os; os.system("touch /tmp/pwned")\n"""\'\'\'\\\x00\u2028 end'


def _flow(text: str = EVIL, title: str = EVIL) -> dict:
    return {"schema_version": 1, "name": EVIL, "description": EVIL, "nodes": [
        {"id": "question", "type": "io.text", "title": title, "params": {"text": text}},
        {"id": "answer", "type": "io.output", "params": {"label": EVIL}}],
        "edges": [{"source": "question.text", "target": "answer.value"}]}


def _export(tmp_path: Path, data: dict, name: str = "export", **kw) -> Path:
    flow = parse_flow(json.dumps(data))
    export_flow(flow, tmp_path, tmp_path / name, **kw)
    return tmp_path / name


def _run(script: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(poisoned_path(tmp_path))}
    return subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


def test_flow_text_with_quotes_and_newlines_becomes_a_literal_not_code(tmp_path: Path):
    out = _export(tmp_path, _flow())
    text = (out / "flow.py").read_text()
    tree = ast.parse(text)
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert "system" not in calls and not any(isinstance(n, ast.Name) and n.id == "os" for n in ast.walk(tree))
    consts = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name) and t.id.endswith("_PARAMS")}
    assert consts["QUESTION_PARAMS"] == {"text": EVIL} and consts["ANSWER_PARAMS"] == {"label": EVIL}
    # the script runs and returns the text unchanged, without touching anything
    proc = _run(out / "flow.py", tmp_path, "--output-dir", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"]["answer"] == EVIL
    assert not Path("/tmp/pwned").exists()


def test_exported_files_pass_ruff_and_hold_no_blobs(tmp_path: Path):
    out = _export(tmp_path, _flow())
    for name in ("grpo", "rlhf_ppo", "tool_agent"):  # between them: every node family but knowledge
        export_flow(load_flow(template(name)), template(name).parent, tmp_path / name,
                    sets=["model.source=builtin:tiny-llama"], allow_code=True)
    for export in [out, *(tmp_path / n for n in ("grpo", "rlhf_ppo", "tool_agent"))]:
        assert (export / "ruff.toml").exists()  # FlowStudio's rules, shipped with the code they were checked by
        proc = subprocess.run([str(RUFF), "check", "--no-cache", "."], cwd=export, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:]
    texts = [p.read_text() for p in tmp_path.rglob("*.py")]
    assert texts and not any(w in t for t in texts for w in ("base64", "pickle.loads", "marshal", "exec("))
    assert not any(line.startswith(("from flowstudio", "import flowstudio")) for t in texts
                   for line in (s.strip() for s in t.splitlines()))
    reqs = (out / "requirements.txt").read_text()
    assert "pydantic>=" in reqs and "flowstudio" not in reqs.replace("FlowStudio", "")


def test_sft_export_has_the_files_and_options_the_readme_promises(tmp_path: Path):
    import yaml

    out = tmp_path / "sft"
    result = export_flow(load_flow(template("sft_lora")), template("sft_lora").parent, out,
                         sets=["model.source=builtin:tiny-llama", "sft.max_steps=3"])
    assert {"flow.py", "requirements.txt", "README.md", "slurm.sbatch", "data/sft_chat.jsonl",
            "flowlib/runtime.py", "flowlib/nodes/training/trainers.py"} <= set(result.files)
    assert "flowstudio.engine.engine" not in result.modules and "flowstudio.ui" not in " ".join(result.modules)
    kinds = {p.stem: yaml.safe_load(p.read_text()) for p in (out / "accelerate").glob("*.yaml")}
    assert {k: v["distributed_type"] for k, v in kinds.items()} == {
        "ddp": "MULTI_GPU", "fsdp2": "FSDP", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED"}
    assert kinds["fsdp2"]["fsdp_config"]["fsdp_version"] == 2
    assert [kinds[k]["deepspeed_config"]["zero_stage"] for k in ("zero2", "zero3")] == [2, 3]
    sbatch = (out / "slurm.sbatch").read_text()
    assert "srun" in sbatch and "--machine_rank \"$SLURM_NODEID\"" in sbatch and "MAIN_PROCESS_IP" in sbatch
    assert subprocess.run(["bash", "-n", str(out / "slurm.sbatch")]).returncode == 0
    readme = (out / "README.md").read_text()
    assert "python flow.py" in readme and "accelerate launch --config_file" in readme and "sbatch" in readme
    text = (out / "flow.py").read_text()
    assert "'max_steps': 3" in text and "def sft(rt: Runtime" in text and text.index("def model(") < text.index(
        "def sft(")
    help_text = _run(out / "flow.py", tmp_path, "--help")
    assert help_text.returncode == 0, help_text.stderr
    for option in ("--model-source", "--data-source", "--max-steps", "--learning-rate", "--seed", "--output-dir"):
        assert option in help_text.stdout


def test_a_missing_model_path_is_named_before_anything_runs(tmp_path: Path):
    out = tmp_path / "sft"
    export_flow(load_flow(template("sft_lora")), template("sft_lora").parent, out,
                sets=["model.source=builtin:tiny-llama"])
    proc = _run(out / "flow.py", tmp_path, "--model-source", str(tmp_path / "gone"), "--output-dir",
                str(tmp_path / "o"))
    assert proc.returncode != 0
    assert "model.source (--model-source)" in proc.stderr and str(tmp_path / "gone") in proc.stderr
    assert not (tmp_path / "o").exists()


def test_builtin_model_path_is_where_the_engine_builds_it(monkeypatch: pytest.MonkeyPatch):
    from flowstudio.nodes.hf import builtin_models

    from flowstudio.export.exporter import builtin_model_path

    monkeypatch.setattr(builtin_models, "materialise", lambda target, build: target)  # the path, not a build
    for name in builtin_models.BUILTIN_MODELS:
        assert builtin_model_path(name) == builtin_models.builtin_model_dir(name)


def test_export_refuses_a_non_export_directory_and_keeps_what_is_not_its_own(tmp_path: Path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ExportError, match="not empty.*--force"):
        _export(tmp_path, _flow("hi"), "mine")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    _export(tmp_path, _flow("hi"), "mine", force=True)
    assert (mine / "notes.txt").read_text() == "keep" and (mine / "flow.py").exists()
    # re-exporting into an export replaces its files and leaves the script's outputs alone
    out = _export(tmp_path, _flow("hi"), "again")
    (out / "outputs").mkdir()
    (out / "outputs" / "run.txt").write_text("result")
    (out / "flowlib" / "stale.py").write_text("")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append("flowlib/stale.py")
    (out / MANIFEST).write_text(json.dumps(manifest))
    _export(tmp_path, _flow("bye"), "again")
    assert (out / "outputs" / "run.txt").read_text() == "result" and not (out / "flowlib" / "stale.py").exists()
    assert "'bye'" in (out / "flow.py").read_text()


def test_export_never_writes_through_a_planted_link_or_outside(tmp_path: Path):
    out = _export(tmp_path, _flow("hi"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    import shutil

    shutil.rmtree(out / "flowlib")
    (out / "flowlib").symlink_to(elsewhere)
    with pytest.raises(ExportError, match="symbolic link"):
        _export(tmp_path, _flow("hi"))
    assert list(elsewhere.iterdir()) == []
    manifest = json.loads((out / MANIFEST).read_text())
    (tmp_path / "victim.txt").write_text("mine")
    manifest["files"] = ["../victim.txt", str(tmp_path / "victim.txt")]
    (out / "flowlib").unlink()
    (out / MANIFEST).write_text(json.dumps(manifest))
    _export(tmp_path, _flow("hi"))
    assert (tmp_path / "victim.txt").read_text() == "mine"


class PluginEcho(Node):
    type = "test.echo"
    title = "Echo"

    class Inputs(Ports):
        text = Port(Text)

    class Outputs(Ports):
        text = Port(Text)

    class Params(NodeParams):
        pass


def test_a_plugin_node_is_refused_by_name(tmp_path: Path):
    registry = NodeRegistry([*default_registry(), PluginEcho])
    data = _flow("hi")
    data["nodes"].append({"id": "echo", "type": "test.echo", "params": {}})
    data["edges"] = [{"source": "question.text", "target": "echo.text"},
                     {"source": "echo.text", "target": "answer.value"}]
    with pytest.raises(ExportError, match=r"node 'echo' \(test\.echo\) comes from the plugin module tests"):
        render(parse_flow(json.dumps(data)), tmp_path, registry=registry)


def test_previews_show_the_script_and_one_nodes_function():
    flow = load_flow(template("sft_lora"))
    script = preview_script(flow, template("sft_lora").parent)
    node = preview_node(flow, template("sft_lora").parent, "sft")
    assert script.startswith('"""SFT with LoRA') and "def main(" in script
    assert node.startswith("# sft (train.sft)") and "def sft(" in node and "def main(" not in node
    assert "def sft(" in script and node.split("def sft(")[1].split("\n")[0] in script
