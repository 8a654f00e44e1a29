"""Knowledge-base fixtures: the built-in MiniLM (unpacked once per session) and a tiny corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowstudio.core.values import Artifact

TINY_DOCS = {
    "cats.md": "# Cats\n\nCats are small carnivorous mammals. They sleep for most of the day and hunt at night.\n\n"
               "A group of cats is called a clowder. Kittens open their eyes after about a week.\n",
    "ocean.txt": "The Pacific is the largest and deepest ocean on Earth.\n\nTides are caused mainly by the gravity "
                 "of the Moon. Coral reefs grow in warm, shallow, clear water.\n",
    "rockets.md": "# Rockets\n\nA rocket carries its own oxidizer, so its engine works in the vacuum of space.\n\n"
                  "Liquid hydrogen is a light but very cold fuel. Multistage rockets drop empty tanks on the way up.\n",
}


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from flowstudio.nodes.knowledge.embedder import builtin_embedder_dir

    return builtin_embedder_dir("minilm")


@pytest.fixture(scope="session")
def minilm(minilm_dir: Path) -> dict[str, Artifact]:
    """embed.load's outputs for builtin:minilm (the model is loaded lazily, once per process)."""
    from flowstudio.nodes.knowledge.embedder import describe_dir, model_id

    meta = {"source": "builtin:minilm", "model_id": model_id(minilm_dir), "query_prefix": "", "document_prefix": "",
            **describe_dir(minilm_dir)}
    return {"embedder": Artifact("embedder", str(minilm_dir), meta),
            "tokenizer": Artifact("tokenizer", str(minilm_dir), {"source": "builtin:minilm"})}


@pytest.fixture()
def tiny_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for name, text in TINY_DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture()
def build_kb(run_node: Callable[..., dict[str, Any]], minilm: dict[str, Artifact]) -> Callable[..., dict[str, Any]]:
    """`build_kb(folder, size=..., overlap=..., node_id=...)`: docs.load → docs.split → index.build."""
    from flowstudio.nodes.knowledge.documents import LoadDocuments, SplitDocuments
    from flowstudio.nodes.knowledge.index import BuildIndex

    def build(folder: Path, size: int = 32, overlap: int = 4, node_id: str = "index") -> dict[str, Any]:
        docs = run_node(LoadDocuments, node_id=f"{node_id}_docs", path=str(folder))
        chunks = run_node(SplitDocuments, {"documents": docs["documents"], "tokenizer": minilm["tokenizer"]},
                          node_id=f"{node_id}_split", size=size, overlap=overlap)
        events: list[dict[str, Any]] = []
        from flowstudio.engine.context import LocalContext

        ctx = LocalContext(node_id=node_id, work_dir=folder.parent / node_id / "work",
                           checkpoint_dir=folder.parent / node_id / "ckpt", flow_dir=folder.parent,
                           sink=events.append)
        out = run_node(BuildIndex, {"chunks": chunks["chunks"], "embedder": minilm["embedder"]}, ctx=ctx)
        return {**out, "chunks": chunks["chunks"], "metrics": dict(ctx.metrics)}

    return build
