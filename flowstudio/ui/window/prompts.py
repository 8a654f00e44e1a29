"""The window's modal questions, in one replaceable object.

`MainWindow(prompts=...)` takes any object with these methods, so tests and scripts answer
without a dialog blocking the event loop; the app uses the real dialogs below.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .recovery import RecoveryEntry

SaveAnswer = Literal["save", "discard", "cancel"]
RestoreAnswer = Literal["restore", "discard", "later"]
ResumeAnswer = Literal["resume", "restart", "cancel"]


class Prompts:
    def unsaved_changes(self, parent: QWidget, name: str) -> SaveAnswer:
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                          f"Save the changes to “{name}” before closing it?", parent=parent)
        box.setInformativeText("Your changes are lost if you don't save them.")
        box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                               | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return "save"
        if answer == QMessageBox.StandardButton.Discard:
            return "discard"
        return "cancel"

    def restore_recovery(self, parent: QWidget, entry: RecoveryEntry) -> RestoreAnswer:
        box = QMessageBox(QMessageBox.Icon.Question, "Restore unsaved work?",
                          "FlowStudio did not close cleanly last time.", parent=parent)
        box.setInformativeText(f"It autosaved {entry.describe()}. Restore it?")
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restore)
        box.exec()
        if box.clickedButton() is restore:
            return "restore"
        if box.clickedButton() is discard:
            return "discard"
        return "later"

    def resume_run(self, parent: QWidget, text: str) -> ResumeAnswer:
        """Run was pressed on a stopped (or failed) run: continue it, start over, or neither."""
        box = QMessageBox(QMessageBox.Icon.Question, "Resume the stopped run?", text, parent=parent)
        box.setInformativeText("Resume continues from the checkpoints; Start Over runs the flow again from the first step.")
        resume = box.addButton("Resume", QMessageBox.ButtonRole.AcceptRole)
        restart = box.addButton("Start Over", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(resume)
        box.exec()
        if box.clickedButton() is resume:
            return "resume"
        if box.clickedButton() is restart:
            return "restart"
        return "cancel"

    def confirm(self, parent: QWidget, title: str, text: str, action: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
        ok = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is ok

    def open_path(self, parent: QWidget, start: str, filters: str) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(parent, "Open Flow", start, filters)
        return Path(path) if path else None

    def save_path(self, parent: QWidget, suggested: str, filters: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(parent, "Save Flow As", suggested, filters)
        return Path(path) if path else None

    def choose_template(self, parent: QWidget, make_gallery: Callable[[], QDialog]) -> Path | None:
        gallery = make_gallery()
        return gallery.chosen if gallery.exec() == QDialog.DialogCode.Accepted else None  # type: ignore[attr-defined]

    def error(self, parent: QWidget, title: str, text: str) -> None:
        QMessageBox.critical(parent, title, text)

    def info(self, parent: QWidget, title: str, text: str) -> None:
        QMessageBox.about(parent, title, text)

    def show_shortcuts(self, parent: QWidget, rows: list[tuple[str, str]]) -> None:
        dialog = QDialog(parent)
        dialog.setWindowTitle("Keyboard Shortcuts")
        layout = QVBoxLayout(dialog)
        table = QTableWidget(len(rows), 2, dialog)
        table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (name, keys) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(name))
            table.setItem(i, 1, QTableWidgetItem(keys))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
        buttons.rejected.connect(dialog.reject)
        layout.addWidget(buttons)
        em = dialog.fontMetrics().height()
        dialog.resize(em * 28, em * 32)
        dialog.exec()
