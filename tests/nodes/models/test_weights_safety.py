"""Loading a model never runs code behind the user's back: pickle weights and remote code need consent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flowstudio.nodes.hf.loading import load_causal_lm
from flowstudio.nodes.models.model import LoadModel

from flowstudio.core.errors import NodeRunError
from flowstudio.core.registry import default_registry
from flowstudio.engine.plan import RunSetupError, build_plan
from tests.stubs import make_flow

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def bin_only_model(tmp_path_factory: pytest.TempPathFactory, tiny_llama_dir: Path) -> Path:
    """tiny-llama re-saved with its weights as a pickle file (pytorch_model.bin) and no safetensors."""
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("bin") / "model"
    out.mkdir()
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    torch.save(model.state_dict(), out / "pytorch_model.bin")
    for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                 "chat_template.jinja"):
        if (tiny_llama_dir / name).exists():
            shutil.copy(tiny_llama_dir / name, out / name)
    assert (out / "pytorch_model.bin").exists() and not list(out.glob("*.safetensors"))
    return out


def test_pickle_only_weights_are_refused_with_the_fix_named(run_node, bin_only_model: Path) -> None:
    with pytest.raises(NodeRunError, match="pickle files") as err:
        run_node(LoadModel, source=str(bin_only_model))
    assert err.value.field == "allow_pickle_weights" and "safetensors" in (err.value.hint or "")
    with pytest.raises(NodeRunError, match="pickle files"):
        load_causal_lm(bin_only_model)


def test_pickle_weights_load_when_the_user_allows_them(run_node, bin_only_model: Path) -> None:
    from flowstudio.nodes.hf.loading import load_model_artifact

    out = run_node(LoadModel, source=str(bin_only_model), allow_pickle_weights=True)
    assert out["model"].meta["allow_pickle_weights"] is True
    model = load_model_artifact(out["model"])  # downstream nodes honour the artifact's consent
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize(("node_type", "params", "reason"), [
    ("model.load", {"source": "builtin:tiny-llama", "trust_remote_code": True}, "trust_remote_code"),
    ("model.load", {"source": "builtin:tiny-llama", "allow_pickle_weights": True}, "allow_pickle_weights"),
    ("tokenizer.load", {"source": "builtin:tiny-llama", "trust_remote_code": True}, "trust_remote_code"),
])
def test_a_flow_that_may_run_model_code_needs_consent(tmp_path: Path, node_type: str, params: dict,
                                                       reason: str) -> None:
    flow = make_flow([("m", node_type, params)], [])
    with pytest.raises(RunSetupError, match=rf"'m' \({node_type}\).*{reason}.*--allow-code"):
        build_plan(flow, default_registry(), tmp_path)
    assert build_plan(flow, default_registry(), tmp_path, allow_code=True).order == ["m"]
    safe = make_flow([("m", node_type, {"source": "builtin:tiny-llama"})], [])
    assert build_plan(safe, default_registry(), tmp_path).order == ["m"]
