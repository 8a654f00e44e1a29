"""The app's own icon engine draws qtawesome's glyphs pixel for pixel, without importing qtawesome."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtGui import QIcon, QImage

from flowstudio.ui.icons import glyph_icon


def alpha(image: QImage) -> list[int]:
    return [image.pixelColor(x, y).alpha() for y in range(image.height()) for x in range(image.width())]


@pytest.mark.parametrize("name", ["mdi6.play", "mdi6.graph-outline", "mdi6.content-save-outline", "fa5s.robot"])
@pytest.mark.parametrize("size", [16, 48])
def test_a_glyph_is_drawn_as_qtawesome_draws_it(qapp, name: str, size: int) -> None:
    import qtawesome as qta

    ours = glyph_icon(name, "#4cc38a").pixmap(size, size).toImage()
    theirs = qta.icon(name, color="#4cc38a").pixmap(size, size).toImage()
    assert alpha(ours) == alpha(theirs)
    assert sum(a > 0 for a in alpha(ours)) > size  # something was drawn
    centre = max(((x, y) for y in range(size) for x in range(size)), key=lambda p: ours.pixelColor(*p).alpha())
    assert ours.pixelColor(*centre).name() == "#4cc38a"


def test_the_disabled_mode_uses_the_dim_colour(qapp) -> None:
    icon = glyph_icon("mdi6.stop", "#f06262", "#8b919b")
    image = icon.pixmap(32, 32, QIcon.Mode.Disabled).toImage()
    inked = [image.pixelColor(x, y) for y in range(32) for x in range(32) if image.pixelColor(x, y).alpha() == 255]
    assert inked and {c.name() for c in inked} == {"#8b919b"}


def test_an_unknown_name_is_a_cube_not_an_error(qapp) -> None:
    cube = alpha(glyph_icon("mdi6.cube-outline", "#ffffff").pixmap(24, 24).toImage())
    assert alpha(glyph_icon("mdi6.no-such-icon", "#ffffff").pixmap(24, 24).toImage()) == cube
    assert alpha(glyph_icon("nofont.anything", "#ffffff").pixmap(24, 24).toImage()) == cube


def test_theme_icons_need_no_qtawesome_import(qapp) -> None:
    code = ("import sys\nfrom PySide6.QtWidgets import QApplication\napp = QApplication([])\n"
            "from flowstudio.ui import theme\n"
            "theme.icon('mdi6.play', 'ok').pixmap(32, 32)\nprint('qtawesome' in sys.modules, 'qtpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]
