"""Canvas colours, fonts and pens: a dark and a light palette, switched with `set_canvas_theme`.

Everything a paint() needs is built once here (fonts, pens, brushes), never per paint.
Port colours come from `PortType.color`; node header colours from `CATEGORY_COLORS`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPen


@dataclass(frozen=True)
class CanvasPalette:
    name: str
    background: str
    grid_minor: str
    grid_major: str
    node_body: str
    node_border: str
    node_selected: str
    node_text: str
    port_text: str
    muted_text: str
    missing: str
    edge_default: str
    edge_selected: str
    rubber_band: str
    group_text: str
    group_alpha: int
    shadow: str
    compatible: str


DARK = CanvasPalette(
    name="dark", background="#1d1f23", grid_minor="#25282d", grid_major="#2e3238",
    node_body="#2b2e34", node_border="#17191c", node_selected="#ffb74d", node_text="#eceff1",
    port_text="#b0bec5", muted_text="#78828c", missing="#ef5350", edge_default="#9e9e9e",
    edge_selected="#ffb74d", rubber_band="#64b5f6", group_text="#eceff1", group_alpha=46,
    shadow="#0a0b0d", compatible="#ffffff",
)

LIGHT = CanvasPalette(
    name="light", background="#eef0f3", grid_minor="#e6e9ed", grid_major="#d9dde2",
    node_body="#ffffff", node_border="#b8bec7", node_selected="#f57c00", node_text="#1f2328",
    port_text="#4a5560", muted_text="#8a939c", missing="#d32f2f", edge_default="#757575",
    edge_selected="#f57c00", rubber_band="#1976d2", group_text="#1f2328", group_alpha=40,
    shadow="#9aa3ad", compatible="#000000",
)

PALETTES = {"dark": DARK, "light": LIGHT}

CATEGORY_COLORS: dict[str, str] = {
    "Input/Output": "#546e7a", "I/O": "#546e7a", "IO": "#546e7a", "Input": "#546e7a", "Output": "#546e7a",
    "Models": "#5e35b1", "Model": "#5e35b1",
    "Tokenizers": "#00897b", "Tokenizer": "#00897b",
    "Data": "#1e88e5", "Datasets": "#1e88e5", "Dataset": "#1e88e5",
    "Training": "#e53935", "Train": "#e53935", "Fine-tuning": "#e53935",
    "Inference": "#43a047", "Generation": "#43a047", "Generate": "#43a047",
    "Evaluation": "#fb8c00", "Eval": "#fb8c00", "Metrics": "#fb8c00",
    "Agents": "#8e24aa", "Agent": "#8e24aa", "Tools": "#6d4c41", "Tool": "#6d4c41",
    "Rewards": "#f4511e", "Reward": "#f4511e",
    "Text": "#7cb342", "Utilities": "#607d8b", "Utility": "#607d8b", "Export": "#3949ab",
    "Stub": "#455a64", "Other": "#616161",
}

_FALLBACK = ["#5c6bc0", "#26a69a", "#8d6e63", "#ab47bc", "#29b6f6", "#9ccc65", "#ffa726", "#ec407a"]

STATUS_COLORS: dict[str, str] = {
    "queued": "#90a4ae", "running": "#42a5f5", "done": "#66bb6a", "cached": "#26c6da",
    "failed": "#ef5350", "cancelled": "#bdbdbd", "skipped": "#9e9e9e",
}
STATUS_ICONS: dict[str, str] = {
    "queued": "mdi6.clock-outline", "running": "mdi6.play-circle", "done": "mdi6.check-circle",
    "cached": "mdi6.lightning-bolt-circle", "failed": "mdi6.alert-circle", "cancelled": "mdi6.stop-circle",
    "skipped": "mdi6.debug-step-over",
}


def category_color(category: str) -> QColor:
    value = CATEGORY_COLORS.get(category)
    if value is None:
        value = _FALLBACK[zlib.crc32(category.encode()) % len(_FALLBACK)]
    return QColor(value)


class _ThemeSignals(QObject):
    themeChanged = Signal(str)  # noqa: N815 - Qt naming


_state: dict[str, CanvasPalette] = {"palette": DARK}
_signals: _ThemeSignals | None = None


def theme_signals() -> _ThemeSignals:
    global _signals
    if _signals is None:
        _signals = _ThemeSignals()
    return _signals


def palette() -> CanvasPalette:
    return _state["palette"]


def set_canvas_theme(name: str) -> None:
    """Switch every canvas to the "dark" or "light" palette."""
    if name not in PALETTES:
        raise ValueError(f"unknown canvas theme {name!r}; choose from {sorted(PALETTES)}")
    if _state["palette"].name == name:
        return
    _state["palette"] = PALETTES[name]
    theme_signals().themeChanged.emit(name)


@lru_cache(maxsize=64)
def color(value: str) -> QColor:
    return QColor(value)


@lru_cache(maxsize=128)
def pen(value: str, width: float = 1.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    p = QPen(QColor(value), width, style)
    p.setCosmetic(False)
    return p


@lru_cache(maxsize=8)
def font(role: str) -> QFont:
    f = QFont()
    if role == "title":
        f.setPointSizeF(9.5)
        f.setBold(True)
    elif role == "group":
        f.setPointSizeF(13)
        f.setBold(True)
    elif role == "small":
        f.setPointSizeF(7.5)
    else:
        f.setPointSizeF(8.5)
    return f


# Geometry shared by node items, the layout and tests.
NODE_MIN_WIDTH = 170.0
TITLE_HEIGHT = 28.0
ROW_HEIGHT = 22.0
PORT_RADIUS = 5.5
PORT_HIT_RADIUS = 10.0
NODE_PADDING = 8.0
CORNER_RADIUS = 6.0
GROUP_TITLE_HEIGHT = 30.0
GROUP_PADDING = 24.0
LOD_TEXT = 0.45  # below this zoom, skip text and icons
