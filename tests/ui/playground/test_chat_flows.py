"""The playground offers the knowledge-base chat flow and serves a flow file as a flow, not as a model."""

from __future__ import annotations

from flowstudio.core.flow import load_flow
from flowstudio.ui.playground.server import ModelServer
from flowstudio.ui.playground.sources import chat_flows, is_flow_source


def test_the_knowledge_base_flow_is_offered_and_served_with_flow(qapp):
    flows = chat_flows()
    assert [f.source.rsplit("/", 1)[-1] for f in flows] == ["chat_with_docs.flow.json"]
    flow = load_flow(flows[0].source)
    assert {n.type for n in flow.nodes} >= {"index.retrieve", "knowledge.cite"}
    args = ModelServer(flows[0].source).arguments()
    assert args[args.index("--flow") + 1].endswith("=" + flows[0].source) and "--model" not in args
    model_args = ModelServer("builtin:tiny-llama").arguments()
    assert "--model" in model_args and "--flow" not in model_args
    assert is_flow_source("x/y.flow.json") and not is_flow_source("/models/my.flow")
