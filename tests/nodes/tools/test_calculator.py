"""tool.calculator: exact arithmetic by AST walk, precedence, functions, errors that name the token."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from flowstudio.nodes.tools.calculator import CalcError, evaluate
from flowstudio.nodes.tools.tools import Calculator
from hypothesis import given
from hypothesis import strategies as st

from flowstudio.core.errors import NodeRunError
from flowstudio.core.node import PortValues


@pytest.mark.parametrize(("expression", "expected"), [
    ("2 + 3 * 4", "14"),
    ("(2 + 3) * 4", "20"),
    ("2 ** 3 ** 2", "512"),  # right-associative
    ("-2 ** 2", "-4"),  # ** binds tighter than unary minus
    ("2 ^ 10", "1024"),  # ^ is power, as on a calculator
    ("10 - 4 - 3", "3"),  # left-associative
    ("100 / 10 / 5", "2"),
    ("7 // 2", "3"),
    ("-7 // 2", "-4"),
    ("7 % 3", "1"),
    ("12 × (3 + 4) ÷ 2", "42"),
    ("5 − 8", "-3"),
    ("0.1 + 0.2", "0.3"),  # exact, not 0.30000000000000004
    ("1 / 3", "1/3 ≈ 0.3333333333333333"),
    ("1/3 + 1/6", "0.5"),
    ("1e3 + 1", "1001"),
    ("1_000 * 3", "3000"),
    ("2 ** -2", "0.25"),
    ("3 * 4 =", "12"),
])
def test_precedence_and_exactness(expression: str, expected: str) -> None:
    assert evaluate(expression).text == expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("sqrt(16)", "4"),
    ("sqrt(9/4)", "1.5"),
    ("abs(-3.5)", "3.5"),
    ("factorial(20)", "2432902008176640000"),
    ("log(8, 2)", "3"),
    ("log10(1000)", "3"),
    ("floor(-2.5) + ceil(2.1)", "0"),
    ("round(2.675, 2)", "2.68"),  # exact decimal input, so no float surprise
    ("max(3, 9, 4) - min(3, 9, 4)", "6"),
    ("gcd(12, 18) * lcm(4, 6)", "72"),
    ("comb(5, 2)", "10"),
])
def test_functions(expression: str, expected: str) -> None:
    assert evaluate(expression).text == expected


def test_irrational_functions_and_constants_are_floats() -> None:
    assert evaluate("sqrt(2)").value == pytest.approx(math.sqrt(2))
    assert evaluate("sin(pi / 6)").value == pytest.approx(0.5)
    assert evaluate("e ** 2").value == pytest.approx(math.e**2)
    assert evaluate("ln(e)").value == pytest.approx(1.0)
    assert not evaluate("pi").exact
    assert evaluate("2/4").value == Fraction(1, 2)


@pytest.mark.parametrize(("expression", "fragment"), [
    ("2 +", "ends too early"),
    ("(2 + 3", "never closed"),
    ("2 $ 3", "'$'"),
    ("2 & 3", "'&'"),
    ("foo(2)", "unknown function 'foo'"),
    ("x + 1", "unknown name 'x'"),
    ("sqrt", "unknown name 'sqrt' at column 1 (it is a function"),
    ("1 / 0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("2(3)", "write '*' to multiply"),
    ("'a' + 1", "not a number"),
    ("[1, 2]", "unsupported"),
    ("__import__('os').system('true')", "unsupported '.system'"),
    ("__import__('os')", "unknown function '__import__'"),
    ("(1).__class__", "unsupported"),
    ("factorial(3.5)", "whole number"),
    ("factorial(100000)", "too large"),
    ("sqrt(-1)", "negative"),
    ("(-8) ** 0.5", "not a real number"),
    ("9 ** 9 ** 9", "too large"),
    ("10 ** 100000", "too large"),
    ("10 ** 400.5", "too large"),
    ("", "empty"),
    ("1 if 1 else 2", "unsupported"),
])
def test_errors_name_the_offending_token(expression: str, fragment: str) -> None:
    with pytest.raises(CalcError) as err:
        evaluate(expression)
    assert fragment in str(err.value)


def test_huge_power_is_refused_quickly() -> None:
    import time

    started = time.perf_counter()
    with pytest.raises(CalcError):
        evaluate("(10 ** 5000) ** 5000")
    assert time.perf_counter() - started < 1.0


@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.integers(1, 10**4))
def test_integer_arithmetic_matches_python(a: int, b: int, c: int) -> None:
    assert evaluate(f"({a}) + ({b}) * ({c})").value == a + b * c
    assert evaluate(f"({a}) // ({c})").value == a // c
    assert evaluate(f"({a}) % ({c})").value == a % c
    assert evaluate(f"({a}) / ({c})").value == Fraction(a, c)


def test_node_computes_its_input_and_offers_a_tool(make_ctx) -> None:
    out = Calculator().run(make_ctx(), PortValues({"expression": "12 * (3 + 4)"}), Calculator.Params())
    assert out["result"] == "84" and out["value"] == 84.0
    assert out["tool"]["kind"] == "calculator" and out["tool"]["name"] == "calculator"
    assert out["tool"]["parameters"]["required"] == ["expression"]


def test_node_without_input_only_serves_as_a_tool(make_ctx) -> None:
    out = Calculator().run(make_ctx(), PortValues({"expression": None}), Calculator.Params(name="calc"))
    assert out["result"] is None and out["tool"]["name"] == "calc"


def test_node_error_names_the_field(make_ctx) -> None:
    with pytest.raises(NodeRunError) as err:
        Calculator().run(make_ctx(), PortValues({"expression": "2 +* 3"}), Calculator.Params())
    assert err.value.field == "expression" and "'*'" in str(err.value)


@pytest.mark.parametrize("expression", ["comb(10**9, 5*10**8)", "perm(10**7, 10**6)", "round(1/3, 10**9)",
                                        "lcm(" + ", ".join(["9" * 3000] * 12) + ")"])
def test_huge_combinatorics_are_refused_before_computing(expression: str) -> None:
    """In a subprocess with a deadline: math.comb(10**9, 5*10**8) holds the GIL for minutes, so a hang
    could not even be interrupted in this process. The limit is checked before anything big is built."""
    import subprocess
    import sys

    code = ("from flowstudio.nodes.tools.calculator import evaluate, CalcError\n"
            f"try:\n    evaluate({expression!r})\nexcept CalcError as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.startswith("refused:") and "too" in out.stdout, out.stdout + out.stderr


def test_combinatorics_within_the_limit_are_exact() -> None:
    assert evaluate("comb(52, 5)").value == 2598960
    assert evaluate("perm(5, 2)").value == 20 and evaluate("perm(4)").value == 24
    assert evaluate("comb(5, 7)").value == 0 and evaluate("lcm(4, 6, 10)").value == 60
    assert evaluate("round(2/3, 3)").value == Fraction(667, 1000)
