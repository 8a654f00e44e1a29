"""Write `flow.py`: constants at the top, one function per node in topological order, argparse, `main()`.

Everything taken from the flow file reaches the script in one of two forms only: a Python literal made
by `repr` of a validated JSON value (params, port names), or text in a comment/docstring with every
character that could end it escaped (names, titles, descriptions). Node ids become identifiers made of
`[a-z0-9_]` only. So a flow file cannot put code into its export.
"""

from __future__ import annotations

import keyword
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

RESERVED = {"main", "parse_args", "apply_overrides", "rt", "args", "argv", "path", "argparse", "runtime", "here",
            "any", "annotations", "required_paths", "sys"}


class Code(str):
    """A Python expression written by the exporter itself (never from the flow file)."""


@dataclass
class PathOption:
    param: str
    option: str  # command-line option, e.g. "--data-source"
    kind: str  # "model source" or "path"


@dataclass
class ScriptNode:
    id: str
    type: str
    title: str
    cls_name: str
    module: str  # the module inside the export that declares the class
    fn: str
    const: str
    params: dict[str, Any]  # name -> JSON value or Code
    inputs: list[tuple[str, bool, list[tuple[str, str]]]]  # (port, multiple, [(source node id, port)])
    paths: list[PathOption] = field(default_factory=list)
    seed_param: bool = False
    max_steps_param: bool = False
    learning_rate_param: bool = False


def identifier(text: str, taken: set[str], suffix: str = "") -> str:
    """A lower-case Python identifier from untrusted text, unique among `taken` (which it joins)."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "node"
    if name[0].isdigit():
        name = "n_" + name
    if keyword.iskeyword(name) or name in RESERVED or keyword.issoftkeyword(name):
        name += "_node"
    name += suffix
    base, i = name, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def doc_text(text: str) -> str:
    """Untrusted text made safe inside a triple-quoted docstring: printable, no backslash or quote left."""
    text = "".join(c if c == "\n" or (c.isprintable() and c not in "\x85\u2028\u2029") else " " for c in str(text))
    return text.replace("\\", "\\\\").replace('"', "'")


def comment_text(text: str) -> str:
    """Untrusted text for a one-line comment."""
    return " ".join(doc_text(text).split())


def literal(value: Any, indent: int = 4) -> str:
    if isinstance(value, Code):
        return str(value)
    return repr(value)


def _wrap(text: str, width: int = 100, prefix: str = "") -> list[str]:
    out: list[str] = []
    for para in text.split("\n"):
        out += textwrap.wrap(para, width, initial_indent=prefix, subsequent_indent=prefix, break_on_hyphens=False) or [prefix.rstrip()]
    return out


# -------------------------------------------------------------------------------------------- pieces


def node_constants(node: ScriptNode) -> list[str]:
    lines = [f"# {node.id} ({node.type}): {comment_text(node.title)}" if node.title != node.id
             else f"# {node.id} ({node.type})"]
    if not node.params:
        lines.append(f"{node.const} = {{}}  # the node's defaults")
        return lines
    lines.append(f"{node.const} = {{")
    lines += [f"    {name!r}: {literal(value)}," for name, value in node.params.items()]
    lines.append("}")
    return lines


def _arg_names(node: ScriptNode) -> list[tuple[str, str, bool, list[tuple[str, str]]]]:
    """(port, Python parameter name, multiple, sources) of each connected input, in port order."""
    taken: set[str] = {"rt"}
    return [(port, identifier(port, taken), multiple, sources) for port, multiple, sources in node.inputs if sources]


def node_function(node: ScriptNode, description: str) -> list[str]:
    args = ["rt: Runtime"]
    mapping: list[str] = []
    for port, name, _multiple, _sources in _arg_names(node):
        args.append(f"{name}: Any")
        mapping.append(f"{port!r}: {name}")
    head = f"def {node.fn}({', '.join(args)}) -> dict[str, Any]:"
    if len(head) > 108:
        head = f"def {node.fn}(\n    " + ",\n    ".join(args) + ",\n) -> dict[str, Any]:"
    doc = _wrap(doc_text(f"{node.title} ({node.type}). {description}".strip()), 96)
    lines = [head, '    """' + doc[0].lstrip()] + [("    " + d.lstrip()) if d else "" for d in doc[1:]]
    if len(doc) == 1:
        lines[-1] += '"""'
    else:
        lines.append('    """')
    call = f"rt.run({node.cls_name}, {node.id!r}, {node.const}"
    if mapping:
        inputs = "{" + ", ".join(mapping) + "}"
        one = f"    return {call}, {inputs})"
        if len(one) <= 108:
            lines.append(one)
        else:
            lines.append(f"    return {call}, {{")
            lines += [f"        {m}," for m in mapping]
            lines.append("    })")
    else:
        lines.append(f"    return {call})")
    return lines


def _call(node: ScriptNode, outs: dict[str, str], target: str) -> list[str]:
    """`target = fn(rt, ...)` in main(): positional when it fits a line, else one keyword argument a line."""
    parts = []
    for _port, name, multiple, sources in _arg_names(node):
        refs = [f"{outs[src]}[{sport!r}]" for src, sport in sources]
        parts.append((name, "[" + ", ".join(refs) + "]" if multiple else refs[0]))
    head = f"    {target}{node.fn}("
    one = head + ", ".join(["rt", *(value for _, value in parts)]) + ")"
    if len(one) <= 108:
        return [one]
    return [head, "        rt,", *(f"        {name}={value}," for name, value in parts), "    )"]


