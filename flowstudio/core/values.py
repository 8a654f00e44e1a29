"""Values that cross ports: light JSON values, or artifacts (a directory or file on disk plus metadata).

Artifacts are what make workers, the cache and exported scripts share models and datasets by path.
Everything here is picklable and JSON-serialisable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Artifact:
    kind: str  # "model", "tokenizer", "dataset", "reward_model", "table", ...
    path: str  # absolute path of a directory or file
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"__artifact__": True, "kind": self.kind, "path": self.path, "meta": self.meta}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Artifact:
        return Artifact(kind=data["kind"], path=data["path"], meta=dict(data.get("meta", {})))

    @property
    def as_path(self) -> Path:
        return Path(self.path)


def to_jsonable(value: Any) -> Any:
    """Turn a port value into JSON (artifacts become tagged dicts)."""
    if isinstance(value, Artifact):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def from_jsonable(value: Any) -> Any:
    """Inverse of `to_jsonable`."""
    if isinstance(value, dict):
        if value.get("__artifact__") is True:
            return Artifact.from_json(value)
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    return value
