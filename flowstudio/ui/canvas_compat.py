"""Guard against a PySide6 binding bug that would crash the app on Python < 3.12.

PySide6 6.12.0 returns `None` from void methods without taking a reference, so every call such
as `item.setPos(...)` or `painter.setPen(...)` drops one reference to `None`. On Python 3.12+
`None` is immortal and nothing happens; on 3.11 its count reaches zero after some thousand calls
and the interpreter aborts ("none_dealloc: deallocating None"). A canvas with 1,000 nodes makes
that many calls while it opens.

`ensure_none_survives()` measures whether the running binding has the bug and, only then, gives
`None` a reference count no session can use up (what 3.12 does by design). It is idempotent.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 48
_done = False


def binding_drops_none() -> bool:
    """Whether void Qt methods drop a reference to None in this process."""
    if sys.version_info >= (3, 12):
        return False
    from PySide6.QtCore import QPointF

    point = QPointF()
    before = sys.getrefcount(None)
    for _ in range(16):
        point.setX(1.0)
    return sys.getrefcount(None) < before


def ensure_none_survives() -> bool:
    """Apply the guard when needed; returns True when it was applied (now or earlier)."""
    global _done
    if _done:
        return True
    if not binding_drops_none():
        return False
    ctypes.c_ssize_t.from_address(id(None)).value += _BOOST
    _done = True
    return True


ensure_none_survives()
