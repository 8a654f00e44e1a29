"""Recursive token chunking: sizes, overlap, positions, and the paragraph → sentence → word order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flowstudio.nodes.knowledge.splitting import split_text, token_starts_function


def word_starts(text: str) -> list[int]:
    """A whitespace tokenizer: one token per word (independent of the code under test)."""
    return [m.start() for m in re.finditer(r"\S+", text)]


def words_in(text: str) -> int:
    return len(text.split())


TEXT = ("Alpha beta gamma delta. Epsilon zeta eta theta.\n\n"
        "Iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega. One two three.\n\n"
        "Short paragraph here.")


def test_chunks_fit_keep_positions_and_cover_every_word() -> None:
    spans = split_text(TEXT, word_starts(TEXT), size=8, overlap=0)
    for s in spans:
        chunk = TEXT[s.start_char:s.end_char]
        assert words_in(chunk) == s.tokens <= 8
        assert chunk == chunk.strip()
    covered = sorted({i for s in spans for i in range(s.start_token, s.end_token)})
    assert covered == list(range(len(word_starts(TEXT))))
    assert [s.start_token for s in spans] == sorted(s.start_token for s in spans)


def test_paragraphs_that_fit_are_never_cut_and_sentences_come_before_words() -> None:
    spans = split_text(TEXT, word_starts(TEXT), size=9, overlap=0)
    texts = [TEXT[s.start_char:s.end_char] for s in spans]
    assert "Alpha beta gamma delta. Epsilon zeta eta theta." in texts  # 8 words: the whole paragraph
    assert "Short paragraph here." in texts
    # the 19-word paragraph is cut at its sentence end first, then between words
    assert any(t.endswith("One two three.") for t in texts)
    assert not any("theta.\n\nIota" in t for t in texts)


def test_neighbours_share_at_most_overlap_tokens() -> None:
    text = " ".join(f"w{i}." for i in range(100))
    spans = split_text(text, word_starts(text), size=10, overlap=3)
    assert len(spans) > 10
    for a, b in zip(spans, spans[1:], strict=False):
        shared = max(0, a.end_token - b.start_token)
        assert 1 <= shared <= 3
        assert b.start_token > a.start_token
    assert spans[-1].end_token == 100


def test_a_word_longer_than_a_chunk_is_cut_by_tokens() -> None:
    text = "x" * 50
    starts = list(range(0, 50, 2))  # 25 two-character tokens, no spaces
    spans = split_text(text, starts, size=10, overlap=2)
    assert [s.tokens for s in spans] == [10, 10, 5]
    assert "".join(text[s.start_char:s.end_char] for s in spans) == text


def test_overlap_not_smaller_than_size_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        split_text(TEXT, word_starts(TEXT), size=4, overlap=4)


def test_minilm_token_counts_match_a_fresh_tokenization(minilm_dir: Path) -> None:
    from tokenizers import Tokenizer

    starts_of = token_starts_function(minilm_dir)
    text = (Path(__file__).resolve().parents[3] / "assets" / "knowledge" / "corpus" / "serve.md").read_text()
    spans = split_text(text, starts_of(text), size=64, overlap=8)
    tok = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    for s in spans:
        fresh = len(tok.encode(text[s.start_char:s.end_char], add_special_tokens=False).ids)
        assert fresh == s.tokens <= 64
