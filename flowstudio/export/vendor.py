"""Copy exactly the FlowStudio modules an exported flow needs into a package of its own (`flowlib/`).

The closure starts at the modules that declare the flow's node types (and the script runtime) and follows
every import statement (module level, inside functions, type-only), so the script runs the very code the
engine runs. `flowstudio.` becomes `flowlib.` in the copies; the two package `__init__`s that would pull in
the rest of FlowStudio (`flowstudio`, `flowstudio.core`) are replaced by a docstring. A node-library package
comes whole (its modules and data folders such as `configs/`), since its modules may name each other in
strings (`python -m flowstudio.nodes.training.launch.entry`). Nothing is imported
or executed to find the closure: sources are located with `importlib.util.find_spec` and read with `ast`.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from flowstudio.core.errors import FlowStudioError

PACKAGE = "flowlib"
RUNTIME = "flowstudio.export.runtime"
STUB_PACKAGES = {
    "flowstudio": "The FlowStudio code this exported flow runs (vendored; no FlowStudio install needed).",
    "flowstudio.core": "The node contract and the helpers the vendored nodes use (from flowstudio.core).",
}
VENDORED_ROOTS = ("flowstudio.core", "flowstudio.nodes")

# import name -> distribution name, where they differ and `packages_distributions` cannot tell
KNOWN_DISTRIBUTIONS = {"yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn", "jinja2": "jinja2"}


class VendorError(FlowStudioError):
    """A module cannot be copied into the export (it is not part of FlowStudio's own library)."""


@dataclass
class Vendored:
    files: dict[str, str] = field(default_factory=dict)  # relative path under the export dir -> text
    modules: list[str] = field(default_factory=list)  # the flowstudio modules copied, sorted
    third_party: set[str] = field(default_factory=set)  # top-level import names outside the stdlib


def target_name(module: str) -> str:
    """The name of a FlowStudio module inside the export."""
    if module == RUNTIME:
        return f"{PACKAGE}.runtime"
    return PACKAGE + module[len("flowstudio"):]


def _source(module: str) -> tuple[Path, bool]:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise VendorError(f"module {module} has no Python source to copy")
    return Path(spec.origin), spec.submodule_search_locations is not None


def _imports(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import statement in the tree."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.append((source, [alias.name for alias in node.names]))
    return found


@functools.lru_cache(maxsize=4096)
def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _allowed(module: str) -> bool:
    return module == RUNTIME or any(module == r or module.startswith(r + ".") for r in VENDORED_ROOTS)


def rewrite(text: str) -> str:
    """`flowstudio.X` -> `flowlib.X` in a copied module (imports, and dotted names in strings)."""
    text = re.sub(r"\bflowstudio\.export\.runtime\b", f"{PACKAGE}.runtime", text)
    text = re.sub(r"^(\s*)import flowstudio$", rf"\1import {PACKAGE}", text, flags=re.M)
    text = re.sub(r"^(\s*)from flowstudio import\b", rf"\1from {PACKAGE} import", text, flags=re.M)
    return re.sub(r"\bflowstudio\.(?=[A-Za-z_])", f"{PACKAGE}.", text)


def _path_of(module: str, is_package: bool) -> str:
    parts = target_name(module).split(".")
    return "/".join(parts) + ("/__init__.py" if is_package else ".py")


@functools.lru_cache(maxsize=512)
def _parsed(module: str, path: Path, mtime_ns: int) -> tuple[str, bool, tuple[tuple[str, tuple[str, ...]], ...]]:
    """A module's text and its imports (cached by file and modification time: the app previews often)."""
    text = path.read_text(encoding="utf-8")
    _, is_package = _source(module)
    found = _imports(ast.parse(text, filename=str(path)), module, is_package)
    return text, is_package, tuple((source, tuple(names)) for source, names in found)


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return dict(packages_distributions())


def _package_contents(package: str, folder: Path) -> tuple[list[str], dict[str, str]]:
    """A node-library package's own modules, and the text files of its data folders (no subpackages)."""
    modules = [f"{package}.{p.stem}" for p in sorted(folder.glob("*.py")) if p.stem != "__init__"]
    data: dict[str, str] = {}
    base = _path_of(package, True).rpartition("/")[0]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not (p / "__init__.py").exists()
                      and p.name != "__pycache__"):
        for file in sorted(sub.rglob("*")):
            if file.is_file() and not file.is_symlink() and file.suffix not in (".pyc", ".pyo"):
                try:
                    data[f"{base}/{file.relative_to(folder).as_posix()}"] = file.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
    return modules, data


def vendor(start: list[str]) -> Vendored:
    """The copies of `start` and of every FlowStudio module they import, transitively."""
    out = Vendored()
    todo = list(dict.fromkeys(start))
    seen: set[str] = set()
    stdlib = set(sys.stdlib_module_names)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        if module in STUB_PACKAGES:
            out.files[_path_of(module, True)] = f'"""{STUB_PACKAGES[module]}"""\n'
            continue
        if not _allowed(module):
            raise VendorError(f"module {module} is not part of FlowStudio's own library, so it cannot be copied "
                              "into the export")
        path, _ = _source(module)
        text, is_package, imports = _parsed(module, path, path.stat().st_mtime_ns)
        out.files[_path_of(module, is_package)] = rewrite(text)
        if is_package and module.startswith("flowstudio.nodes."):
            siblings, data = _package_contents(module, path.parent)
            todo += siblings
            out.files.update(data)
        # every parent package runs when the module is imported
        parent = module.rpartition(".")[0]
        if parent and module != RUNTIME:
            todo.append(parent)
        for source, names in imports:
            top = source.split(".")[0]
            if top != "flowstudio":
                if top and top not in stdlib and top != "__future__":
                    out.third_party.add(top)
                continue
            if source in STUB_PACKAGES and source != "flowstudio" and names:
                subs = [n for n in names if _is_module(f"{source}.{n}")]
                if len(subs) != len(names):
                    raise VendorError(f"{module} imports names from the {source} package itself; import them "
                                      "from their modules so the export can copy only those")
            targets = [f"{source}.{n}" for n in names if _is_module(f"{source}.{n}")]
            todo += targets or [source]
            if source not in targets:
                todo.append(source)
    out.files[f"{PACKAGE}/__init__.py"] = f'"""{STUB_PACKAGES["flowstudio"]}"""\n'
    out.modules = sorted(seen)
    return out


def requirements(third_party: set[str]) -> list[str]:
    """`name>=installed version` for each third-party import (the distributions installed here)."""
    from importlib.metadata import PackageNotFoundError, version

    by_import = _distributions()
    lines: dict[str, str] = {}
    for name in sorted(third_party):
        dists = by_import.get(name) or [KNOWN_DISTRIBUTIONS.get(name, name)]
        dist = dists[0]
        try:
            lines[dist.lower()] = f"{dist.lower()}>={version(dist).split('+')[0]}"
        except PackageNotFoundError:
            lines[dist.lower()] = dist.lower()
    return [lines[k] for k in sorted(lines)]
