"""The import graph of `flowstudio` and the node library points one way, and packages keep their privates.

Every import counts: module level, inside functions, and under `if TYPE_CHECKING:` (a type-only import
is still an arrow a reader has to follow). A cycle is reported with the modules in it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ((ROOT / "flowstudio", "flowstudio"), (ROOT / "nodes", "flowstudio.nodes"))
MAX_LINES = 500


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module = field(repr=False)

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


def library_modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for base, prefix in SOURCES:
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join([prefix, *parts])
            found[name] = Module(name, path, is_package, ast.parse(path.read_text(encoding="utf-8")))
    return found


@dataclass(frozen=True)
class Imported:
    module: str  # the library module the statement reaches
    name: str | None  # the name taken from it (`from module import name`), None for a module import
    alias: str  # what the importer calls it
    line: int


def imports_of(module: Module, modules: dict[str, Module]) -> list[Imported]:
    """Every import statement of `module` that reaches a library module, resolved to that module."""

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    out: list[Imported] = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = owner(alias.name)
                if target:
                    out.append(Imported(target, None, alias.asname or alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                as_module = f"{source}.{alias.name}"
                if as_module in modules:
                    out.append(Imported(as_module, None, alias.asname or alias.name, node.lineno))
                elif (target := owner(source)) is not None:
                    out.append(Imported(target, alias.name, alias.asname or alias.name, node.lineno))
    return out


def import_graph(modules: dict[str, Module]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, module in modules.items():
        for imp in imports_of(module, modules):
            if imp.module != name:
                graph.add_edge(name, imp.module)
    return graph


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def private_reaches(modules: dict[str, Module]) -> list[str]:
    """`from x import _name`, `import x._mod` or `alias._name` on an imported module, where x lives in
    another package than the importer."""
    found: list[str] = []
    for module in modules.values():
        module_aliases: dict[str, str] = {}
        for imp in imports_of(module, modules):
            other = modules[imp.module]
            if imp.name is None:
                module_aliases[imp.alias.split(".")[0] if "." in imp.alias else imp.alias] = imp.module
            foreign = other.package != module.package and imp.module != module.package
            leaf = imp.name if imp.name is not None else imp.module.rpartition(".")[2]
            if foreign and leaf.startswith("_") and not leaf.startswith("__"):
                found.append(f"{_shown(module.path)}:{imp.line} imports {imp.module}:{leaf}")
        for node in ast.walk(module.tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in module_aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                target = modules[module_aliases[node.value.id]]
                if target.package != module.package:
                    found.append(f"{_shown(module.path)}:{node.lineno} uses {target.name}.{node.attr}")
    return found


def test_the_library_has_no_import_cycle():
    found = cycles(import_graph(library_modules()))
    assert found == [], "import cycles (each line: modules that import each other):\n" + "\n".join(map(str, found))


def test_no_module_reaches_into_another_packages_private_names():
    found = private_reaches(library_modules())
    assert found == [], "\n".join(found)


def test_no_library_module_is_over_the_size_limit():
    long = {_shown(m.path): n for m in library_modules().values()
            if (n := len(m.path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines (split them by concern): {long}"


# ------------------------------------------------------------------------------- the checker itself


def _fake(tmp: Path, files: dict[str, str]) -> dict[str, Module]:
    modules = {}
    for rel, text in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        parts = list(Path(rel).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = Module(name, path, is_package, ast.parse(text))
    return modules


def test_the_checker_sees_type_only_and_function_level_cycles(tmp_path: Path):
    modules = _fake(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
        "pkg/b.py": "def f():\n    from . import a\n",
        "pkg/c.py": "from .a import x\n",
    })
    assert cycles(import_graph(modules)) == [["pkg.a", "pkg.b"]]


def test_the_checker_sees_private_names_across_packages_only(tmp_path: Path):
    modules = _fake(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/one/__init__.py": "",
        "pkg/one/a.py": "_secret = 1\ndef _helper(): pass\n",
        "pkg/one/same.py": "from .a import _secret\n",
        "pkg/two/__init__.py": "",
        "pkg/two/b.py": "from pkg.one.a import _secret\nfrom pkg.one import a\na._helper()\n",
    })
    found = private_reaches(modules)
    assert len(found) == 2 and all("pkg/two/b.py" in f for f in found), found
