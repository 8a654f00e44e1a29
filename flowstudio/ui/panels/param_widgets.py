"""Which editor each param gets, read from the params model, and the number widgets the editors use.

`field_specs` turns a pydantic params model into `FieldSpec`s (label, kind, bounds, default, widget
hints): one declaration drives the form. `FloatSpinBox` and `IntSpinBox` accept values outside the
model's bounds on purpose: the bad text stays visible and the inspector shows why it is wrong,
instead of silently clamping what the user typed. The editors themselves are in `param_editors`.
"""

from __future__ import annotations

import enum
import json
import math
import re
import types
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox, QWidget

from flowstudio.core.node import param_widget

from .safe_inputs import WheelOnlyWhenFocused

INT32 = (-(2**31), 2**31 - 1)


# ------------------------------------------------------------------------------------------ the field


@dataclass
class FieldSpec:
    """What the form needs to know about one param, read from the pydantic model."""

    name: str
    label: str
    kind: str  # bool, int, float, choice, line, multiline, code, path, model, json
    description: str = ""
    default: Any = None
    required: bool = False
    nullable: bool = False
    options: list[Any] = field(default_factory=list)
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    hints: dict[str, Any] = field(default_factory=dict)

    def bounds_text(self) -> str:
        parts = []
        if self.ge is not None:
            parts.append(f"≥ {format_number(self.ge)}")
        if self.gt is not None:
            parts.append(f"> {format_number(self.gt)}")
        if self.le is not None:
            parts.append(f"≤ {format_number(self.le)}")
        if self.lt is not None:
            parts.append(f"< {format_number(self.lt)}")
        return ", ".join(parts)

    def tooltip(self) -> str:
        text = f"<b>{self.name}</b>"
        if self.description:
            text += f"<br>{self.description}"
        extra = []
        if self.bounds_text():
            extra.append(f"range: {self.bounds_text()}")
        if self.default is not None and self.default != "":
            extra.append(f"default: {json.dumps(self.default)}")
        if extra:
            text += "<br><i>" + "; ".join(extra) + "</i>"
        return text


ACRONYMS = {"kl": "KL", "ppo": "PPO", "lr": "LR", "lora": "LoRA", "dpo": "DPO", "grpo": "GRPO", "sft": "SFT",
            "qa": "QA", "id": "ID", "ids": "IDs", "gpu": "GPU", "cpu": "CPU", "json": "JSON", "url": "URL",
            "hf": "HF", "eos": "EOS", "bos": "BOS", "rlhf": "RLHF", "gguf": "GGUF", "csv": "CSV", "ai": "AI"}


UNITS = {"s": "(s)", "ms": "(ms)", "mb": "(MB)", "gb": "(GB)", "pct": "(%)"}


