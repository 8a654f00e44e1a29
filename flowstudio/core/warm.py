"""Objects kept warm in a long-lived worker process between runs (loaded models, tokenizers).

A node asks `get_or_load(key, loader)`; in a worker that the engine keeps alive, the second run of
a chain finds the model already loaded. The key must name everything the object depends on (path,
dtype, device, file fingerprint).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_LOCK = threading.Lock()
_OBJECTS: OrderedDict[Hashable, Any] = OrderedDict()
MAX_OBJECTS = 4


def get_or_load(key: Hashable, loader: Callable[[], T]) -> T:
    with _LOCK:
        if key in _OBJECTS:
            _OBJECTS.move_to_end(key)
            return _OBJECTS[key]
    value = loader()
    with _LOCK:
        _OBJECTS[key] = value
        while len(_OBJECTS) > MAX_OBJECTS:
            _OBJECTS.popitem(last=False)
    return value


def is_warm(key: Hashable) -> bool:
    with _LOCK:
        return key in _OBJECTS


def clear() -> None:
    with _LOCK:
        _OBJECTS.clear()
