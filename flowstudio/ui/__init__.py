"""The desktop app (PySide6). Never imports torch.

The core's modules (and with them pydantic) are loaded before any Qt module: with PySide6 6.12, a
pydantic that is only partly imported when PySide6 installs its import hook fails later with a
circular-import error (`from pydantic import BaseModel; import PySide6.QtCore; import pydantic.types`).
`flowstudio.core` itself loads its names lazily, so they are named here.
"""

# must precede PySide6; see above
from flowstudio.core import document, flow, graph, node, registry, validation, values  # noqa: F401
