"""`flowstudio serve` against plain transformers `model.generate` on the same model, in one run.

Single stream: time to first token (TTFT) and decode tokens/s, through the server (the `openai` client,
streamed, over loopback HTTP) and plain `model.generate` with a streamer (goal: server >= 0.9x plain).
Then aggregate tokens/s with 1, 4 and 8 concurrent streams (requests are queued per model, FIFO).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_throughput.py [--model builtin:tiny-llama]
        [--tokens 64] [--repeat 3] [--append]       # --append: add the table to benchmarks/RESULTS.md

Both sides render the same chat prompt and generate greedily up to `--tokens` tokens (the same tokens:
greedy); tokens/s counts the tokens actually made. Runs alternate sides; medians are reported.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")

PROMPT = "Write a long story about a robot who learns to paint. Describe every step."


class _Clock:
    def __init__(self) -> None:
        self.calls, self.first = 0, None

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2 and self.first is None:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


def plain(loaded: Any, tokens: int) -> tuple[float, float]:
    import torch

    tok, model = loaded.tokenizer, loaded.model
    started = time.perf_counter()
    text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    clock = _Clock()
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=tokens, do_sample=False, streamer=clock,
                             pad_token_id=tok.pad_token_id, temperature=None, top_p=None, top_k=None)
    done = time.perf_counter()
    n = int(out.shape[1] - enc["input_ids"].shape[1])
    first = clock.first or done
    return first - started, (n - 1) / (done - first) if done > first else 0.0


def served(client: Any, tokens: int) -> tuple[float, float, int]:
    started = time.perf_counter()
    first, n = None, 0
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPT}],
                                            max_tokens=tokens, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and first is None:
            first = time.perf_counter()
        if chunk.usage:
            n = chunk.usage.completion_tokens
    done = time.perf_counter()
    first = first or done
    return first - started, (n - 1) / (done - first) if done > first else 0.0, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="builtin:tiny-llama")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()

    import openai
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from flowstudio.serve.app import build_app
    from flowstudio.serve.backends import HFBackend
    from flowstudio.serve.pool import ModelPool
    from flowstudio.serve.server import start_in_thread

    backend = HFBackend("m", args.model)
    pool = ModelPool()
    pool.add(backend)
    pool.load_all()
    running = start_in_thread(build_app(pool))
    client = openai.OpenAI(base_url=running.url, api_key="x", max_retries=0, timeout=600)
    served(client, 4), plain(backend.loaded, 4)  # warm up both
    rows: dict[str, list[tuple[float, float]]] = {"server": [], "plain": []}
    for i in range(args.repeat):
        for side in (("server", "plain") if i % 2 == 0 else ("plain", "server")):
            rows[side].append(served(client, args.tokens)[:2] if side == "server" else plain(backend.loaded,
                                                                                             args.tokens))
    med = {k: (statistics.median(t for t, _ in v), statistics.median(s for _, s in v)) for k, v in rows.items()}
    concurrent_rows = []
    for streams in (1, 4, 8):
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(streams) as ex:
            results = list(ex.map(lambda _: served(client, args.tokens), range(streams)))
        wall = time.perf_counter() - started
        concurrent_rows.append((streams, sum(r[2] for r in results) / wall, max(r[0] for r in results)))
    running.stop()
    pool.close()

    ratio = med["server"][1] / med["plain"][1] if med["plain"][1] else 0.0
    lines = [f"| {args.model} | {args.tokens} | {args.repeat} | {med['server'][0] * 1000:.1f} / "
             f"{med['plain'][0] * 1000:.1f} | {med['server'][1]:.1f} / {med['plain'][1]:.1f} | {ratio:.2f} | "
             + " / ".join(f"{tps:.1f}" for _, tps, _ in concurrent_rows) + " | "
             + " / ".join(f"{ttft:.2f}" for _, _, ttft in concurrent_rows) + " |"]
    header = ("| model | tokens | runs | TTFT ms server / plain | decode tok/s server / plain | ratio | "
              "aggregate tok/s at 1 / 4 / 8 streams | worst TTFT s at 1 / 4 / 8 |\n|---|---|---|---|---|---|---|---|")
    print(header)
    print("\n".join(lines))
    from benchmarks.report import Figure, emit

    emit("serve_throughput", [
        Figure("decode tokens/s through the OpenAI-compatible server (official client, streaming) vs plain generate",
               round(ratio, 3), "x", anchor="plain transformers `generate` on the same loaded model", goal=">= 0.9",
               met=ratio >= 0.9),
        Figure("aggregate tokens/s at 8 concurrent streams / 1 stream",
               round(concurrent_rows[-1][1] / concurrent_rows[0][1], 3), "x", anchor="one stream"),
    ], notes=f"{args.model}, {args.tokens} tokens, median of {args.repeat} runs, {torch.get_num_threads()} thread(s)")
    if args.append:
        with (REPO / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write(f"\n{lines[0]}\n")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
