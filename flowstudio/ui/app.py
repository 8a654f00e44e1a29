"""Starting the desktop app, and rendering the window to an image (`flowstudio gui --screenshot`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from . import theme


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (or the existing one), HiDPI-correct, themed from the saved settings."""
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    QCoreApplication.setOrganizationName("FlowStudio")
    QCoreApplication.setApplicationName("FlowStudio")
    QGuiApplication.setApplicationDisplayName("FlowStudio")
    QGuiApplication.setDesktopFileName("flowstudio")
    return app  # type: ignore[return-value]


def _settle(app: QApplication, ms: int = 50) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    app.processEvents()


def make_window(flow: Path | None = None, theme_name: str | None = None, restore_layout: bool = True,
                template: bool = False, fill_after_paint: bool = False):  # noqa: ANN201 - MainWindow, imported lazily
    from .window.main_window import MainWindow

    theme.apply_theme(theme_name or theme.saved_theme())  # type: ignore[arg-type]
    window = MainWindow(restore_layout=restore_layout, fill_after_paint=fill_after_paint and flow is None)
    window.setWindowIcon(theme.icon("mdi6.graph-outline", "accent"))
    if flow is not None:
        (window.open_template if template else window.open_path)(flow)
    return window


def run_app(flow: Path | None = None, theme_name: str | None = None) -> int:
    """Open the app (with no flow, the start page) and offer to restore what a crashed session autosaved."""
    app = create_application()
    window = make_window(flow, theme_name, fill_after_paint=True)
    window.show()
    window.when_painted(window.offer_recovery)
    window.when_painted(window.clean_stale_saves)
    return app.exec()


def render_screenshot(out: Path, flow: Path | None = None, theme_name: str = "dark",
                      size: tuple[int, int] = (1600, 1000), select: list[str] | None = None,
                      template: bool = False) -> Path:
    """Render the window with `flow` open (framed) to a PNG and return its path."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = create_application()
    window = make_window(flow, theme_name, restore_layout=False, template=template)
    window.resize(*size)
    window.show()
    _settle(app)
    if (window.width(), window.height()) != tuple(size):  # docks' size hints can grow a window on show
        window.resize(*size)
        _settle(app)
    if select:
        window.canvas.select_nodes(select)
        window.inspector.show_selection(select)
    if window.has_flow:
        window.problems.refresh()
    window.canvas.frame_all()
    _settle(app, 100)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise OSError(f"could not write {out}")
    window.autosaver.discard()
    window.close()
    return out
