"""MIME types the canvas accepts and produces (drag and drop, clipboard)."""

from __future__ import annotations

from flowstudio.core.clipboard import MIME_TYPE as FRAGMENT_MIME

NODE_TYPE_MIME = "application/x-flowstudio-node-type"  # payload: the node type id, UTF-8

__all__ = ["FRAGMENT_MIME", "NODE_TYPE_MIME"]
