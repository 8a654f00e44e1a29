"""Prompt chains and agents: `chain.prompt`, `chain.generate`, `chain.parse`, `agent.tools`, with
Jinja templating (`templating`), local generation (`generation`), parsing (`parsing`) and the
agent"s tool-call loop (`agent_loop`)."""

NODE_MODULES: tuple[str, ...] = ("chain", "agent")
