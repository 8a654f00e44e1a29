"""Every relative link and image in the README and the docs points at a file that exists in the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def markdown_files() -> list[Path]:
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "examples").rglob("*.md")),
             REPO / "benchmarks" / "RESULTS.md"]
    return [f for f in files if f.exists()]


def relative_links(text: str) -> list[str]:
    text = FENCE.sub("", text)  # links inside code blocks are examples, not links
    links = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # http:, mailto:, an anchor in the same page
        links.append(target.split("#", 1)[0])
    return links


def test_link_finder_sees_links_and_images_but_not_urls_or_code():
    text = "[a](docs/x.md#part) ![s](img/s.png \"title\") [u](https://x.org) [h](#top)\n```\n[c](nope.md)\n```\n"
    assert relative_links(text) == ["docs/x.md", "img/s.png"]


def test_every_relative_link_resolves():
    broken = []
    for md in markdown_files():
        for target in relative_links(md.read_text(encoding="utf-8")):
            resolved = (md.parent / target).resolve()
            if not resolved.exists() or REPO not in resolved.parents and resolved != REPO:
                broken.append(f"{md.relative_to(REPO)}: {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)
    assert markdown_files(), "no markdown files found"
