"""Guard against PySide6 binding bugs that would crash the app on Python < 3.12.

PySide6 6.12.0 returns some values without taking a reference to them:

- void methods return `None` that way, so every call such as `item.setPos(...)` or
  `painter.setPen(...)` drops one reference to `None`;
- `Signal.emit()` returns `True` that way, so every emit from Python drops one reference to `True`.

On Python 3.12+ these objects are immortal and nothing happens; on 3.11 their counts reach zero
after some thousand calls and the interpreter aborts ("none_dealloc: deallocating None",
"bool_dealloc: deallocating True or False"). A canvas with 1,000 nodes makes that many calls
while it opens, and every edit emits a signal.

`ensure_singletons_survive()` measures whether the running binding has each bug and, only then,
gives the object a reference count no session can use up (what 3.12 does by design). Idempotent.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 48
_guarded: set[str] = set()


def _boost(obj: object) -> None:
    ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST


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


def binding_drops_true() -> bool:
    """Whether emitting a signal from Python drops a reference to True in this process."""
    if sys.version_info >= (3, 12):
        return False
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(16):
        probe.ping.emit()
    return sys.getrefcount(True) < before


def ensure_singletons_survive() -> set[str]:
    """Apply the guards that this binding needs; returns the names guarded so far."""
    if "None" not in _guarded and binding_drops_none():
        _boost(None)
        _guarded.add("None")
    if "True" not in _guarded and binding_drops_true():
        _boost(True)
        _boost(False)  # the same code path may hand out either
        _guarded.update({"True", "False"})
    return set(_guarded)


ensure_none_survives = ensure_singletons_survive  # the first name this had

ensure_singletons_survive()
