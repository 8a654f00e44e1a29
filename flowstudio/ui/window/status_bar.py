"""The window's status bar: messages on the left; backup time, flow size and readiness on the right."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from flowstudio.core.problems import Problem

from .. import theme


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backup = QLabel(self)
        self.backup.setToolTip("Unsaved changes are backed up every few seconds and offered back after a crash")
        self.run = QLabel(self)
        self.run.setObjectName("RunStatus")
        self.counts = QLabel(self)
        self.problems = QLabel(self)
        for label in (self.run, self.backup, self.counts, self.problems):
            self.addPermanentWidget(label)
        self.running = False
        self._shown: tuple[Any | None, list[Problem]] = (None, [])

    def set_running(self, running: bool) -> None:
        """While a run goes, the readiness mark says so (not "ready to run")."""
        self.running = bool(running)
        self.show_flow(*self._shown)

    def show_flow(self, flow: Any | None, problems: list[Problem]) -> None:
        """`flow` None: no flow is open."""
        self._shown = (flow, list(problems))
        if flow is None:
            self.counts.setText("")
            self.problems.setText("")
            return
        self.counts.setText(f"{plural(len(flow.nodes), 'node')} · {plural(len(flow.edges), 'connection')}  ")
        errors = sum(p.severity == "error" for p in problems)
        if errors:
            self.problems.setText(f"<span style='color:{theme.color('error')}'>●</span> {plural(errors, 'problem')}  ")
        elif self.running:
            self.problems.setText(f"<span style='color:{theme.color('accent')}'>●</span> running  ")
        else:
            self.problems.setText(f"<span style='color:{theme.color('ok')}'>●</span> ready to run  ")

    def backed_up(self, when: float | None) -> None:
        """The autosave wrote the recovery file at `when` (None: nothing unsaved any more)."""
        self.backup.setText("" if when is None else f"Backed up {time.strftime('%H:%M:%S', time.localtime(when))}  ")

    def show_run(self, text: str) -> None:
        """The current run's state and progress ("" when there is nothing to say)."""
        self.run.setText(f"{text}  " if text else "")
