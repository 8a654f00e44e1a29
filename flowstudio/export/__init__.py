"""Flow -> a standalone Python script (`flow.py`), the node code it runs (`flowlib/`), launcher configs.

`export_flow` writes an export; `preview_script` / `preview_node` return the text the app shows. No Qt,
no torch; nothing from the flow runs.
"""

from __future__ import annotations

from pathlib import Path

from flowstudio.core.flow import Flow
from flowstudio.core.registry import NodeRegistry

from .exporter import ExportError, Rendered, render
from .notes import export_note
from .script import node_constants, node_function
from .writer import MANIFEST, ExportResult, export_flow

__all__ = ["MANIFEST", "ExportError", "ExportResult", "Rendered", "export_flow", "export_note", "preview_node",
           "preview_script", "render"]


def preview_script(flow: Flow, flow_dir: Path, allow_code: bool = True,
                   registry: NodeRegistry | None = None) -> str:
    """flow.py as it would be exported (with consent for code-running nodes, unless allow_code=False)."""
    return render(flow, flow_dir, allow_code=allow_code, registry=registry).files["flow.py"]


def preview_node(flow: Flow, flow_dir: Path, node_id: str, allow_code: bool = True,
                 registry: NodeRegistry | None = None) -> str:
    """The constants and the function of one node, as in flow.py."""
    rendered = render(flow, flow_dir, allow_code=allow_code, registry=registry)
    for node in rendered.nodes:
        if node.id == node_id:
            description = rendered.descriptions.get(node.type, "")
            return "\n".join([*node_constants(node), "", "", *node_function(node, description)]) + "\n"
    raise ExportError(f"the flow has no node '{node_id}'")
