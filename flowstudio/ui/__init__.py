"""The desktop app (PySide6). Never imports torch.

`flowstudio.core` (and with it pydantic) is loaded before any Qt module: with PySide6 6.12, a
pydantic that is only partly imported when PySide6 installs its import hook fails later with a
circular-import error (`from pydantic import BaseModel; import PySide6.QtCore; import pydantic.types`).
"""

import flowstudio.core  # noqa: F401  (must precede PySide6; see above)
