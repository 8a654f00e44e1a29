"""Recursive chunking by tokens: paragraphs, then lines, then sentences, then words, then a hard cut.

The document is tokenized once; a span's length is the number of tokens that start inside it (taken
from the tokenizer's character offsets), so lengths add up exactly and every chunk keeps its character
and token position in the document. Neighbouring pieces that fit are merged greedily up to `size` tokens,
the next chunk starting with the last pieces of the previous one that fit in `overlap` tokens; a piece
too big is split at the next level on its own, so no chunk straddles its boundary.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError

# Each level's separators stay with the piece before them, so pieces cover the text without gaps.
LEVELS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraphs
    re.compile(r"\n\s*"),  # lines
    re.compile(r"(?<=[.!?;:])\s+"),  # sentences
    re.compile(r"\s+"),  # words
)


@dataclass(frozen=True)
class Span:
    start_char: int
    end_char: int
    start_token: int
    end_token: int

    @property
    def tokens(self) -> int:
        return self.end_token - self.start_token


def split_text(text: str, starts: Sequence[int], size: int, overlap: int) -> list[Span]:
    """Chunk spans of `text`, given the start offset of each of its tokens (sorted)."""
    if overlap >= size:
        raise ValueError(f"overlap ({overlap}) must be smaller than the chunk size ({size})")

    def count(a: int, b: int) -> int:
        return bisect_left(starts, b) - bisect_left(starts, a)

    def merge(parts: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Neighbouring pieces (each within size) merged greedily up to size, sharing up to overlap."""
        counts = [count(a, b) for a, b in parts]
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(parts):
            j, total = i, 0
            while j < len(parts) and total + counts[j] <= size:
                total += counts[j]
                j += 1
            j = max(j, i + 1)
            out.append((parts[i][0], parts[j - 1][1]))
            if j >= len(parts):
                break
            nxt, kept = j, 0  # keep what fits in the overlap and still leaves room for the next piece
            while nxt - 1 > i and kept + counts[nxt - 1] <= min(overlap, size - counts[j]):
                nxt -= 1
                kept += counts[nxt]
            i = nxt
        return out

    def chunks(a: int, b: int, level: int) -> list[tuple[int, int]]:
        if count(a, b) <= size:
            return [(a, b)]
        if level == len(LEVELS):  # one word longer than a chunk: cut it every `size` tokens
            first, last = bisect_left(starts, a), bisect_left(starts, b)
            cuts = [a, *(starts[i] for i in range(first + size, last, size)), b]
            return [(x, y) for x, y in zip(cuts, cuts[1:], strict=False) if y > x]
        bounds = [m.end() for m in LEVELS[level].finditer(text, a, b) if a < m.end() < b]
        if not bounds:
            return chunks(a, b, level + 1)
        # Runs of pieces that fit are merged; a piece too big is split at the next level on its own, so
        # no chunk straddles the boundary of a piece that had to be cut.
        out: list[tuple[int, int]] = []
        run: list[tuple[int, int]] = []
        for x, y in zip([a, *bounds], [*bounds, b], strict=True):
            if count(x, y) > size:
                out += merge(run)
                run = []
                out += chunks(x, y, level + 1)
            else:
                run.append((x, y))
        return out + merge(run)

    spans: list[Span] = []
    for a, b in chunks(0, len(text), 0):
        span = _trimmed(text, a, b, starts)
        if span is not None and (not spans or span != spans[-1]):
            spans.append(span)
    return spans


def _trimmed(text: str, a: int, b: int, starts: Sequence[int]) -> Span | None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if a >= b:
        return None
    return Span(a, b, bisect_left(starts, a), bisect_left(starts, b))


# ------------------------------------------------------------------------------------------ tokenizers


def token_starts_function(path: Path) -> Callable[[str], list[int]]:
    """`text -> start offset of each token` for a tokenizer directory: its tokenizer.json through the
    `tokenizers` library (no special tokens, no truncation), else a fast transformers tokenizer."""
    file = path / "tokenizer.json" if path.is_dir() else path
    if file.name == "tokenizer.json" and file.exists():
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(file))
        except Exception as err:  # noqa: BLE001 - the library raises plain Exceptions for bad files
            raise NodeRunError(f"{file} is not a readable tokenizer ({err})", field="tokenizer") from None
        tok.no_truncation()
        tok.no_padding()

        def starts(text: str) -> list[int]:
            return _monotonic([a for a, _ in tok.encode(text, add_special_tokens=False).offsets])

        return starts
    from flowstudio.nodes.hf.loading import load_tokenizer

    hf_tok: Any = load_tokenizer(path)
    if not getattr(hf_tok, "is_fast", False):
        raise NodeRunError(f"the tokenizer at {path} gives no character offsets (it is not a fast tokenizer)",
                           field="tokenizer", hint="use a tokenizer with a tokenizer.json file")

    def hf_starts(text: str) -> list[int]:
        enc = hf_tok(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
        return _monotonic([a for a, _ in enc["offset_mapping"]])

    return hf_starts


def _monotonic(starts: list[int]) -> list[int]:
    """Offsets sorted (some pre-tokenizers give a sub-word the offset of its word; counts stay right)."""
    return sorted(starts)
