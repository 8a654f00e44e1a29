"""chain.generate against plain transformers `generate` on the same model and prompt, side by side:
first-token latency and tokens/s (goal: chain.generate >= 0.95x plain), then the engine's second run of
the same chain (model warm in its worker) against the first (model loaded). Prints numbers; asserts nothing.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generate_latency.py [--model builtin:smollm2-135m-instruct]
        [--tokens 64] [--repeat 5] [--append]        # --append: add the table to benchmarks/RESULTS.md

Both sides render the prompt with the chat template, generate greedily the same number of tokens, and are
timed from outside: from the call (prompt rendering and tokenizing included) to the first new token, and
from the first token to the last. Runs interleave (the side that goes first alternates); medians are reported.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")

PROMPT = "Write a long story about a robot who learns to paint. Describe every step."


class _Clock:
    """A streamer that only notes when the first new token arrives (the prompt comes first)."""

    def __init__(self) -> None:
        self.calls = 0
        self.first: float | None = None

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


def plain_run(model: Any, tok: Any, tokens: int) -> dict[str, float]:
    import torch

    started = time.perf_counter()
    text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    clock = _Clock()
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=tokens, do_sample=False, temperature=None,
                             top_p=None, top_k=None, pad_token_id=tok.pad_token_id, streamer=clock)
    end = time.perf_counter()
    n = out.shape[1] - enc["input_ids"].shape[1]
    first = (clock.first or end) - started
    return {"first": first, "tps": (n - 1) / (end - started - first), "n": n}


def chain_run(artifact: Any, tokens: int, work: Path) -> dict[str, float]:
    from flowstudio.nodes.chains.chain import Generate

    from flowstudio.core.node import PortValues
    from flowstudio.engine.context import LocalContext

    first: list[float] = []

    def sink(event: dict[str, Any]) -> None:
        if event["event"] == "stream" and not first:
            first.append(time.perf_counter())

    ctx = LocalContext("generate", work / "w", work / "c", sink=sink)
    params = Generate.Params(max_new_tokens=tokens)
    started = time.perf_counter()
    out = Generate().run(ctx, PortValues({"model": artifact, "prompt": PROMPT}), params)
    end = time.perf_counter()
    n = int(ctx.metrics["new_tokens"])
    f = (first[0] if first else end) - started
    return {"first": f, "tps": (n - 1) / (end - started - f), "n": n, "chars": len(out["text"])}


def engine_runs(source: str, tokens: int, flow_dir: Path, runs: int = 3) -> list[dict[str, Any]]:
    from flowstudio.engine import Engine, RunOptions
    from flowstudio.engine.events import NodeLog
    from tests.stubs import make_flow

    flow = make_flow([("m", "model.load", {"source": source}), ("q", "io.text", {"text": PROMPT}),
                      ("g", "chain.generate", {"max_new_tokens": tokens}), ("out", "io.output", {})],
                     [("m.model", "g.model"), ("q.text", "g.prompt"), ("g.text", "out.value")])
    engine = Engine()
    rows = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            result = engine.run(flow, flow_dir, RunOptions(use_cache=False))
            total = time.perf_counter() - started
            if not result.ok:
                raise SystemExit(f"engine run failed: {result.summary}")
            node = result.summary["nodes"]["g"]
            lines = [e.line for e in result.events if isinstance(e, NodeLog) and e.node == "g"]
            model_line = next((line for line in lines if line.startswith("model ")), "")
            rows.append({"run": total, "generate": node["seconds"], "tps": node["metrics"].get("tokens_per_s", 0.0),
                         "model": model_line.split(": ", 1)[-1]})
    finally:
        engine.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="builtin:smollm2-135m-instruct")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--append", action="store_true", help="append the results to benchmarks/RESULTS.md")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from flowstudio.nodes.chains.generation import load_model
    from flowstudio.nodes.hf.loading import model_artifact, resolve_model_source

    path = resolve_model_source(args.model, REPO)
    if path.is_file():
        raise SystemExit("give a model directory (run model.load once to convert a GGUF file)")
    artifact = model_artifact(path, source=args.model)
    loaded = load_model(artifact)  # the same model object serves both sides
    model, tok = loaded.model, loaded.tokenizer

    work = Path(tempfile.mkdtemp(prefix="flowstudio-genbench-"))
    plain_run(model, tok, 4)
    chain_run(artifact, 4, work)  # warm-up both paths
    plain, chain = [], []
    for i in range(args.repeat):  # alternate which side goes first, so neither gets a systematic edge
        if i % 2:
            chain.append(chain_run(artifact, args.tokens, work))
            plain.append(plain_run(model, tok, args.tokens))
        else:
            plain.append(plain_run(model, tok, args.tokens))
            chain.append(chain_run(artifact, args.tokens, work))
    # Best of N is the least disturbed by other load on a shared machine; the median is shown beside it.
    best = {"plain": {"first": min(r["first"] for r in plain), "tps": max(r["tps"] for r in plain)},
            "chain": {"first": min(r["first"] for r in chain), "tps": max(r["tps"] for r in chain)}}
    med = {side: {k: statistics.median(r[k] for r in rows) for k in ("first", "tps", "n")}
           for side, rows in (("plain", plain), ("chain", chain))}
    runs = engine_runs(args.model, args.tokens, work)

    lines = [
        f"model {args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f} M params), {args.tokens} new "
        f"tokens greedy, CPU, {torch.get_num_threads()} thread(s), {args.repeat} runs each; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}",
        "",
        "| | plain transformers: best / median | chain.generate: best / median | speed ratio chain/plain: "
        "best / median (goal >= 0.95) |",
        "|---|---|---|---|",
        f"| first token (s) | {best['plain']['first']:.3f} / {med['plain']['first']:.3f} | "
        f"{best['chain']['first']:.3f} / {med['chain']['first']:.3f} | "
        f"{best['plain']['first'] / best['chain']['first']:.2f} / {med['plain']['first'] / med['chain']['first']:.2f} |",
        f"| tokens/s | {best['plain']['tps']:.1f} / {med['plain']['tps']:.1f} | "
        f"{best['chain']['tps']:.1f} / {med['chain']['tps']:.1f} | "
        f"{best['chain']['tps'] / best['plain']['tps']:.2f} / {med['chain']['tps'] / med['plain']['tps']:.2f} |",
        f"| new tokens | {med['plain']['n']:.0f} | {med['chain']['n']:.0f} | |",
        "",
        "| engine run (model.load -> chain.generate, no cache) | whole run (s) | chain.generate node (s) | "
        "node tokens/s | model |",
        "|---|---|---|---|---|",
        *[f"| run {i + 1} | {r['run']:.2f} | {r['generate']:.2f} | {r['tps']:.1f} | {r['model']} |"
          for i, r in enumerate(runs)],
        f"| warm (median of runs 2+) / first | {statistics.median(r['run'] for r in runs[1:]) / runs[0]['run']:.2f} | "
        f"{statistics.median(r['generate'] for r in runs[1:]) / runs[0]['generate']:.2f} | | |",
    ]
    print("\n".join(lines))
    from benchmarks.report import Figure, emit

    speed = best["chain"]["tps"] / best["plain"]["tps"]
    emit("generate_latency", [
        Figure("chain.generate tokens/s vs plain transformers generate (best of each)", round(speed, 3), "x",
               anchor="plain transformers `generate`, same model, prompt and tokens", goal=">= 0.95",
               met=speed >= 0.95),
        Figure("first-token latency, chain.generate vs plain (best of each; > 1 means chain is faster)",
               round(best["plain"]["first"] / best["chain"]["first"], 3), "x", anchor="plain transformers"),
        Figure("second engine run (model warm in its worker) vs first, whole run",
               round(statistics.median(r["run"] for r in runs[1:]) / runs[0]["run"], 3), "x",
               anchor="the first run, which loads the model"),
    ], notes=f"{args.model}, {args.tokens} new tokens greedy, CPU, {torch.get_num_threads()} thread(s)")
    if args.append:
        results = REPO / "benchmarks" / "RESULTS.md"
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        with results.open("a", encoding="utf-8") as f:
            f.write(f"\n## Generation\n\n`benchmarks/generate_latency.py`, {stamp}: " + "\n".join(lines) + "\n")
        print(f"appended to {results}")


if __name__ == "__main__":
    main()
