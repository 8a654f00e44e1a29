"""Running the choices of one request as a job in the model's worker, with or without a stream.

`run_choices` submits one job that produces each choice in turn; pieces of text come back to the event
loop through an `asyncio.Queue` (`call_soon_threadsafe`). If the request is cancelled (the client went
away), the job's cancel flag is set and the generation stops within a token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from .backends import Completion
from .pool import Served

# one choice: (on_text, cancelled) -> Completion
Choice = Callable[[Callable[[str], None] | None, Callable[[], bool]], Completion]


async def run_choices(entry: Served, choices: list[Choice]) -> list[Completion]:
    job = entry.worker.submit(lambda cancelled: [c(None, cancelled) for c in choices])
    try:
        return await asyncio.wrap_future(job.future)
    except asyncio.CancelledError:
        job.cancel()
        raise


class ChoiceStream:
    """The events of a streamed request: ("text", index, str), ("done", index, Completion), ("end", ...)."""

    def __init__(self, entry: Served, choices: list[Choice]) -> None:
        loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, int, Any]] = asyncio.Queue()

        def put(item: tuple[str, int, Any]) -> None:
            loop.call_soon_threadsafe(self.queue.put_nowait, item)

        def work(cancelled: Callable[[], bool]) -> None:
            for i, choice in enumerate(choices):
                put(("done", i, choice(lambda text, i=i: put(("text", i, text)), cancelled)))

        self.job = entry.worker.submit(work)
        self.job.future.add_done_callback(lambda f: put(("end", -1, None)))
        self.first: tuple[str, int, Any] | None = None

    async def start(self) -> None:
        """Wait for the first event, so an error before any text is an ordinary HTTP error."""
        try:
            self.first = await self.queue.get()
        except asyncio.CancelledError:
            self.job.cancel()
            raise
        if self.first[0] == "end":
            self._raise()

    def _raise(self) -> None:
        if not self.job.future.cancelled() and self.job.future.exception() is not None:
            raise self.job.future.exception()

    async def events(self) -> AsyncIterator[tuple[str, int, Any]]:
        try:
            item = self.first or await self.queue.get()
            while item[0] != "end":
                yield item
                item = await self.queue.get()
            self._raise()
        finally:  # the client went away (the generator is closed) or the stream ended
            self.job.cancel()
