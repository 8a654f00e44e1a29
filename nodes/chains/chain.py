"""Prompt chains: fill a template, generate with a local model, parse what came back."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources, TextField
from flowstudio.core.ports import Any as AnyValue
from flowstudio.core.ports import Messages, Model, Text
from flowstudio.core.problems import Problem

from . import templating as tmpl


class Prompt(Node):
    type = "chain.prompt"
    resources = Resources(isolated=True)  # flow data can make it slow or big: keep it killable
    title = "Prompt"
    category = "Chains"
    icon = "mdi6.text-box-edit-outline"
    description = ("A prompt template. Each `{{ name }}` in it becomes an input; the output is the filled text "
                   "and the same prompt as chat messages (with the system prompt, if any). Connect `history` "
                   "(e.g. a generate node's messages) to continue a conversation.")

    class Inputs(Ports):
        history = Port(Messages, "An earlier conversation to continue (the new user message is appended)",
                       optional=True)

    class Outputs(Ports):
        text = Port(Text, "The filled template (the system prompt first, when there is one)")
        messages = Port(Messages, "The prompt as chat messages: system (when set), the history, then user")

    class Params(NodeParams):
        template: str = TextField("{{ question }}", "The prompt; `{{ name }}` placeholders become input ports")
        system: str = TextField("", "An optional system prompt (may use placeholders too)")

    @classmethod
    def input_ports(cls, params: Mapping[str, Any] | None = None) -> tuple[Port, ...]:
        raw = dict(params or {})
        template = raw.get("template", cls.Params.model_fields["template"].default)
        system = raw.get("system", "")
        names = [n for n in tmpl.variables(str(system or ""), str(template or "")) if n != HISTORY]
        return (*cls.Inputs.all(),
                *(Port(AnyValue, f"Fills {{{{ {n} }}}} (text; numbers and JSON are written out)").named(n)
                  for n in names))

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, Prompt.Params)
        problems = []
        for field in ("system", "template"):
            for bad in tmpl.bad_placeholders(getattr(params, field)):
                problems.append(Problem("bad_placeholder", f"placeholder {{{{ {bad} }}}} is not a variable name",
                                        field=field, hint="use letters, digits and _ (e.g. {{ question }}); "
                                                          "write {{{{ for a literal {{"))
            if HISTORY in tmpl.variables(getattr(params, field)):
                problems.append(Problem("reserved_placeholder", f"{{{{ {HISTORY} }}}} is the conversation input, "
                                        "not a variable", field=field, hint="rename the variable"))
        if not params.template.strip():
            problems.append(Problem("empty_template", "the template is empty", field="template",
                                    hint="write the prompt, with {{ name }} where inputs go"))
        return problems

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        values = {name: inputs[name] for name in inputs if inputs[name] is not None and name != HISTORY}
        try:
            system = tmpl.render(params.system, values)
            user = tmpl.render(params.template, values)
        except KeyError as err:
            name = err.args[0]
            raise NodeRunError(f"variable {name!r} has no value", field=name,
                               hint=f"connect a text output to the '{name}' input") from None
        history = _history(inputs.get(HISTORY))
        if system.strip():  # this node's system prompt replaces one the history may carry
            history = [m for m in history if m["role"] != "system"]
        messages = ([{"role": "system", "content": system}] if system.strip() else []) + history
        messages.append({"role": "user", "content": user})
        text = f"{system}\n\n{user}" if system.strip() else user
        return {"text": text, "messages": messages}


HISTORY = "history"


def _history(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value):
        return [dict(m) for m in value]
    raise NodeRunError("history must be a list of {role, content} messages", field=HISTORY,
                       hint="connect the messages output of chain.generate, chain.prompt or agent.tools")


class Generate(Node):
    type = "chain.generate"
    title = "Generate"
    category = "Chains"
    icon = "mdi6.message-text-fast-outline"
    description = ("Generate text with a local causal language model from a prompt (text or chat messages, through "
                   "the model's chat template). Tokens stream as they come; the model stays loaded between runs.")
    resources = Resources(gpus=1, worker=True, memory_gb=2.0)

    class Inputs(Ports):
        model = Port(Model, "A model from model.load or a training node")
        prompt = Port(AnyValue, "Text (sent as a user message) or chat messages")

    class Outputs(Ports):
        text = Port(Text, "The generated reply")
        messages = Port(Messages, "The conversation with the reply appended")

    class Params(NodeParams):
        max_new_tokens: int = Field(256, ge=1, le=32_768, description="Most tokens to generate")
        temperature: float = Field(0.0, ge=0, le=5, description="0 = greedy (deterministic); higher = more varied")
        top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: keep the smallest set of tokens "
                                                          "with this much probability (sampling only)")
        top_k: int = Field(0, ge=0, le=10_000, description="Keep only the k most likely tokens (0 = off; sampling only)")
        repetition_penalty: float = Field(1.0, gt=0, le=10, description="Above 1 discourages repeating tokens")
        seed: int | None = Field(None, ge=0, description="Seed for sampling; without one, sampled results are not cached")
        stop: list[str] = Field(default_factory=list, description="Stop when one of these strings appears "
                                                                  "(it is not included in the reply)")
        use_chat_template: bool = Field(True, description="Wrap text prompts in the model's chat template")
        system: str = TextField("", "A system prompt added before text prompts (and before messages without one)")
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
            "auto", description="Weights precision; auto = the model's own setting (float32 on CPU)")

    @classmethod
    def is_cacheable(cls, params: NodeParams) -> bool:
        assert isinstance(params, Generate.Params)
        return params.temperature == 0 or params.seed is not None

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from flowstudio.nodes.hf.loading import torch_device

        from . import generation as gen

        loaded = load_for(ctx, inputs.model, params.dtype if params.dtype != "auto" else None)
        prompt = with_system(inputs.prompt, params.system)
        text, chat = gen.render_prompt(loaded.tokenizer, prompt, use_chat_template=params.use_chat_template)
        sampling = sampling_of(params)
        ctx.progress(0, params.max_new_tokens, "generating")
        result = gen.generate(loaded, text, sampling, chat=chat, on_text=ctx.stream, cancelled=ctx.cancelled)
        if result.stop_reason == "cancelled":
            from flowstudio.core.errors import RunCancelled

            raise RunCancelled(f"stopped after {result.new_tokens} tokens")
        ctx.progress(result.new_tokens, result.new_tokens, f"done ({result.stop_reason})")
        ctx.metric("new_tokens", result.new_tokens)
        ctx.metric("first_token_s", result.first_token_s)
        ctx.metric("tokens_per_s", result.tokens_per_s)
        ctx.log(f"{result.new_tokens} tokens in {result.seconds:.2f} s on {torch_device(ctx)} "
                f"(first token {result.first_token_s:.2f} s, {result.tokens_per_s:.1f} tokens/s, "
                f"stopped: {result.stop_reason})")
        messages = gen.as_messages(prompt) or [{"role": "user", "content": str(prompt)}]
        return {"text": result.text, "messages": [*messages, {"role": "assistant", "content": result.text}]}


def load_for(ctx: Any, model: Any, dtype: str | None) -> Any:
    """The warm model for a node, with a log line saying whether it was loaded or already warm."""
    import time

    from flowstudio.nodes.hf.loading import torch_device

    from . import generation as gen

    path, meta = gen.model_path(model)
    device = "cpu" if meta.get("device_map") == "cpu" else torch_device(ctx)
    loading: list[bool] = []
    started = time.perf_counter()
    loaded = gen.load_model(model, device=device, dtype=dtype, on_load=lambda: loading.append(True))
    ctx.log(f"model {path.name}: " + (f"loaded in {time.perf_counter() - started:.1f} s on {device}" if loading
                                      else "already loaded (warm)"))
    return loaded


def with_system(prompt: Any, system: str) -> Any:
    """Add a system prompt to text (as messages) or to messages that have none."""
    if not system.strip():
        return prompt
    if isinstance(prompt, str):
        return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    if isinstance(prompt, list) and not any(isinstance(m, dict) and m.get("role") == "system" for m in prompt):
        return [{"role": "system", "content": system}, *prompt]
    return prompt


def sampling_of(params: Any) -> Any:
    from .generation import Sampling

    return Sampling(max_new_tokens=params.max_new_tokens, temperature=params.temperature, top_p=params.top_p,
                    top_k=params.top_k, repetition_penalty=params.repetition_penalty, seed=params.seed,
                    stop=tuple(params.stop))


class Parse(Node):
    type = "chain.parse"
    resources = Resources(isolated=True)  # flow data can make it slow or big: keep it killable
    title = "Parse"
    category = "Chains"
    icon = "mdi6.code-json"
    description = "Pull a value out of text: the first JSON object or array, a regex group, or a fenced code block."

    class Inputs(Ports):
        text = Port(Text, "The text to parse (e.g. a model's reply)")

    class Outputs(Ports):
        value = Port(AnyValue, "What was extracted (parsed JSON, a string, or a list with all_matches)")
        text = Port(Text, "The same as text (JSON is written back out)")

    class Params(NodeParams):
        mode: Literal["json", "regex", "code"] = Field("json", description="What to extract")
        pattern: str = Field("", description="regex: the pattern (Python syntax)")
        group: str = Field("", description="regex: group number or name (default: the first group, "
                                            "or the whole match when the pattern has none)")
        all_matches: bool = Field(False, description="regex: every match as a list instead of the first")
        ignore_case: bool = Field(False, description="regex: case-insensitive matching")
        multiline: bool = Field(True, description="regex: ^ and $ match at every line")
        dotall: bool = Field(False, description="regex: . also matches newlines")
        json_kind: Literal["any", "object", "array"] = Field("any", description="json: what to look for")
        json_path: str = Field("", description="json: a dotted path to one field, e.g. answer or items.0.name")
        language: str = Field("", description="code: only blocks in this language (e.g. python); empty = any")
        block: int = Field(0, description="code: which matching block (0 = first, -1 = last)")
        strip: bool = Field(True, description="Trim surrounding whitespace from extracted text")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        assert isinstance(params, Parse.Params)
        if params.mode != "regex":
            return []
        if not params.pattern:
            return [Problem("missing_pattern", "regex mode needs a pattern", field="pattern",
                            hint=r"e.g. Answer:\s*(.+)")]
        from .parsing import compile_regex
        from .safe_regex import error as regex_error

        try:
            regex = compile_regex(params.pattern, params.ignore_case, params.multiline, params.dotall)
        except (re.error, regex_error) as err:
            return [Problem("bad_pattern", f"the pattern is not a valid regular expression: {err}", field="pattern",
                            hint="check brackets and escapes (Python `re` syntax)")]
        group = params.group
        if group and ((group.isdigit() and int(group) > regex.groups)
                      or (not group.isdigit() and group not in regex.groupindex)):
            return [Problem("bad_group", f"the pattern has no group {group!r}", field="group",
                            hint=f"it has {regex.groups} group(s)" + (f": {', '.join(regex.groupindex)}"
                                                                        if regex.groupindex else ""))]
        return []

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from . import parsing as cp
        from .generation import dump_json

        text = inputs.text if isinstance(inputs.text, str) else json.dumps(inputs.text, ensure_ascii=False)
        field = {"json": "json_kind", "regex": "pattern", "code": "language"}[params.mode]
        try:
            if params.mode == "json":
                value = cp.extract_json(text, params.json_kind)
                if params.json_path:
                    field = "json_path"
                    value = cp.select_path(value, params.json_path)
            elif params.mode == "regex":
                regex = cp.compile_regex(params.pattern, params.ignore_case, params.multiline, params.dotall)
                value = cp.extract_regex(text, regex, params.group, params.all_matches)
            else:
                value = cp.extract_code(text, params.language, params.block)
        except cp.ParseError as err:
            raise NodeRunError(str(err), field=field, hint=_HINTS[params.mode]) from None
        if params.strip:
            value = value.strip() if isinstance(value, str) else (
                [v.strip() if isinstance(v, str) else v for v in value] if isinstance(value, list) else value)
        out_text = value if isinstance(value, str) else dump_json(value)
        return {"value": value, "text": out_text}


_HINTS = {
    "json": "ask the model for JSON explicitly (e.g. 'Reply with a JSON object only'), or parse with a regex",
    "regex": "check the pattern against the text (shown above); the run log has the full text",
    "code": "ask the model to answer in a ``` code block, or clear `language`",
}
