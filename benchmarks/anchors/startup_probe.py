"""Child process of `benchmarks/startup.py`: start a window, write the wall-clock time of its first painted
frame to the file named by FLOWSTUDIO_STARTUP_PROBE, then the time the app has filled what it fills after
that frame (the node list and the template cards; the same time for PySide6 alone), and quit.

    python startup_probe.py app       # `flowstudio` exactly as the command runs it (cli.main([]))
    python startup_probe.py pyside    # the anchor: PySide6 alone, an empty QMainWindow of the same size

The probe is an event filter on the first top-level window that is shown: on its first Paint event it posts
a zero-time timer (which runs once that frame has been flushed to the screen), records time.time() and quits
the event loop. `python -X importtime` or cProfile can wrap this script for a profile.
"""

from __future__ import annotations

import os
import sys
import time


def install(app, window) -> None:  # noqa: ANN001 - Qt objects
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaint(QObject):
        done = False

        def eventFilter(self, obj, event) -> bool:  # noqa: ANN001, N802 - Qt's name
            if event.type() == QEvent.Type.Paint and not self.done:
                self.done = True
                QTimer.singleShot(0, report)
            return False

    painted: list[float] = []

    def report() -> None:
        if not painted:
            painted.append(time.time())
        if getattr(window, "_after_paint", None) is not None:  # the app still has to fill the start page
            QTimer.singleShot(1, report)
            return
        with open(os.environ["FLOWSTUDIO_STARTUP_PROBE"], "w", encoding="utf-8") as fh:
            fh.write(f"{painted[0]!r} {time.time()!r}")
        app.quit()

    window._startup_probe = FirstPaint(window)  # kept alive with the window
    window.installEventFilter(window._startup_probe)


def run_app() -> int:
    from flowstudio.ui import app as ui_app

    make_window = ui_app.make_window

    def probed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        window = make_window(*args, **kwargs)
        install(ui_app.create_application(), window)
        return window

    ui_app.make_window = probed
    from flowstudio.cli import main

    return main([])


def run_pyside() -> int:
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.resize(1280, 800)
    install(app, window)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(run_app() if sys.argv[1] == "app" else run_pyside())
