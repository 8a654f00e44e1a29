"""The project's own error types: every failure a user can cause is one of these, with a message."""

from __future__ import annotations


class FlowStudioError(Exception):
    """Base of every error FlowStudio raises on purpose. `str(err)` is meant for the user."""


class FlowFileError(FlowStudioError):
    """A flow file could not be read: not JSON, not a flow, or from a newer FlowStudio."""

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class UnknownNodeTypeError(FlowStudioError):
    """A node type id that no installed package provides."""


class NodeRunError(FlowStudioError):
    """A node failed while running; `hint` says what the user can change."""

    def __init__(self, message: str, *, hint: str = "", field: str | None = None) -> None:
        self.hint = hint
        self.field = field
        super().__init__(message)


class RunCancelled(FlowStudioError):
    """Raised inside a node when the user stopped the run; the node has saved what it could."""
