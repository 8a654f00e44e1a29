"""The playground in the main window: Run → Chat Playground, and "Chat with this model" on every node
that outputs a model (canvas context menu, Run panel rows, Run History's replayed runs).

A node's model is what its last run produced: the live Run panel's outputs first, then the newest run of
the open flow in the run directories; a `model.load` node that never ran offers its own source.
The window is seen through `PlaygroundHost`, so this package never imports the window package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu, QWidget

from flowstudio.core.document import FlowDocument
from flowstudio.core.ports import Model
from flowstudio.core.registry import NodeRegistry
from flowstudio.ui.history.records import runs_of_flow

from .. import theme

if TYPE_CHECKING:  # the window (and QtNetwork behind its client) is imported when the playground first opens
    from .window import PlaygroundWindow


class PlaygroundHost(Protocol):
    registry: NodeRegistry
    has_flow: bool
    run_panel: Any  # RunPanel: model_outputs by node

    @property
    def doc(self) -> FlowDocument: ...


def model_ports(registry: NodeRegistry, doc: FlowDocument, node_id: str) -> list[str]:
    """The node's output ports that carry a model (in declaration order)."""
    node = doc.flow.node(node_id)
    cls = registry.find(node.type) if node is not None else None
    if cls is None or node is None:
        return []
    try:
        ports = cls.output_ports(node.params)
    except Exception:  # a plugin's port function failing must not break a context menu
        return []
    return [p.name for p in ports if isinstance(p.type, type) and issubclass(p.type, Model)]


class Playground(QObject):
    def __init__(self, window: PlaygroundHost) -> None:
        super().__init__(window if isinstance(window, QObject) else None)
        self.window = window
        self.view: PlaygroundWindow | None = None

    def ensure(self) -> PlaygroundWindow:
        if self.view is None:
            parent = self.window if isinstance(self.window, QWidget) else None
            from .window import PlaygroundWindow

            self.view = PlaygroundWindow(parent)
        return self.view

    def show(self) -> PlaygroundWindow:
        """Run → Chat Playground."""
        view = self.ensure()
        view.show()
        view.raise_()
        view.activateWindow()
        return view

    def chat_with(self, source: str, label: str = "") -> PlaygroundWindow:
        view = self.ensure()
        view.open_model(source, label)
        return view

    def shutdown(self) -> None:
        if self.view is not None:
            self.view.shutdown()

    # -- a node's model

    def node_source(self, node_id: str) -> str | None:
        """The model a node produced in its last run (or a model.load node's source)."""
        window = self.window
        if not window.has_flow:
            return None
        ports = model_ports(window.registry, window.doc, node_id)
        if not ports:
            return None
        live = getattr(window.run_panel, "model_outputs", {}).get(node_id, {})
        for port in ports:
            if port in live:
                return str(live[port])
        for record in runs_of_flow(window.doc.path, window.doc.flow.name):
            outputs = record.model_outputs()
            for port in ports:
                artifact = outputs.get(f"{node_id}.{port}")
                if artifact is not None:
                    return str(artifact["path"])
        node = window.doc.flow.node(node_id)
        if node is not None and window.registry.resolve_id(node.type) == "model.load":
            source = node.params.get("source")
            return source if isinstance(source, str) and source.strip() else None
        return None

    def chat_with_node(self, node_id: str) -> PlaygroundWindow | None:
        source = self.node_source(node_id)
        return self.chat_with(source, node_id) if source else None

    def extend_node_menu(self, menu: QMenu, node_ids: list[str]) -> None:
        """The canvas's node context menu: "Chat with this model" for one node that outputs a model."""
        if len(node_ids) != 1 or not self.window.has_flow:
            return
        node_id = node_ids[0]
        if not model_ports(self.window.registry, self.window.doc, node_id):
            return
        source = self.node_source(node_id)
        menu.addSeparator()
        action = menu.addAction(theme.icon("mdi6.chat-processing-outline"),
                                "Chat with this model" if source else "Chat with this model (run the flow first)",
                                lambda: self.chat_with_node(node_id))
        action.setEnabled(bool(source))
        action.setObjectName("action_chat_with_model")
