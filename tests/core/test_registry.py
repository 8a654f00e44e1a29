"""The registry: built-ins via the entry point, plugins, legacy ids, broken plugins reported."""

from __future__ import annotations

import pytest
from pydantic import Field

from flowstudio.core.errors import UnknownNodeTypeError
from flowstudio.core.node import Node, NodeParams, Port, Ports
from flowstudio.core.ports import Number
from flowstudio.core.registry import NodeRegistry, default_registry
from tests import stubs
from tests.stubs import Add, Echo, stub_registry


def test_builtin_library_is_loaded_through_the_entry_point():
    registry = default_registry()
    assert "io.text" in registry and "io.output" in registry
    assert registry.plugin_errors == []
    for cls in registry:
        assert cls.__module__.startswith("flowstudio.nodes."), cls


def test_legacy_ids_resolve():
    registry = stub_registry()
    assert registry.get("stub.old_echo") is Echo
    assert registry.resolve_id("stub.old_echo") == "stub.echo"


def test_unknown_type():
    with pytest.raises(UnknownNodeTypeError, match="not installed"):
        stub_registry().get("nope")


def test_duplicate_ids_from_different_classes_are_refused():
    class Clash(Node):
        type = "stub.add"

    with pytest.raises(ValueError, match="declared twice"):
        NodeRegistry([Add, Clash])


def test_add_from_module_callable_and_iterable():
    registry = NodeRegistry()
    registry.add_from(stubs)
    assert "stub.train" in registry
    other = NodeRegistry()
    other.add_from(lambda: [Add])
    other.add_from([Echo])
    assert {c.type for c in other} == {"stub.add", "stub.echo"}


def test_a_broken_plugin_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch):
    from importlib.metadata import EntryPoint

    broken = EntryPoint(name="broken", value="no_such_module_xyz:nodes", group="flowstudio.nodes")
    monkeypatch.setattr("flowstudio.core.registry.entry_points", lambda group: [broken])
    registry = NodeRegistry()
    registry.load_entry_points()
    assert len(registry.plugin_errors) == 1 and "no_such_module_xyz" in registry.plugin_errors[0].message


def test_node_declaration_describes_itself():
    class Scale(Node):
        type = "test.scale"
        title = "Scale"
        category = "Math"

        class Inputs(Ports):
            x = Port(Number, "input")
            y = Port(Number, optional=True)

        class Outputs(Ports):
            out = Port(Number)

        class Params(NodeParams):
            factor: float = Field(2.0, gt=0, le=10, description="Multiplier")

    info = Scale.describe()
    assert [(p["name"], p["type"], p["optional"]) for p in info["inputs"]] == [("x", "Number", False), ("y", "Number", True)]
    assert info["params"]["properties"]["factor"]["description"] == "Multiplier"
    assert info["params"]["properties"]["factor"]["exclusiveMinimum"] == 0
    assert Scale.default_params() == {"factor": 2.0}


def test_port_values_read_by_attribute_even_when_named_like_a_mapping_method():
    from flowstudio.core.node import PortValues

    inputs = PortValues({"values": [1, 2], "model": "m"})
    assert inputs.values == [1, 2] and inputs.model == "m" and inputs["values"] == [1, 2]
    assert inputs.get("model") == "m" and inputs.get("lora") is None
    assert dict(inputs) == {"values": [1, 2], "model": "m"}
    with pytest.raises(AttributeError, match="no input port named 'lora'"):
        _ = inputs.lora


def test_a_lazy_registry_loads_on_first_use_only():
    from flowstudio.core.registry import NodeRegistry

    calls = []
    registry = NodeRegistry(loader=lambda r: calls.append(r.register(Node_for_test())))
    assert not registry.loaded and (registry or None) is registry and not calls  # truthy without loading
    assert "test.lazy" in registry and registry.loaded and len(calls) == 1
    assert len(registry) == 1 and len(calls) == 1  # loaded once
    assert NodeRegistry()  # an empty registry is still a registry: `registry or default` keeps it


def test_the_core_exports_every_name_it_lists():
    import flowstudio.core as core

    assert sorted(core.__all__) == sorted(core._WHERE)
    assert all(getattr(core, name) is not None for name in core.__all__)


def Node_for_test():  # noqa: N802 - a class factory
    from flowstudio.core.node import Node

    return type("Lazy", (Node,), {"type": "test.lazy", "title": "Lazy", "__module__": __name__})
