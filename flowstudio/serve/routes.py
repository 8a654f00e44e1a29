"""The OpenAI endpoints: `/v1/models`, `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette.sse import EventSourceResponse

from .backends import Completion, encode_embedding
from .errors import APIError, bad_request, error_body, unsupported
from .pool import ModelPool, Served
from .schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest, SamplingFields
from .streaming import Choice, ChoiceStream, run_choices
from .tool_calls import select_tools

DEFAULT_MAX_TOKENS = 256


def _sampling_for(body: SamplingFields, i: int, default_max_tokens: int) -> Any:
    sampling = body.sampling(default_max_tokens)
    return replace(sampling, seed=sampling.seed + i) if sampling.seed is not None and i else sampling


def _usage(results: list[Completion], prompt_tokens: int) -> dict[str, int]:
    completion = sum(r.completion_tokens for r in results)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}


def _message(r: Completion) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": r.text if (r.text or not r.tool_calls) else None}
    if r.tool_calls:
        msg["tool_calls"] = r.tool_calls
    return msg


def _sse(obj: dict[str, Any]) -> dict[str, str]:
    return {"data": json.dumps(obj, ensure_ascii=False)}


def _include_usage(body: SamplingFields) -> bool:
    options = getattr(body, "stream_options", None)
    return isinstance(options, dict) and bool(options.get("include_usage"))


def build_router(pool: ModelPool, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> APIRouter:
    router = APIRouter()

    def model_card(name: str, entry: Served) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": entry.created, "owned_by": "flowstudio",
                "kind": entry.backend.kind}

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": pool.names()}

    @router.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card(n, e) for n, e in pool.entries.items()]}

    @router.get("/v1/models/{name:path}")
    async def get_model(name: str) -> dict[str, Any]:
        return model_card(name, pool.get(name))

    # ------------------------------------------------------------------------------ chat completions

    @router.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        entry = pool.get(body.model)
        backend = entry.backend
        tools = select_tools(body.tools, body.tool_choice)
        if tools and backend.kind == "flow":
            raise unsupported(f"{body.model!r} is a flow; flows do not take tools", param="tools")
        messages = [{**m.model_dump(exclude_none=True, exclude={"content"}), "content": m.text()}
                    for m in body.messages]
        choices: list[Choice] = [
            (lambda on_text, cancelled, i=i: backend.chat(messages, _sampling_for(body, i, default_max_tokens),
                                                          tools, on_text, cancelled))
            for i in range(body.n)]
        rid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if not body.stream:
            results = await run_choices(entry, choices)
            return {"id": rid, "object": "chat.completion", "created": created, "model": body.model,
                    "system_fingerprint": "flowstudio",
                    "choices": [{"index": i, "message": _message(r), "finish_reason": r.finish_reason,
                                 "logprobs": None} for i, r in enumerate(results)],
                    "usage": _usage(results, results[0].prompt_tokens if results else 0)}

        stream = ChoiceStream(entry, choices)
        await stream.start()

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, str]:
            return _sse({"id": rid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                         "system_fingerprint": "flowstudio",
                         "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}]})

        async def events() -> Any:
            for i in range(body.n):
                yield chunk(i, {"role": "assistant", "content": ""})
            done: list[Completion] = []
            async for kind, i, value in stream.events():
                if kind == "text":
                    yield chunk(i, {"content": value})
                elif kind == "done":
                    done.append(value)
                    if tools and value.text:  # with tools the reply is read whole before it is sent
                        yield chunk(i, {"content": value.text})
                    if value.tool_calls:
                        yield chunk(i, {"tool_calls": [{"index": k, **c} for k, c in enumerate(value.tool_calls)]})
                    yield chunk(i, {}, value.finish_reason)
            if _include_usage(body):
                yield _sse({"id": rid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                            "choices": [], "usage": _usage(done, done[0].prompt_tokens if done else 0)})
            yield {"data": "[DONE]"}

        return EventSourceResponse(_guarded(events()), ping=15)

    # ---------------------------------------------------------------------------------- completions

    @router.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Any:
        entry = pool.get(body.model)
        backend = entry.backend
        if backend.kind != "model":
            raise unsupported(f"{body.model!r} is a flow; use /v1/chat/completions", param="model")
        prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
        if not prompts:
            raise bad_request("prompt must not be empty", param="prompt")
        choices: list[Choice] = [
            (lambda on_text, cancelled, p=p, i=i: backend.complete(p, _sampling_for(body, i, default_max_tokens),
                                                                   on_text, cancelled))
            for p in prompts for i in range(body.n)]
        echo = [p for p in prompts for _ in range(body.n)] if body.echo else ["" for _ in choices]
        rid, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if not body.stream:
            results = await run_choices(entry, choices)
            prompt_tokens = sum(r.prompt_tokens for k, r in enumerate(results) if k % body.n == 0)
            return {"id": rid, "object": "text_completion", "created": created, "model": body.model,
                    "choices": [{"index": k, "text": echo[k] + r.text, "finish_reason": r.finish_reason,
                                 "logprobs": None} for k, r in enumerate(results)],
                    "usage": _usage(results, prompt_tokens)}

        stream = ChoiceStream(entry, choices)
        await stream.start()

        def chunk(index: int, text: str, finish: str | None = None) -> dict[str, str]:
            return _sse({"id": rid, "object": "text_completion", "created": created, "model": body.model,
                         "choices": [{"index": index, "text": text, "finish_reason": finish, "logprobs": None}]})

        async def events() -> Any:
            started: set[int] = set()
            async for kind, i, value in stream.events():
                if i not in started and echo[i]:
                    started.add(i)
                    yield chunk(i, echo[i])
                if kind == "text":
                    yield chunk(i, value)
                elif kind == "done":
                    yield chunk(i, "", value.finish_reason)
            yield {"data": "[DONE]"}

        return EventSourceResponse(_guarded(events()), ping=15)

    # ----------------------------------------------------------------------------------- embeddings

    @router.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest) -> Any:
        entry = pool.get(body.model)
        backend = entry.backend
        if not callable(getattr(backend, "embed", None)):
            raise unsupported(f"{body.model!r} does not make embeddings", param="model")
        raw = body.input
        if isinstance(raw, str):
            texts: list[Any] = [raw]
        elif raw and all(isinstance(t, int) for t in raw):
            texts = [raw]
        else:
            texts = list(raw)
        if not texts:
            raise bad_request("input must not be empty", param="input")
        if len(texts) > 2048:
            raise bad_request("at most 2048 inputs per request", param="input")

        def work(cancelled: Any) -> tuple[list[list[float]], int]:
            tok = backend.loaded.tokenizer
            return backend.embed([tok.decode(t) if isinstance(t, list) else str(t) for t in texts])

        job = entry.worker.submit(work)
        vectors, tokens = await asyncio.wrap_future(job.future)
        return {"object": "list", "model": body.model,
                "data": [{"object": "embedding", "index": i,
                          "embedding": encode_embedding(v, body.encoding_format, body.dimensions)}
                         for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    return router


async def _guarded(events: Any) -> Any:
    """An error after the stream began becomes an OpenAI-shaped `error` event (the client raises it)."""
    try:
        async for item in events:
            yield item
    except APIError as err:
        yield _sse(err.body())
    except Exception as err:  # noqa: BLE001 - reported to the client, the server goes on
        yield _sse(error_body(f"{type(err).__name__}: {err}", "server_error"))
