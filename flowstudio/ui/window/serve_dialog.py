"""Run → Serve: `flowstudio serve` for the open flow or a model, as a child process, with its address.

The server is a separate process (the app never imports torch): a `QProcess` running `python -m
flowstudio serve`, which prints `flowstudio serve: listening on http://HOST:PORT/v1` once its models are
loaded. The dialog shows that address with a copy button and the server's last output lines; Stop (or
closing the dialog) ends the process.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, Qt
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

READY = re.compile(r"listening on (http://\S+)")
MAX_LOG_LINES = 200


def serve_arguments(*, model: str | None, flow: Path | None, name: str, port: int, api_key: str = "",
                    allow_code: bool = False) -> list[str]:
    """The `flowstudio serve` command line for one model source or one flow file."""
    args = ["-m", "flowstudio", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if flow is not None:
        args += ["--flow", f"{name}={flow}"]
    elif model:
        args += ["--model", f"{name}={model}"]
    if api_key:
        args += ["--api-key", api_key]
    if allow_code:
        args.append("--allow-code")
    return args


class ServeDialog(QDialog):
    """Start and stop a local OpenAI-compatible server; `flow_path` offers "this flow" when it can be served."""

    def __init__(self, parent: QWidget | None = None, flow_path: Path | None = None,
                 flow_allows_code: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Serve on an OpenAI-compatible endpoint")
        self.setObjectName("ServeDialog")
        self.flow_path = flow_path
        self.flow_allows_code = flow_allows_code
        self.process: QProcess | None = None
        self.address = ""

        self.use_flow = QRadioButton("This flow" + (f" ({flow_path.name})" if flow_path else " (save it first)"))
        self.use_flow.setEnabled(flow_path is not None)
        self.use_model = QRadioButton("A model")
        (self.use_flow if flow_path is not None else self.use_model).setChecked(True)
        self.source = QLineEdit("builtin:smollm2-135m-instruct")
        self.source.setPlaceholderText("builtin:NAME, a model directory, a .gguf file, a hub id in the cache")
        self.name = QLineEdit("flowstudio")
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(8000)
        self.port.setSpecialValueText("any free port")
        self.api_key = QLineEdit()
        self.api_key.setPlaceholderText("optional: clients must send Authorization: Bearer KEY")
        self.api_key.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)

        form = QFormLayout()
        form.addRow("Serve", self.use_flow)
        form.addRow("", self.use_model)
        form.addRow("Model source", self.source)
        form.addRow("Model name", self.name)
        form.addRow("Port", self.port)
        form.addRow("API key", self.api_key)

        self.status = QLabel("Not serving")
        self.status.setObjectName("ServeStatus")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("Copy address")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_address)
        address_row = QHBoxLayout()
        address_row.addWidget(self.status, 1)
        address_row.addWidget(self.copy_button)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(MAX_LOG_LINES)
        self.log.setPlaceholderText("The server's output appears here")

        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.stop_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(address_row)
        layout.addWidget(QLabel("Closing this dialog stops the server."))
        layout.addWidget(self.log, 1)
        layout.addWidget(buttons)
        self.use_model.toggled.connect(self._sync)
        self._sync()
        self.resize(640, 420)

    # -- state

    def _sync(self) -> None:
        running = self.process is not None
        for widget in (self.use_flow, self.use_model, self.port, self.api_key):
            widget.setEnabled(not running and (widget is not self.use_flow or self.flow_path is not None))
        self.source.setEnabled(not running and self.use_model.isChecked())
        self.name.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.copy_button.setEnabled(bool(self.address))

    def command(self) -> list[str]:
        serving_flow = self.use_flow.isChecked() and self.flow_path is not None
        return serve_arguments(model=None if serving_flow else self.source.text().strip(),
                               flow=self.flow_path if serving_flow else None,
                               name=self.name.text().strip() or "flowstudio", port=self.port.value(),
                               api_key=self.api_key.text().strip(),
                               allow_code=serving_flow and self.flow_allows_code)

    # -- the process

    def start(self) -> None:
        if self.process is not None:
            return
        if self.use_model.isChecked() and not self.source.text().strip():
            self.status.setText("Give a model source first")
            return
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(env)
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._finished)
        self.process = process
        self.address = ""
        self.status.setText("Loading…")
        self._sync()
        process.start(sys.executable, self.command())

    def _read(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            self.log.appendPlainText(line)
            found = READY.search(line)
            if found:
                self.address = found.group(1)
                self.status.setText(f"Serving at <b>{self.address}</b>")
                self._sync()

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._read()
        was_serving = bool(self.address)
        self.process = None
        self.address = ""
        self.status.setText("Stopped" if was_serving else f"The server exited (status {code}); see its output")
        self._sync()

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        process.terminate()
        if not process.waitForFinished(5000):
            process.kill()
            process.waitForFinished(3000)

    def copy_address(self) -> None:
        if self.address:
            QApplication.clipboard().setText(self.address)

    # -- closing

    def done(self, result: int) -> None:
        self.stop()
        super().done(result)
