"""Icons drawn from the icon fonts that qtawesome ships, without importing qtawesome at start-up.

Importing qtawesome imports qtpy, whose `from PySide6.QtGui import *` (and QtWidgets, QtCore, QtOpenGL)
makes PySide6 build every class and enum it loads lazily: ~0.17 s of a 0.8 s start-up budget, spent
before the first frame. The fonts and their charmaps are plain files in qtawesome's package, so the
prefixes the app uses are drawn here the way qtawesome draws them (a glyph, 0.875 of the icon's height,
centred); any other name (a plugin's `fa5s.*`, options such as `rotated=`) goes to qtawesome itself,
imported on first use.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache, lru_cache
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QIcon, QIconEngine, QPainter, QPixmap

# prefix -> the start of its font's file name in qtawesome/fonts (the charmap is "<start>-charmap-<version>.json")
FONT_FILES: dict[str, str] = {
    "mdi6": "materialdesignicons6-webfont",
    "mdi": "materialdesignicons5-webfont",
    "fa5s": "fontawesome5-solid-webfont",
    "fa5": "fontawesome5-regular-webfont",
    "fa5b": "fontawesome5-brands-webfont",
    "fa6s": "fontawesome6-solid-webfont",
    "fa6": "fontawesome6-regular-webfont",
    "fa6b": "fontawesome6-brands-webfont",
    "ph": "phosphor",
    "ri": "remixicon",
    "msc": "codicon",
    "ei": "elusiveicons-webfont",
}
FALLBACK = "mdi6.cube-outline"
_GLYPH_SCALE = 0.875  # qtawesome's: a 16 px icon gets a 14 px glyph, which leaves room for the font's bearing


@lru_cache(maxsize=1)
def _fonts_dir() -> Path | None:
    spec = importlib.util.find_spec("qtawesome")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    return path if path.is_dir() else None


class IconFont:
    """One icon font: its family once registered with Qt, and its glyph names."""

    def __init__(self, ttf: Path, charmap: Path) -> None:
        font_id = QFontDatabase.addApplicationFont(str(ttf))
        families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
        if not families:
            raise OSError(f"Qt could not load the icon font {ttf}")
        self.family = families[0]
        self.chars = {name: chr(int(code, 16)) for name, code in json.loads(charmap.read_text("utf-8")).items()}

    def font(self, pixel_size: int) -> QFont:
        font = QFont(self.family)
        font.setPixelSize(max(1, pixel_size))
        return font


@cache
def icon_font(prefix: str) -> IconFont | None:
    """The font behind a prefix, loaded on first use; None when qtawesome's files are not where expected."""
    stem, fonts = FONT_FILES.get(prefix), _fonts_dir()
    if stem is None or fonts is None:
        return None
    ttfs = sorted(fonts.glob(f"{stem}-[0-9]*.ttf"))
    maps = sorted(fonts.glob(f"{stem}-charmap-*.json"))
    if not ttfs or not maps:
        return None
    try:
        return IconFont(ttfs[-1], maps[-1])
    except (OSError, ValueError):
        return None


class GlyphIconEngine(QIconEngine):
    """Paints one glyph in a colour per mode, at any size (so icons stay sharp when scaled)."""

    def __init__(self, font: IconFont, char: str, color: str, disabled: str) -> None:
        super().__init__()
        self.icon_font, self.char, self.color, self.disabled = font, char, color, disabled

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        painter.save()
        painter.setPen(QColor(self.disabled if mode == QIcon.Mode.Disabled else self.color))
        painter.setFont(self.icon_font.font(round(_GLYPH_SCALE * rect.height())))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), self.char)
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        painter.end()
        return pixmap

    def clone(self) -> GlyphIconEngine:
        return GlyphIconEngine(self.icon_font, self.char, self.color, self.disabled)


def glyph_icon(name: str, color: str, disabled: str | None = None, **options: object) -> QIcon:
    """The icon "prefix.name" (qtawesome's names) in `color`, `disabled` when its widget is disabled."""
    prefix, _, glyph = name.partition(".")
    font = None if options else icon_font(prefix)
    char = font.chars.get(glyph) if font else None
    if font is not None and char is not None:
        return QIcon(GlyphIconEngine(font, char, color, disabled or color))
    if font is not None and not options:  # a name this font does not have: qtawesome would refuse it too
        return glyph_icon(FALLBACK, color, disabled) if name != FALLBACK else QIcon()
    return _qtawesome_icon(name, color, disabled, **options)


def _qtawesome_icon(name: str, color: str, disabled: str | None, **options: object) -> QIcon:
    import qtawesome as qta  # only for names and options the fonts above do not cover

    extra = {"color_disabled": disabled} if disabled else {}
    try:
        return qta.icon(name, color=color, **extra, **options)
    except Exception:  # an unknown icon name (from a plugin, say) must not break the UI
        return glyph_icon(FALLBACK, color, disabled) if name != FALLBACK else QIcon()
