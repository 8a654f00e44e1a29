"""`flowstudio gui FLOW --screenshot OUT.png` renders the window offscreen and exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

REPO = Path(__file__).resolve().parents[2]


def _gui(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["FLOWSTUDIO_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "flowstudio", "gui", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_screenshot_of_a_template_in_the_light_theme(tmp_path, qapp):
    out = tmp_path / "shot.png"
    result = _gui("templates/hello.flow.json", "--screenshot", str(out), "--size", "900x600",
                  "--theme", "light", "--select", "greeting", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)
    # the light theme really was used: the menu bar corner is light
    assert image.pixelColor(2, 2).lightness() > 200
    assert list((tmp_path / "home").glob("recovery/*")) == []  # rendering leaves no autosave behind


def test_a_missing_flow_is_an_error_on_the_command_line(tmp_path):
    result = _gui(str(tmp_path / "nope.flow.json"), "--screenshot", str(tmp_path / "x.png"), home=tmp_path)
    assert result.returncode == 1
    assert "no such file" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_bad_size(tmp_path):
    result = _gui("--screenshot", str(tmp_path / "x.png"), "--size", "big", home=tmp_path)
    assert result.returncode == 1 and "--size" in result.stderr


def test_without_a_display_the_app_says_how_to_render_instead(tmp_path):
    result = _gui(home=tmp_path)
    assert result.returncode == 1
    assert "--screenshot" in result.stderr


def test_hidpi_screenshot_has_twice_the_pixels(tmp_path, qapp, monkeypatch):
    monkeypatch.setenv("QT_SCALE_FACTOR", "2")
    out = tmp_path / "hidpi.png"
    result = _gui("templates/hello.flow.json", "--screenshot", str(out), "--size", "1000x700", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (2000, 1400)