def humanize(name: str) -> str:
    """`lr_scheduler` -> "LR scheduler", `ppo_epochs` -> "PPO epochs", `timeout_s` -> "Timeout (s)"."""
    words = [ACRONYMS.get(w.lower(), w) for w in name.replace("_", " ").split()]
    if len(words) > 1 and words[-1].lower() in UNITS:
        words[-1] = UNITS[words[-1].lower()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(args) < len(get_args(annotation)):
            return args[0], True
    return annotation, False


def field_specs(model: type[BaseModel]) -> list[FieldSpec]:
    specs = []
    for name, info in model.model_fields.items():
        annotation, nullable = _strip_optional(info.annotation)
        hints = param_widget(model, name)
        default = None if info.default is PydanticUndefined else info.default
        if isinstance(default, enum.Enum):
            default = default.value
        spec = FieldSpec(name=name, label=humanize(name), kind="json", description=info.description or "",
                         default=default, required=info.is_required(), nullable=nullable, hints=hints)
        for meta in info.metadata:
            for bound in ("ge", "gt", "le", "lt"):
                if isinstance(meta, getattr(at, bound.capitalize())):
                    setattr(spec, bound, getattr(meta, bound))
        widget = hints.get("widget")
        if widget in ("path", "model", "multiline", "line", "code"):
            spec.kind = widget
        elif get_origin(annotation) is Literal:
            spec.kind, spec.options = "choice", list(get_args(annotation))
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            spec.kind, spec.options = "choice", [m.value for m in annotation]
        elif annotation is bool:
            spec.kind = "bool"
        elif annotation is int and not nullable:
            spec.kind = "int"
        elif annotation is float and not nullable:
            spec.kind = "float"
        elif annotation is str:
            spec.kind = "line"
        specs.append(spec)
    return specs


# ------------------------------------------------------------------------------------------- numbers


def format_number(value: float) -> str:
    """Short, exact-enough text: 2e-5 rather than 0.00002, 1000 rather than 1000.0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or (math.isfinite(value) and value == int(value) and abs(value) < 1e15):
        return str(int(value))
    text = f"{value:.10g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{'-' if m.group(1) == '-' else ''}{m.group(2)}", text)


_PARTIAL_NUMBER = re.compile(r"^[+-]?(\d*\.?\d*)?([eE][+-]?\d*)?$")


def _round_sig(value: float, digits: int = 12) -> float:
    return float(f"{value:.{digits}g}")


def _compact_hint(widget: QWidget, base: QSize, chars: int = 8) -> QSize:
    """Spin boxes size themselves for their whole (huge) range; a form needs far less."""
    width = widget.fontMetrics().horizontalAdvance("0" * chars) + widget.fontMetrics().height() * 2
    return QSize(min(base.width(), width), base.height())


class FloatSpinBox(WheelOnlyWhenFocused, QDoubleSpinBox):
    """A double spin box for any magnitude: scientific notation, steps by the leading digit.

    The Qt range is wide so typed values are kept; the model's bounds only limit the arrows.
    """

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setDecimals(300)  # Qt rounds values to `decimals`; keep tiny learning rates exact
        self.setRange(-1e300, 1e300)
        self.setAccelerated(True)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return _compact_hint(self, super().minimumSizeHint())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return _compact_hint(self, super().sizeHint(), 12)

    def validate(self, text: str, pos: int) -> QValidator.State:  # type: ignore[override]
        try:
            float(text)
            return QValidator.State.Acceptable
        except ValueError:
            return QValidator.State.Intermediate if _PARTIAL_NUMBER.match(text.strip()) else QValidator.State.Invalid

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        try:
            return float(text)
        except ValueError:
            return self.value()

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return format_number(value)

    def fixup(self, text: str) -> str:
        return format_number(self.value())

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt override
        value = self.value()
        for _ in range(abs(steps)):
            value = self._step_once(value, 1 if steps > 0 else -1)
        self.setValue(value)

    def _step_once(self, value: float, direction: int) -> float:
        if value == 0:
            step = 0.1 if self.spec.le is None or self.spec.le > 1 else 0.01
        else:
            step = 10 ** math.floor(math.log10(abs(value)))
            if direction < 0 < value and math.isclose(value, step):  # 1e-5 -> 9e-6, not 0
                step /= 10
            if direction > 0 > value and math.isclose(-value, step):
                step /= 10
        new = _round_sig(value + direction * step)
        s = self.spec
        if s.ge is not None and new < s.ge:
            new = float(s.ge)
        if s.le is not None and new > s.le:
            new = float(s.le)
        if (s.gt is not None and new <= s.gt) or (s.lt is not None and new >= s.lt):
            return value
        return new


class IntSpinBox(WheelOnlyWhenFocused, QSpinBox):
    """A spin box whose arrows respect the model's bounds while typed values are kept."""

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setRange(*INT32)
        self.setAccelerated(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return _compact_hint(self, super().minimumSizeHint())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return _compact_hint(self, super().sizeHint(), 12)

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt override
        low = self.spec.ge if self.spec.ge is not None else (
            math.floor(self.spec.gt) + 1 if self.spec.gt is not None else INT32[0])
        high = self.spec.le if self.spec.le is not None else (
            math.ceil(self.spec.lt) - 1 if self.spec.lt is not None else INT32[1])
        self.setValue(int(max(low, min(high, self.value() + steps))))
