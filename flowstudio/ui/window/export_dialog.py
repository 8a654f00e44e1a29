"""File → Export… and View → Preview Script: the open flow as the standalone script it exports to.

`ScriptPreview` shows flow.py, or only the selected node's constants and function, exactly as
`flowstudio export` writes them (the same `flowstudio.export.render`); a flow that cannot be exported shows
why, naming the nodes. `ExportDialog` adds the target directory, consent for code-running nodes and the
Export button. Rendering reads the flow and FlowStudio's own sources only: no torch, nothing from the flow runs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from flowstudio.core.errors import FlowStudioError
from flowstudio.core.flow import Flow
from flowstudio.core.registry import NodeRegistry
from flowstudio.export import export_flow, preview_node, preview_script


class ScriptPreview(QWidget):
    """Read-only code view of the export: the whole script, or the selected node's part of it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ScriptPreview")
        self.flow: Flow | None = None
        self.flow_dir = Path.cwd()
        self.node_id: str | None = None
        self.registry: NodeRegistry | None = None
        self.whole = QRadioButton("Whole script (flow.py)")
        self.node = QRadioButton("Selected node")
        self.whole.setChecked(True)
        self.code = QPlainTextEdit()
        self.code.setReadOnly(True)
        self.code.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.code.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.code.setObjectName("ScriptPreviewCode")
        choice = QHBoxLayout()
        choice.addWidget(self.whole)
        choice.addWidget(self.node)
        choice.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(choice)
        layout.addWidget(self.code, 1)
        self.whole.toggled.connect(self.refresh)

    def set_flow(self, flow: Flow, flow_dir: Path, node_id: str | None = None,
                 registry: NodeRegistry | None = None) -> None:
        self.flow, self.flow_dir, self.node_id, self.registry = flow, flow_dir, node_id, registry
        self.node.setEnabled(node_id is not None)
        self.node.setText(f"Selected node ({node_id})" if node_id else "Selected node (none selected)")
        if node_id is not None:
            self.node.setChecked(True)
        else:
            self.whole.setChecked(True)
        self.refresh()

    def refresh(self) -> None:
        if self.flow is None:
            self.code.setPlainText("")
            return
        try:
            if self.node.isChecked() and self.node_id is not None:
                text = preview_node(self.flow, self.flow_dir, self.node_id, registry=self.registry)
            else:
                text = preview_script(self.flow, self.flow_dir, registry=self.registry)
        except FlowStudioError as err:
            text = "# This flow cannot be exported yet:\n# " + str(err).replace("\n", "\n# ")
        self.code.setPlainText(text)


class PreviewDialog(QDialog):
    """View → Preview Script."""

    def __init__(self, parent: QWidget | None, flow: Flow, flow_dir: Path, node_id: str | None = None,
                 registry: NodeRegistry | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preview script")
        self.setObjectName("PreviewScriptDialog")
        self.resize(860, 640)
        self.preview = ScriptPreview(self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.preview, 1)
        layout.addWidget(buttons)
        self.preview.set_flow(flow, flow_dir, node_id, registry)


class ExportDialog(QDialog):
    """File → Export…: choose a directory, see the script, write the export."""

    def __init__(self, parent: QWidget | None, flow: Flow, flow_dir: Path, node_id: str | None = None,
                 registry: NodeRegistry | None = None, default_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export flow to a script")
        self.setObjectName("ExportDialog")
        self.resize(900, 700)
        self.flow, self.flow_dir, self.registry = flow, flow_dir, registry
        self.exported: Path | None = None
        self.target = QLineEdit(str(default_dir or flow_dir / "export"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        risky = [f"'{n.id}' {risk}" for n in flow.nodes if registry is not None and (cls := registry.find(n.type))
                 and (risk := cls.code_risk(n.params))]
        self.allow_code = QCheckBox("Export nodes that run code from the flow file: " + "; ".join(risky))
        self.allow_code.setVisible(bool(risky))
        self.allow_code.toggled.connect(self._consent_changed)
        self.status = QLabel("Writes flow.py, flowlib/, requirements.txt, accelerate/*.yaml, slurm.sbatch and "
                             "README.md into the directory (new, empty, or an earlier export).")
        self.status.setWordWrap(True)
        self.status.setObjectName("ExportStatus")
        self.preview = ScriptPreview(self)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(QLabel("Directory"))
        row.addWidget(self.target, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.allow_code)
        layout.addWidget(self.status)
        layout.addWidget(self.preview, 1)
        layout.addWidget(buttons)
        self.preview.set_flow(flow, flow_dir, node_id, registry)

    def _consent_changed(self) -> None:
        self.preview.refresh()

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Export into", self.target.text())
        if chosen:
            self.target.setText(chosen)

    def export(self, force: bool = False) -> bool:
        """Write the export; the status line says where, or why not."""
        text = self.target.text().strip()
        if not text:
            self.status.setText("Choose a directory to export into.")
            return False
        try:
            result = export_flow(self.flow, self.flow_dir, Path(text), allow_code=self.allow_code.isChecked(),
                                 force=force, registry=self.registry)
        except FlowStudioError as err:
            self.status.setText(f"Not exported: {err}")
            return False
        self.exported = result.out_dir
        lines = [f"Exported {len(result.files)} files to {result.out_dir}. Run it with: python flow.py "
                 "(or accelerate launch --config_file accelerate/ddp.yaml flow.py)."]
        lines += [f"Warning: {w}" for w in result.warnings]
        self.status.setText("\n".join(lines))
        return True
