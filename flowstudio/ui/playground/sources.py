"""What the playground can chat with: built-ins, the Hugging Face cache, a directory, and the models
runs produced (read from the run directories, newest first). Also: a LoRA adapter's base, so a run's
adapter can be tried with or without its LoRA. No torch, no transformers: only files are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from flowstudio.core.paths import runs_dir, templates_dir
from flowstudio.ui.history.records import load_run

MAX_RUNS = 40


@dataclass(frozen=True)
class RunModel:
    source: str  # the artifact's directory
    label: str  # "flow · node.port · run folder"
    adapter: bool


def run_models(root: Path | None = None, limit: int = MAX_RUNS) -> list[RunModel]:
    """Model artifacts of the newest runs whose files still exist (each directory once)."""
    base = root if root is not None else runs_dir()
    try:
        dirs = sorted((p for p in base.iterdir() if p.is_dir() and not p.is_symlink()), key=lambda p: p.name,
                      reverse=True)[:limit]
    except OSError:
        return []
    seen: set[str] = set()
    out: list[RunModel] = []
    for path in dirs:
        record = load_run(path)
        if record is None:
            continue
        for where, artifact in record.model_outputs().items():
            source = str(artifact["path"])
            if source in seen or not Path(source).is_dir():
                continue
            seen.add(source)
            meta = artifact.get("meta") if isinstance(artifact.get("meta"), dict) else {}
            name = record.flow.get("name") or "flow"
            out.append(RunModel(source, f"{name} · {where} · {path.name}", bool(meta.get("adapter"))))
    return out


CHAT_FLOW_TEMPLATES = {"chat_with_docs.flow.json": "Chat with your documents (knowledge base, cites sources)"}


def is_flow_source(source: str) -> bool:
    """A flow file is served as a flow (`flowstudio serve --flow`): its question input, its answer output."""
    return source.endswith(".flow.json")


def chat_flows() -> list[RunModel]:
    """The shipped flows that answer questions (a knowledge base with citations), to chat with as a model."""
    out = []
    for name, label in CHAT_FLOW_TEMPLATES.items():
        path = templates_dir() / name
        if path.is_file():
            out.append(RunModel(str(path), label, adapter=False))
    return out


def adapter_base(source: str) -> str | None:
    """The base model of a LoRA adapter directory (None when `source` is not one)."""
    config = Path(source) / "adapter_config.json"
    try:
        if not config.is_file() or config.stat().st_size > 1024 * 1024:
            return None
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError):
        return None
    return base if isinstance(base, str) and base else None
