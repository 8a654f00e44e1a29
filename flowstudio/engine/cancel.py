"""A stop request shared by whoever asks (the app, Ctrl+C, `Engine.cancel`) and the run loop that obeys."""

from __future__ import annotations

NONE, STOP, KILL = 0, 1, 2


class CancelRequest:
    """0 none, 1 stop cleanly (nodes see `ctx.cancelled()`), 2 kill the workers at once. Asking twice
    escalates a stop to a kill. Reading and writing one int is atomic, so any thread may ask."""

    def __init__(self) -> None:
        self.level = NONE

    def ask(self, force: bool = False) -> None:
        self.level = KILL if force or self.level >= STOP else STOP

    def clear(self) -> None:
        self.level = NONE
