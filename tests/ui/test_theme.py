"""Themes: dark by default, light from View > Theme, remembered in the settings."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from flowstudio.ui import theme
from flowstudio.ui.settings import app_settings
from tests.ui import test_main_window_support as support

home = support.home  # a fixture
window = support.window  # a fixture


def _window_colour() -> str:
    return QApplication.instance().palette().color(QPalette.ColorRole.Window).name()


def test_dark_by_default_and_light_from_the_menu_is_remembered(window):
    assert theme.saved_theme() == "dark"
    assert _window_colour() == theme.PALETTES["dark"]["window"]
    assert window.actions_["theme_dark"].isChecked()
    view = window.menus["view"]
    theme_menu = next(a.menu() for a in view.actions() if a.menu() and a.text() == "&Theme")
    light = next(a for a in theme_menu.actions() if a.text() == "Light")
    light.trigger()
    assert theme.current_theme() == "light"
    assert _window_colour() == theme.PALETTES["light"]["window"]
    assert theme.PALETTES["light"]["accent"] in QApplication.instance().styleSheet()
    assert app_settings().value("ui/theme") == "light"
    assert theme.saved_theme() == "light"
    from flowstudio.ui.canvas import style as canvas_style

    assert canvas_style.palette().name == "light"  # the canvas follows
    window.actions_["@theme_toggle"].trigger()
    assert theme.current_theme() == "dark" and theme.saved_theme() == "dark"


def test_stylesheet_has_no_unfilled_tokens():
    for name in theme.THEMES:
        sheet = theme.stylesheet(name)
        assert "@" not in sheet, [line for line in sheet.splitlines() if "@" in line]