def _options(nodes: list[ScriptNode]) -> list[str]:
    lines = [
        "def parse_args(argv: list[str] | None = None) -> argparse.Namespace:",
        '    parser = argparse.ArgumentParser(description=__doc__.split("\\n")[0])',
        '    parser.add_argument("--output-dir", type=Path, default=HERE / "outputs",',
        '                        help="where each node writes its files and metrics.json (default: ./outputs)")',
        '    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",',
        '                        help="auto: a GPU for the training nodes when torch sees one")',
        '    parser.add_argument("--resume", action="store_true",',
        '                        help="continue training from the checkpoints of an earlier run in --output-dir")',
    ]
    seeds = [n.id for n in nodes if n.seed_param]
    steps = [n.id for n in nodes if n.max_steps_param]
    rates = [n.id for n in nodes if n.learning_rate_param]
    if seeds:
        lines.append(f'    parser.add_argument("--seed", type=int, help="seed of {_listing(seeds)}")')
    if steps:
        lines.append(f'    parser.add_argument("--max-steps", type=int, help="max_steps of {_listing(steps)}")')
    if rates:
        lines.append(f'    parser.add_argument("--learning-rate", type=float, help="learning_rate of {_listing(rates)}")')
    for node in nodes:
        for opt in node.paths:
            lines.append(f'    parser.add_argument({opt.option!r}, help={f"{opt.kind} of {node.id} ({opt.param})"!r})')
    lines.append("    return parser.parse_args(argv)")
    return lines


def _listing(ids: list[str]) -> str:
    text = ", ".join(ids)
    return text if len(text) < 60 else text[:57] + "..."


def _overrides(nodes: list[ScriptNode]) -> list[str]:
    lines = ["def apply_overrides(args: argparse.Namespace) -> None:",
             '    """The command-line options replace the constants above."""']
    body: list[str] = []
    for node in nodes:
        for flag, param in ((node.seed_param, "seed"), (node.max_steps_param, "max_steps"),
                            (node.learning_rate_param, "learning_rate")):
            if flag:
                body += [f"    if args.{param} is not None:", f"        {node.const}[{param!r}] = args.{param}"]
        for opt in node.paths:
            dest = opt.option[2:].replace("-", "_")
            body += [f"    if args.{dest} is not None:", f"        {node.const}[{opt.param!r}] = args.{dest}"]
    return lines + (body or ["    return"])


def _required(nodes: list[ScriptNode]) -> list[str]:
    lines = ["def required_paths() -> dict[str, str]:",
             '    """The files and model directories the flow reads, by what they are and the option that moves them."""',
             "    return {"]
    for node in nodes:
        for opt in node.paths:
            lines.append(f"        {f'{node.id}.{opt.param} ({opt.option})'!r}: {node.const}.get({opt.param!r}, ''),")
    lines.append("    }")
    return lines


def write_script(name: str, description: str, nodes: list[ScriptNode], descriptions: dict[str, str],
                 notes: list[str]) -> str:
    """The text of flow.py."""
    doc = [f"{doc_text(name) or 'Flow'}: exported from FlowStudio.", ""]
    if description:
        doc += _wrap(doc_text(description), 100) + [""]
    doc += ["Run it:", "    python flow.py [--output-dir DIR] [--seed N] ...",
            "    accelerate launch --config_file accelerate/ddp.yaml flow.py",
            "", "Nodes, in the order they run:"]
    doc += [f"    {n.id} ({n.type})" for n in nodes]
    doc += ["", "The node code is in flowlib/ (copied from FlowStudio; no FlowStudio install is needed)."]
    doc += [f"Note: {doc_text(x)}" for x in notes]
    out = ['"""' + doc[0]] + doc[1:] + ['"""', "", "from __future__ import annotations", "",
                                        "import argparse", "from pathlib import Path", "from typing import Any", ""]
    imports: dict[str, set[str]] = {}
    for node in nodes:
        imports.setdefault(node.module, set()).add(node.cls_name)
    for module in sorted(imports):
        out.append(f"from {module} import {', '.join(sorted(imports[module]))}")
    out += ["", "from flowlib.runtime import Runtime", "", 'HERE = Path(__file__).resolve().parent', "", ""]
    out.append("# ----------------------------------------------------------------- params (the flow's values)")
    out.append("")
    for node in nodes:
        out += node_constants(node) + [""]
    out += ["", "# ----------------------------------------------------------------- one function per node", ""]
    for node in nodes:
        out += ["", *node_function(node, descriptions.get(node.type, "")), ""]
    out += ["", *_options(nodes), "", "", *_overrides(nodes), "", "", *_required(nodes), "", ""]
    out += ["def main(argv: list[str] | None = None) -> int:",
            "    args = parse_args(argv)",
            "    apply_overrides(args)",
            "    Runtime.require_paths(required_paths())",
            "    rt = Runtime(args.output_dir, flow_dir=HERE, device=args.device, resume=args.resume)"]
    outs: dict[str, str] = {}
    used = {src for n in nodes for _, _, sources in n.inputs for src, _ in sources}
    for node in nodes:
        target = ""
        if node.id in used:
            outs[node.id] = f"{node.fn}_out"
            target = f"{outs[node.id]} = "
        out += _call(node, outs, target)
    out += ["    rt.finish()", "    return 0", "", "", 'if __name__ == "__main__":', "    raise SystemExit(main())", ""]
    return "\n".join(out)
