"""model.load sources (built-in, directory, GGUF, hub cache), remote-code refusal, merge and save."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from flowstudio.nodes.hf.builtin_models import build_tiny_llama
from flowstudio.nodes.hf.loading import load_causal_lm, load_tokenizer
from flowstudio.nodes.models.model import LoadModel, SaveModel

from flowstudio.core.errors import NodeRunError


def _digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir()) if p.is_file()}


def test_tiny_llama_is_deterministic_and_complete(tiny_llama_dir, tmp_path):
    again = build_tiny_llama(tmp_path / "again")
    assert _digest(again) == _digest(tiny_llama_dir)
    tok = load_tokenizer(tiny_llama_dir)
    text = "The capital of Peru is Lima. ünïcode ✓"
    assert tok.decode(tok(text)["input_ids"]) == text
    assert "{% generation %}" in tok.chat_template
    model = load_causal_lm(tiny_llama_dir)
    assert 50_000 < sum(p.numel() for p in model.parameters()) < 300_000
    assert model.config.vocab_size == len(tok)


def test_load_builtin_outputs_model_and_tokenizer(run_node):
    out = run_node(LoadModel, source="builtin:tiny-llama")
    model, tok = out["model"], out["tokenizer"]
    assert model.kind == "model" and tok.kind == "tokenizer"
    assert model.meta["model_type"] == "llama" and model.meta["adapter"] is False
    assert model.meta["trust_remote_code"] is False
    assert (Path(model.path) / "config.json").exists() and (Path(model.path) / "tokenizer.json").exists()


def test_chat_template_override(run_node):
    template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    out = run_node(LoadModel, source="builtin:tiny-llama", chat_template=template)
    tok = load_tokenizer(out["model"].path)
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False) == "[user] hi\n"
    assert load_causal_lm(out["model"].path).config.model_type == "llama"


def test_missing_and_unknown_sources(tmp_path, run_node):
    problems = LoadModel.check(LoadModel.Params(source=str(tmp_path / "nope")), tmp_path)
    assert problems and problems[0].field == "source" and "does not exist" in problems[0].message
    assert LoadModel.check(LoadModel.Params(source="builtin:gpt-17"), tmp_path)[0].field == "source"
    with pytest.raises(NodeRunError, match="does not exist"):
        run_node(LoadModel, source=str(tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NodeRunError, match="not a model directory"):
        run_node(LoadModel, source=str(empty))


def test_hub_id_only_from_the_local_cache(tmp_path, run_node, tiny_llama_dir, monkeypatch):
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    with pytest.raises(NodeRunError, match="nor a model in the local Hugging Face cache") as err:
        run_node(LoadModel, source="someone/tiny-model")
    assert "never" in str(err.value)
    repo = cache / "models--someone--tiny-model"
    snap = repo / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_llama_dir, snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    out = run_node(LoadModel, node_id="cached", source="someone/tiny-model")
    assert Path(out["model"].path) == snap.resolve()


def test_gguf_without_the_gguf_package(tmp_path, run_node, monkeypatch):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "gguf", None)  # `import gguf` now fails as if not installed
    with pytest.raises(NodeRunError, match="gguf") as err:
        run_node(LoadModel, source=str(fake))
    assert err.value.hint == "pip install gguf"


CONFIG_PY = """
from transformers import LlamaConfig
class ToyConfig(LlamaConfig):
    model_type = "flowstudio_toy"
"""
MODELING_PY = """
from transformers import LlamaForCausalLM
from .configuration_toy import ToyConfig
class ToyForCausalLM(LlamaForCausalLM):
    config_class = ToyConfig
"""


@pytest.fixture()
def remote_code_dir(tmp_path, tiny_llama_dir) -> Path:
    path = tmp_path / "toy"
    shutil.copytree(tiny_llama_dir, path)
    (path / "configuration_toy.py").write_text(CONFIG_PY)
    (path / "modeling_toy.py").write_text(MODELING_PY)
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(model_type="flowstudio_toy", architectures=["ToyForCausalLM"],
               auto_map={"AutoConfig": "configuration_toy.ToyConfig",
                         "AutoModelForCausalLM": "modeling_toy.ToyForCausalLM"})
    (path / "config.json").write_text(json.dumps(cfg))
    return path


def test_remote_code_is_refused_unless_allowed(remote_code_dir, run_node):
    with pytest.raises(NodeRunError, match="remote code is off") as err:
        run_node(LoadModel, source=str(remote_code_dir))
    assert err.value.field == "trust_remote_code" and "configuration_toy" in str(err.value)
    out = run_node(LoadModel, node_id="trusted", source=str(remote_code_dir), trust_remote_code=True)
    assert out["model"].meta["trust_remote_code"] is True
    model = load_causal_lm(out["model"].path, trust_remote_code=True)
    assert type(model).__name__ == "ToyForCausalLM"


def test_save_refuses_to_overwrite_and_writes_a_plain_model_dir(run_node, tiny_llama, tmp_path):
    target = tmp_path / "saved"
    out = run_node(SaveModel, {"model": tiny_llama}, path=str(target))["model"]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert AutoModelForCausalLM.from_pretrained(target).config.model_type == "llama"
    assert AutoTokenizer.from_pretrained(target).chat_template
    assert list(target.glob("*.safetensors")) and out.path == str(target.resolve())
    with pytest.raises(NodeRunError, match="not empty"):
        run_node(SaveModel, {"model": tiny_llama}, node_id="again", path=str(target))
    assert SaveModel.check(SaveModel.Params(path=""), tmp_path)[0].field == "path"


def test_save_converts_dtype_and_keep_keeps_it(run_node, tiny_llama, tmp_path):
    from flowstudio.nodes.hf.loading import model_artifact
    from safetensors import safe_open

    half = run_node(SaveModel, {"model": tiny_llama}, path=str(tmp_path / "bf16"), dtype="bfloat16")["model"]
    kept = run_node(SaveModel, {"model": model_artifact(half.path)}, node_id="keep", path=str(tmp_path / "kept"))

    def dtypes(path: str) -> set[str]:
        with safe_open(str(Path(path) / "model.safetensors"), "pt") as fh:
            return {str(fh.get_tensor(k).dtype) for k in fh.keys()}  # noqa: SIM118

    assert dtypes(half.path) == {"torch.bfloat16"}
    assert dtypes(kept["model"].path) == {"torch.bfloat16"}
