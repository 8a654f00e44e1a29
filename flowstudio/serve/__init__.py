"""`flowstudio serve`: an OpenAI-compatible HTTP API over local models and flows, in its own process.

Modules, one job each:

- `errors`: `APIError` and the OpenAI-shaped error body (`{"error": {"message", "type", "code", "param"}}`).
- `schemas`: the request bodies (pydantic) and their sampling settings.
- `auth`: the optional `Authorization: Bearer KEY` check and the request-size limit (ASGI middleware).
- `backends`: what a served name answers with: a transformers model (`HFBackend`) or a flow (`flows.FlowBackend`).
- `tool_calls`: OpenAI tools in and out of a chat template (native or JSON fallback) and reading calls back.
- `pool`: `ModelPool`: the served names, each with one FIFO worker thread (models load once, stay loaded).
- `flows`: `FlowBackend`: a flow with an `io.text` input and an `io.output` run through the engine.
- `routes`, `app`: the endpoints and the FastAPI app; `server`: running it with uvicorn (CLI or a thread).

FastAPI, uvicorn, torch and transformers are imported only inside these modules' functions or by the
modules themselves, never by `flowstudio.cli` at parser-build time.
"""
