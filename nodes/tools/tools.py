"""Tools: each computes on its text input when used on its own, and offers itself to an agent as a Tool value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import Node, NodeParams, Port, Ports, Resources, TextField
from flowstudio.core.ports import Number, Text, Tool
from flowstudio.core.problems import Problem

from . import kinds

_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$"


class Calculator(Node):
    type = "tool.calculator"
    resources = Resources(isolated=True)  # flow data can make it slow or big: keep it killable
    title = "Calculator"
    category = "Tools"
    icon = "mdi6.calculator-variant-outline"
    description = ("Exact arithmetic: + - × ÷ ** % //, parentheses, sqrt, log, sin, factorial, pi, e ... "
                   "Computes its input expression, and offers itself as a tool to an agent.")

    class Inputs(Ports):
        expression = Port(Text, "An expression such as 12 * (3 + 4); leave unconnected when only an agent uses it",
                          optional=True)

    class Outputs(Ports):
        result = Port(Text, "The result as text: exact where possible (0.1 + 0.2 = 0.3, 1/3 stays a fraction)")
        value = Port(Number, "The result as a number")
        tool = Port(Tool, "This calculator as a tool for agent.tools")

    class Params(NodeParams):
        name: str = Field("calculator", pattern=_NAME_PATTERN, description="The tool's name as the model sees it")
        description: str = TextField("Evaluate an arithmetic expression exactly (+ - * / ** %, parentheses, sqrt, "
                                     "log, sin, cos, factorial, pi, e). Use it for any arithmetic.",
                                     "What the model is told the tool does")

    def spec(self, params: Params) -> dict[str, Any]:
        return kinds.make_spec("calculator", params.name, params.description, kinds.CALCULATOR_PARAMETERS)

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from .calculator import CalcError, evaluate

        out: dict[str, Any] = {"tool": self.spec(params), "result": None, "value": None}
        if inputs.get("expression") is None:
            return out
        try:
            result = evaluate(str(inputs.expression))
        except CalcError as err:
            raise NodeRunError(str(err), field="expression",
                               hint="numbers, + - * / ** % //, parentheses and functions such as sqrt(2)") from None
        ctx.log(f"{inputs.expression} = {result.text}")
        out.update(result=result.text, value=result.as_float())
        return out


class Python(Node):
    type = "tool.python"
    title = "Python"
    category = "Tools"
    icon = "mdi6.language-python"
    description = ("Runs a Python snippet in a separate process with time, memory and output limits, in a scratch "
                   "directory, without our environment variables. Offers itself to an agent as a code tool. "
                   "Flows with this node run only with the user's consent (`flowstudio run --allow-code`).")
    runs_user_code = True
    cacheable = False

    class Inputs(Ports):
        code = Port(Text, "Code to run instead of the code param (e.g. a code block parsed from a model's reply)",
                    optional=True)
        stdin = Port(Text, "Text fed to the snippet's standard input", optional=True)

    class Outputs(Ports):
        stdout = Port(Text, "What the snippet printed")
        stderr = Port(Text, "Its error output")
        exit_code = Port(Number, "Its exit status (0 = success)")
        tool = Port(Tool, "A Python tool for agent.tools (the model writes the code)")

    class Params(NodeParams):
        code: str = TextField("", "The snippet run by this node (empty: only run code from the input, "
                                  "or only serve as an agent tool)", code=True)
        timeout_s: float = Field(10.0, gt=0, le=3600, description="Wall-time limit in seconds")
        memory_mb: int = Field(1024, ge=64, le=65_536, description="Address-space limit in MB")
        max_output_chars: int = Field(20_000, ge=100, le=10_000_000, description="stdout and stderr are cut here")
        fail_on_error: bool = Field(True, description="Fail the node when the snippet exits with a non-zero status "
                                                      "(otherwise return its status and output)")
        name: str = Field("python", pattern=_NAME_PATTERN, description="The tool's name as the model sees it")
        description: str = TextField("Run a Python script and get what it prints (stdout). Use print() to show "
                                     "results.", "What the model is told the tool does")

    @classmethod
    def check(cls, params: NodeParams, flow_dir: Path | None) -> list[Problem]:
        return []  # the code is never compiled or run while validating

    def limits(self, params: Params) -> Any:
        from .sandbox import SandboxLimits

        return SandboxLimits(params.timeout_s, params.memory_mb, params.max_output_chars)

    def spec(self, params: Params) -> dict[str, Any]:
        config = {"timeout_s": params.timeout_s, "memory_mb": params.memory_mb,
                  "max_output_chars": params.max_output_chars}
        return kinds.make_spec("python", params.name, params.description, kinds.PYTHON_PARAMETERS, config)

    def run(self, ctx: Any, inputs: Any, params: Params) -> dict[str, Any]:
        from .sandbox import SandboxUnavailable, run_python

        code = inputs.get("code")
        code = params.code if code is None else str(code)
        out: dict[str, Any] = {"tool": self.spec(params), "stdout": None, "stderr": None, "exit_code": None}
        if not code.strip():
            ctx.log("no code to run: serving as a tool only")
            return out
        limits = self.limits(params)
        try:
            result = run_python(code, limits, stdin=str(inputs.get("stdin") or ""),
                                scratch=Path(ctx.work_dir) / "scratch")
        except SandboxUnavailable as err:
            raise NodeRunError(str(err), field="code", hint="run this flow on Linux or macOS") from None
        ctx.log(f"exit status {result.exit_code} after {result.seconds:.2f} s")
        if result.stderr:
            ctx.log("stderr:\n" + result.stderr)
        problem = result.problem(limits)
        if result.timed_out:
            raise NodeRunError(problem or "timed out", field="timeout_s", hint="raise timeout_s, or make the code faster")
        if result.out_of_memory:
            raise NodeRunError(problem or "out of memory", field="memory_mb",
                               hint="raise memory_mb, or make the code use less memory")
        if problem and params.fail_on_error:
            raise NodeRunError(problem, field="code", hint="fix the code (its full error output is in the node log), "
                                                           "or turn off fail_on_error to return the status")
        return {**out, "stdout": result.stdout, "stderr": result.stderr, "exit_code": result.exit_code}
