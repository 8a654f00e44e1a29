"""Regular expressions from a flow file, matched with a time limit.

Python's `re` holds the GIL while it backtracks, so `(a+)+$` on 33 characters stops the engine and no Stop
or Ctrl+C gets through. Patterns here are compiled with the `regex` package (the same syntax as `re`, and
already installed with transformers), whose matching takes a `timeout`: a pattern that has not finished in
`TIMEOUT_S` raises `RegexTimeout`, which nodes report as an error naming the pattern.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import regex

TIMEOUT_S = 2.0
error = regex.error


class RegexTimeout(Exception):
    """The pattern did not finish within the time limit (catastrophic backtracking)."""


def compile_pattern(pattern: str, *, ignore_case: bool = False, multiline: bool = False,
                    dotall: bool = False) -> Any:
    flags = ((regex.IGNORECASE if ignore_case else 0) | (regex.MULTILINE if multiline else 0)
             | (regex.DOTALL if dotall else 0))
    return regex.compile(pattern, flags)


def _timed(call: Any, pattern: Any, text: str) -> Any:
    try:
        return call(text, timeout=TIMEOUT_S)
    except TimeoutError:
        raise RegexTimeout(f"the pattern {pattern.pattern!r} did not finish within {TIMEOUT_S:g} s on a text of "
                           f"{len(text)} characters (nested repeats such as (a+)+ backtrack exponentially)") from None


def search(pattern: Any, text: str) -> Any:
    return _timed(pattern.search, pattern, text)


def fullmatch(pattern: Any, text: str) -> Any:
    return _timed(pattern.fullmatch, pattern, text)


def finditer(pattern: Any, text: str) -> Iterator[Any]:
    """All matches; the time limit covers the whole scan."""
    return iter(_timed(lambda t, timeout: list(pattern.finditer(t, timeout=timeout)), pattern, text))
