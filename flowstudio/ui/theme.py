"""Dark and light themes: a Fusion palette, the stylesheet in assets/styles/app.qss and icon colours.

The chosen theme is remembered in the settings; the canvas gets its own colours through
`canvas.style.set_canvas_theme`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from PySide6.QtGui import QColor, QFont, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from flowstudio.core.paths import assets_dir

from .icons import glyph_icon
from .settings import app_settings

ThemeName = Literal["dark", "light"]
THEMES: tuple[ThemeName, ...] = ("dark", "light")
DEFAULT_THEME: ThemeName = "dark"

PALETTES: dict[str, dict[str, str]] = {
    "dark": {
        "window": "#1b1d21", "panel": "#222429", "panel_alt": "#2a2d33", "border": "#34373e", "border_strong": "#4d535c",
        "text": "#dcdfe4", "text_dim": "#8b919b", "accent": "#5b8cff", "accent_hover": "#7aa2ff",
        "accent_text": "#ffffff", "selection": "#2d4270", "hover": "#2c3036", "input": "#18191c",
        "error": "#f06262", "error_bg": "#3a1f22", "warning": "#e8a33d", "ok": "#4cc38a", "scroll": "#3d424a",
    },
    "light": {
        "window": "#eef0f3", "panel": "#ffffff", "panel_alt": "#f6f7f9", "border": "#d5d9df", "border_strong": "#b4bac3",
        "text": "#1f2328", "text_dim": "#646b76", "accent": "#2f6fed", "accent_hover": "#4a84f5",
        "accent_text": "#ffffff", "selection": "#d6e3fd", "hover": "#e8ebf0", "input": "#ffffff",
        "error": "#d33c3c", "error_bg": "#fdecec", "warning": "#b7791f", "ok": "#23905a", "scroll": "#c3c8cf",
    },
}

_current: ThemeName = DEFAULT_THEME


def current_theme() -> ThemeName:
    return _current


def color(token: str) -> str:
    """A colour of the current theme by token name ("text", "error", ...)."""
    return PALETTES[_current][token]


def icon(name: str, token: str = "text", **options: object) -> QIcon:
    """An icon by qtawesome name, tinted for the current theme (vector, so it stays sharp at any scale)."""
    return glyph_icon(name, color(token), color("text_dim"), **options)


def emphasize(widget: QWidget, scale: float = 1.0, bold: bool = False) -> None:
    """Scale a widget's font relative to the app font (stylesheets only take absolute sizes)."""
    font = QFont(widget.font())
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() * scale)
    else:
        font.setPixelSize(max(1, round(font.pixelSize() * scale)))
    font.setBold(bold)
    widget.setFont(font)


def saved_theme() -> ThemeName:
    value = app_settings().value("ui/theme", DEFAULT_THEME)
    return value if value in THEMES else DEFAULT_THEME


def save_theme(name: ThemeName) -> None:
    app_settings().setValue("ui/theme", name)


@lru_cache(maxsize=1)
def _stylesheet_template() -> str:
    return (assets_dir() / "styles" / "app.qss").read_text(encoding="utf-8")


def stylesheet(name: ThemeName) -> str:
    tokens = dict(PALETTES[name], icons=(assets_dir() / "icons").as_posix(), theme=name)
    return re.sub(r"@([a-z_]+)", lambda m: tokens.get(m.group(1), m.group(0)), _stylesheet_template())


def _palette(name: ThemeName) -> QPalette:
    t = PALETTES[name]
    pal = QPalette()
    role = QPalette.ColorRole
    pal.setColor(role.Window, QColor(t["window"]))
    pal.setColor(role.WindowText, QColor(t["text"]))
    pal.setColor(role.Base, QColor(t["input"]))
    pal.setColor(role.AlternateBase, QColor(t["panel_alt"]))
    pal.setColor(role.ToolTipBase, QColor(t["panel_alt"]))
    pal.setColor(role.ToolTipText, QColor(t["text"]))
    pal.setColor(role.PlaceholderText, QColor(t["text_dim"]))
    pal.setColor(role.Text, QColor(t["text"]))
    pal.setColor(role.Button, QColor(t["panel_alt"]))
    pal.setColor(role.ButtonText, QColor(t["text"]))
    pal.setColor(role.BrightText, QColor(t["error"]))
    pal.setColor(role.Highlight, QColor(t["accent"]))
    pal.setColor(role.HighlightedText, QColor(t["accent_text"]))
    pal.setColor(role.Link, QColor(t["accent"]))
    pal.setColor(role.Mid, QColor(t["border"]))
    pal.setColor(role.Dark, QColor(t["window"]))
    pal.setColor(role.Light, QColor(t["panel_alt"]))
    for r in (role.Text, role.WindowText, role.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, r, QColor(t["text_dim"]))
    return pal


def apply_theme(name: ThemeName, app: QApplication | None = None, remember: bool = False) -> None:
    """Switch the whole application (widgets, icons' default colour, canvas) to `name`."""
    global _current
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(THEMES)}")
    app = app or QApplication.instance()  # type: ignore[assignment]
    _current = name
    if app is not None:
        app.setStyle("Fusion")
        app.setPalette(_palette(name))
        app.setStyleSheet(stylesheet(name))
        if isinstance(app, QGuiApplication):
            app.styleHints().setColorScheme(
                QGuiApplication.styleHints().colorScheme().Dark if name == "dark"
                else QGuiApplication.styleHints().colorScheme().Light)
    try:
        from .canvas.style import set_canvas_theme
    except ImportError:  # the canvas is built by another module; tolerate its absence
        pass
    else:
        set_canvas_theme(name)
    if remember:
        save_theme(name)
