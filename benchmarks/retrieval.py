"""A 10,000-chunk knowledge base: build time, size on disk, and query latency of dense, BM25 and hybrid.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/retrieval.py [--chunks 10000] [--embed-sample 256]
        [--embed-all] [--queries 200] [--engines]

Chunks: FlowStudio's docs (builtin:flowstudio-docs) split into 200-token chunks with MiniLM's tokenizer,
repeated with a numbered suffix until there are `--chunks` distinct chunks (so BM25 sees realistic text and
every chunk has its own content hash). Embedding: `--embed-sample` chunks are embedded with MiniLM to
measure chunks/s; unless `--embed-all`, the other chunks get the vector of their original chunk plus
small noise (normalised), stored in the vector store first, so the build below finds them there and the
10,000-chunk build time is measured without embedding, and the full embedding time is extrapolated from
the measured rate (both printed). Queries: the labelled questions, cycled; each query is timed alone
(dense and hybrid include embedding the query with MiniLM). `--engines` also compares vector indexes
(FAISS flat and HNSW, hnswlib, usearch, when installed) on the same vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def base_chunks() -> list[dict]:
    from flowstudio.nodes.knowledge.embedder import builtin_embedder_dir
    from flowstudio.nodes.knowledge.readers import list_files, read_document
    from flowstudio.nodes.knowledge.splitting import split_text, token_starts_function

    from flowstudio.core.paths import assets_dir

    root = assets_dir() / "knowledge" / "corpus"
    starts_of = token_starts_function(builtin_embedder_dir("minilm"))
    chunks = []
    for path in list_files(root, [".md"], True)[0]:
        for doc in read_document(path, path.name):
            for i, s in enumerate(split_text(doc.text, starts_of(doc.text), 200, 32)):
                chunks.append({"id": f"{doc.id}#{i}", "doc_id": doc.id, "source": doc.source, "index": i,
                               "text": doc.text[s.start_char:s.end_char], "start_char": s.start_char,
                               "end_char": s.end_char, "start_token": s.start_token, "end_token": s.end_token,
                               "tokens": s.tokens})
    return chunks


def engines(matrix, queries) -> list[tuple[str, float, float, float]]:  # noqa: ANN001
    """(engine, build ms, query p50 ms, recall@10 against exact search) for each installed vector index."""
    import numpy as np

    truth = np.argsort(-(queries @ matrix.T), axis=1)[:, :10]
    out = []

    def bench(name, build, search):  # noqa: ANN001
        t = time.perf_counter()
        index = build()
        built = (time.perf_counter() - t) * 1000
        times, recall = [], 0.0
        for i, q in enumerate(queries):
            t = time.perf_counter()
            ids = list(search(index, q))[:10]
            times.append((time.perf_counter() - t) * 1000)
            recall += len(set(int(x) for x in ids) & set(truth[i].tolist())) / 10
        out.append((name, built, statistics.median(times), recall / len(queries)))

    import faiss

    dim = matrix.shape[1]

    def flat():  # noqa: ANN202
        i = faiss.IndexFlatIP(dim)
        i.add(matrix)
        return i

    def hnsw():  # noqa: ANN202
        i = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        i.hnsw.efSearch = 64
        i.add(matrix)
        return i

    bench("faiss IndexFlatIP (exact)", flat, lambda i, q: i.search(q[None], 10)[1][0])
    bench("faiss IndexHNSWFlat M=32 ef=64", hnsw, lambda i, q: i.search(q[None], 10)[1][0])
    try:
        import hnswlib

        def hb():  # noqa: ANN202
            i = hnswlib.Index(space="ip", dim=dim)
            i.init_index(max_elements=len(matrix), ef_construction=200, M=16)
            i.set_num_threads(1)
            i.add_items(matrix)
            i.set_ef(64)
            return i

        bench("hnswlib M=16 ef=64", hb, lambda i, q: i.knn_query(q, k=10)[0][0])
    except ImportError:
        pass
    try:
        from usearch.index import Index

        def ub():  # noqa: ANN202
            i = Index(ndim=dim, metric="ip", dtype="f32")
            i.add(np.arange(len(matrix)), matrix, threads=1)
            return i

        bench("usearch (default)", ub, lambda i, q: i.search(q, 10).keys)
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--embed-sample", type=int, default=256)
    parser.add_argument("--embed-all", action="store_true")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--engines", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("FLOWSTUDIO_HOME", tempfile.mkdtemp(prefix="flowstudio-bench-retrieval-"))

    import numpy as np
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from flowstudio.nodes.knowledge.embedder import builtin_embedder_dir, encode, load_embedder, model_id
    from flowstudio.nodes.knowledge.search import search
    from flowstudio.nodes.knowledge.store import build_index, open_index
    from flowstudio.nodes.knowledge.vectors import VectorStore, text_hash

    from benchmarks.report import Figure, emit

    model_dir = builtin_embedder_dir("minilm")
    embedder = {"path": str(model_dir), "model_id": model_id(model_dir), "source": "builtin:minilm"}
    base = base_chunks()
    chunks = []
    for n in range(args.chunks):
        src = base[n % len(base)]
        copy = n // len(base)
        text = src["text"] if copy == 0 else f"{src['text']}\n(copy {copy})"
        chunks.append({**src, "id": f"{src['id']}~{copy}", "text": text})
    model = load_embedder(model_dir)
    sample = [c["text"] for c in chunks[:args.embed_sample]]
    t = time.perf_counter()
    sample_vecs = encode(model, sample)
    embed_rate = len(sample) / (time.perf_counter() - t)
    tokens = statistics.mean(c["tokens"] for c in chunks)
    print(f"{len(chunks)} chunks from {len(base)} docs chunks, mean {tokens:.0f} tokens; MiniLM embeds "
          f"{embed_rate:.1f} chunks/s here -> {args.chunks / embed_rate:.0f} s to embed all {args.chunks}")
    if not args.embed_all:  # seed the vector store so the build measures everything but embedding
        rng = np.random.default_rng(0)
        base_vecs = encode(model, [c["text"] for c in base]) if len(base) > args.embed_sample else sample_vecs
        store = VectorStore(embedder["model_id"], base_vecs.shape[1])
        fresh = {}
        for n, c in enumerate(chunks):
            v = base_vecs[n % len(base)] + rng.normal(0, 0.02, base_vecs.shape[1]).astype("float32")
            fresh[text_hash(c["text"])] = v / np.linalg.norm(v)
        store.put(fresh)
        store.close()
    out = Path(os.environ["FLOWSTUDIO_HOME"]) / "bench-index"
    t = time.perf_counter()
    stats = build_index(out, chunks, embedder)
    build_s = time.perf_counter() - t
    size = dir_size(out)
    print(f"build: {build_s:.1f} s ({stats.embedded} embedded, {stats.reused} vectors from the store), "
          f"{size / 2**20:.1f} MiB on disk (dense.faiss {dir_size(out) and (out / 'dense.faiss').stat().st_size / 2**20:.1f} MiB)")
    t = time.perf_counter()
    kb = open_index(out)
    open_s = time.perf_counter() - t
    from flowstudio.core.paths import assets_dir

    questions = [json.loads(line)["question"] for line in
                 (assets_dir() / "knowledge" / "questions.jsonl").read_text().splitlines() if line.strip()]
    queries = [questions[i % len(questions)] for i in range(args.queries)]
    search(kb, queries[:3], "hybrid", 5)  # warm up
    latency = {}
    for mode in ("dense", "bm25", "hybrid"):
        times = []
        for q in queries:
            t = time.perf_counter()
            search(kb, [q], mode, 5)
            times.append((time.perf_counter() - t) * 1000)
        latency[mode] = (percentile(times, 0.5), percentile(times, 0.95))
    print(f"opening the index: {open_s * 1000:.0f} ms")
    print("| mode | p50 ms | p95 ms |\n|---|---|---|")
    for mode, (p50, p95) in latency.items():
        print(f"| {mode} | {p50:.1f} | {p95:.1f} |")
    if args.engines:
        qv = encode(model, questions)
        matrix = np.stack([kb.dense.reconstruct(i) for i in range(kb.dense.ntotal)]).astype("float32")
        print("| vector index | build ms | query p50 ms | recall@10 vs exact |\n|---|---|---|---|")
        for name, built, p50, recall in engines(matrix, qv):
            print(f"| {name} | {built:.0f} | {p50:.2f} | {recall:.3f} |")
    worst = max(p95 for _, p95 in latency.values())
    emit("retrieval", [
        Figure("query p95, hybrid (MiniLM query embedding + FAISS + bm25s + RRF), 10k chunks", round(latency["hybrid"][1], 1),
               "ms", goal="< 50 ms", met=latency["hybrid"][1] < 50),
        Figure("query p95, dense", round(latency["dense"][1], 1), "ms", goal="< 50 ms", met=latency["dense"][1] < 50),
        Figure("query p95, bm25", round(latency["bm25"][1], 1), "ms", goal="< 50 ms", met=latency["bm25"][1] < 50),
        Figure("index build without embedding", round(build_s, 1), "s"),
        Figure("MiniLM embedding rate", round(embed_rate, 1), "chunks/s"),
        Figure("index size on disk", round(size / 2**20, 1), "MiB"),
    ], notes=f"{args.chunks} chunks, {args.queries} queries, worst p95 {worst:.1f} ms, "
             f"{os.environ['OMP_NUM_THREADS']} thread(s)")


if __name__ == "__main__":
    main()
