"""The app's persistent settings: a QSettings backed by an INI file in the FlowStudio data directory.

Keeping it under `data_dir()` (not the platform registry) means FLOWSTUDIO_HOME isolates tests and
portable installs completely, and the file is readable by people.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from flowstudio.core.paths import data_dir


def app_settings() -> QSettings:
    path = data_dir() / "settings.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)
