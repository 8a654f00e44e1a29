"""Exact arithmetic from text by walking Python's AST (never `eval`).

Numbers are kept exact as `Fraction`s while only + - * / // % and integer powers are involved
(`0.1 + 0.2` is exactly `0.3`); irrational functions (sqrt of a non-square, sin, log, ...) switch
to floats. Errors are `CalcError`s that name the offending token and its column.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

Number = Fraction | float

MAX_DIGITS = 10_000  # results with more digits than this are refused (guards `9**9**9`)
MAX_FACTORIAL = 2_000
MAX_LENGTH = 2_000  # characters of input

_REPLACEMENTS = {"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "^": "**", "√": "sqrt", "π": "pi"}


class CalcError(ValueError):
    """An expression that cannot be computed; the message names the token and where it is."""


@dataclass(frozen=True)
class CalcResult:
    value: Number
    text: str  # the result as the user reads it: "84", "3.5", "1/3 ≈ 0.3333333333333333"

    @property
    def exact(self) -> bool:
        return isinstance(self.value, Fraction)

    def as_float(self) -> float:
        return float(self.value)


def _sqrt(x: Number) -> Number:
    if isinstance(x, Fraction) and x >= 0:
        num, den = math.isqrt(x.numerator), math.isqrt(x.denominator)
        if num * num == x.numerator and den * den == x.denominator:
            return Fraction(num, den)
    if x < 0:
        raise CalcError("sqrt of a negative number")
    return math.sqrt(x)


def _int_arg(name: str, x: Number) -> int:
    if isinstance(x, Fraction) and x.denominator == 1:
        return int(x)
    if isinstance(x, float) and x.is_integer():
        return int(x)
    raise CalcError(f"{name}() needs a whole number, got {format_number(x)}")


def _factorial(x: Number) -> Number:
    n = _int_arg("factorial", x)
    if n < 0:
        raise CalcError("factorial() of a negative number")
    if n > MAX_FACTORIAL:
        raise CalcError(f"factorial({n}) is too large (at most {MAX_FACTORIAL})")
    return Fraction(math.factorial(n))


def _log(x: Number, base: Number | None = None) -> Number:
    if x <= 0:
        raise CalcError("log of a number that is not positive")
    if base is None:
        return math.log(x)
    if base <= 0 or base == 1:
        raise CalcError("log base must be positive and not 1")
    # exact for powers of the base: log(8, 2) = 3
    if isinstance(x, Fraction) and isinstance(base, Fraction) and x.denominator == base.denominator == 1:
        k, acc = 0, Fraction(1)
        while acc < x and k < 10_000:
            acc *= base
            k += 1
        if acc == x:
            return Fraction(k)
    return math.log(x) / math.log(base)


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return Fraction(round(x))
    n = _int_arg("round", ndigits)
    if abs(n) > MAX_DIGITS:  # round(x, n) builds 10**n first
        raise CalcError(f"round() to {n} digits is too many (at most {MAX_DIGITS})")
    return round(x, n) if isinstance(x, Fraction) else round(x, n)


def _digits_of_ratio(top: int, *bottom: int) -> float:
    """log10(top! / (b1! * b2! * ...)) from lgamma, without computing anything big."""
    value = math.lgamma(top + 1) - sum(math.lgamma(b + 1) for b in bottom)
    return value / math.log(10)


def _comb(n_value: Number, k_value: Number) -> Number:
    """comb(n, k), refused before computing when the result would exceed MAX_DIGITS digits
    (math.comb(10**9, 5*10**8) holds the GIL for minutes and cannot be interrupted)."""
    n, k = _int_arg("comb", n_value), _int_arg("comb", k_value)
    if n < 0 or k < 0:
        raise CalcError("comb() needs non-negative whole numbers")
    if k > n:
        return Fraction(0)
    digits = _digits_of_ratio(n, k, n - k)
    if digits > MAX_DIGITS:
        raise CalcError(f"comb({n}, {k}) is too large (about {digits:.0f} digits, at most {MAX_DIGITS})")
    return Fraction(math.comb(n, k))


def _perm(n_value: Number, k_value: Number | None = None) -> Number:
    n = _int_arg("perm", n_value)
    k = n if k_value is None else _int_arg("perm", k_value)
    if n < 0 or k < 0:
        raise CalcError("perm() needs non-negative whole numbers")
    if k > n:
        return Fraction(0)
    digits = _digits_of_ratio(n, n - k)
    if digits > MAX_DIGITS:
        raise CalcError(f"perm({n}, {k}) is too large (about {digits:.0f} digits, at most {MAX_DIGITS})")
    return Fraction(math.perm(n, k))


def _lcm(*values: Number) -> Number:
    ints = [_int_arg("lcm", v) for v in values]
    if sum(abs(i).bit_length() for i in ints) > MAX_DIGITS * 3.33:  # lcm ≤ the product
        raise CalcError(f"lcm() of these numbers may be too large (more than {MAX_DIGITS} digits)")
    return Fraction(math.lcm(*ints))


def _float_fn(fn: Callable[..., float]) -> Callable[..., Number]:
    def call(*args: Number) -> Number:
        return fn(*(float(a) for a in args))

    return call


def _int_fn(name: str, fn: Callable[..., int]) -> Callable[..., Number]:
    def call(*args: Number) -> Number:
        return Fraction(fn(*(_int_arg(name, a) for a in args)))

    return call


FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": _sqrt,
    "abs": abs,
    "round": _round,
    "floor": lambda x: Fraction(math.floor(x)),
    "ceil": lambda x: Fraction(math.ceil(x)),
    "trunc": lambda x: Fraction(math.trunc(x)),
    "exp": _float_fn(math.exp),
    "ln": lambda x: _log(x),
    "log": _log,
    "log10": lambda x: _log(x, Fraction(10)),
    "log2": lambda x: _log(x, Fraction(2)),
    "sin": _float_fn(math.sin),
    "cos": _float_fn(math.cos),
    "tan": _float_fn(math.tan),
    "asin": _float_fn(math.asin),
    "acos": _float_fn(math.acos),
    "atan": _float_fn(math.atan),
    "atan2": _float_fn(math.atan2),
    "sinh": _float_fn(math.sinh),
    "cosh": _float_fn(math.cosh),
    "tanh": _float_fn(math.tanh),
    "degrees": _float_fn(math.degrees),
    "radians": _float_fn(math.radians),
    "hypot": _float_fn(math.hypot),
    "factorial": _factorial,
    "gcd": _int_fn("gcd", math.gcd),
    "lcm": _lcm,
    "comb": _comb,
    "perm": _perm,
    "min": min,
    "max": max,
}

CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def format_number(value: Number) -> str:
    """Integers as integers, terminating fractions as exact decimals, others with an approximation."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den == 1:  # terminating decimal: print it exactly
        sign = "-" if value < 0 else ""
        num, den = abs(value.numerator), value.denominator
        whole, rest = divmod(num, den)
        digits = []
        while rest:
            rest *= 10
            d, rest = divmod(rest, den)
            digits.append(str(d))
        return f"{sign}{whole}." + "".join(digits)
    return f"{value.numerator}/{value.denominator} ≈ {float(value)!r}"


def normalize(expression: str) -> str:
    text = expression.strip()
    for old, new in _REPLACEMENTS.items():
        text = text.replace(old, new)
    text = re.sub(r"(?<=\d)_(?=\d)", "", text)
    return text.rstrip("=").strip()


def evaluate(expression: str) -> CalcResult:
    """Compute `expression` exactly where possible. Raises CalcError with the offending token."""
    if len(expression) > MAX_LENGTH:
        raise CalcError(f"the expression is too long ({len(expression)} characters, at most {MAX_LENGTH})")
    source = normalize(expression)
    if not source:
        raise CalcError("the expression is empty")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        if "never closed" in (err.msg or ""):
            raise CalcError(f"'(' at column {err.offset} is never closed in {source!r}") from None
        col = (err.offset or 0) - 1
        if col < 0:
            raise CalcError(f"the expression {source!r} ends too early (a number or ')' is missing)") from None
        token = _token_at(source, col)
        raise CalcError(f"unexpected {token!r} at column {col + 1} in {source!r}") from None
    value = _Walker(source).visit(tree.body)
    if isinstance(value, float) and not math.isfinite(value):
        raise CalcError("the result is not a finite number")
    return CalcResult(value, format_number(value))


def _token_at(source: str, col: int) -> str:
    if col >= len(source):
        return "end of expression"
    match = re.match(r"\d+(\.\d*)?|\w+|\*\*|//|\S", source[col:])
    return match.group(0) if match else source[col]


def _check_size(value: Number, op: str) -> Number:
    if isinstance(value, Fraction):
        for part in (value.numerator, value.denominator):
            if part and part.bit_length() > MAX_DIGITS * 3.33:
                raise CalcError(f"the result of {op!r} is too large (more than {MAX_DIGITS} digits)")
    elif not math.isfinite(value):
        raise CalcError(f"the result of {op!r} overflows")
    return value


class _Walker:
    def __init__(self, source: str) -> None:
        self.source = source

    def token(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or type(node).__name__

    def where(self, node: ast.AST) -> str:
        return f"at column {getattr(node, 'col_offset', 0) + 1}"

    def visit(self, node: ast.AST) -> Number:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            hint = " (it is a function: call it with parentheses)" if node.id in FUNCTIONS else ""
            raise CalcError(f"unknown name {node.id!r} {self.where(node)}{hint}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            value = self.visit(node.operand)
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise CalcError(f"unsupported {self.token(node)!r} {self.where(node)}: only numbers, + - * / // % **, "
                        "parentheses and math functions are allowed")

    def constant(self, node: ast.Constant) -> Number:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalcError(f"unsupported {self.token(node)!r} {self.where(node)}: not a number")
        literal = self.token(node).replace("_", "")
        try:
            return Fraction(literal)
        except (ValueError, ZeroDivisionError):
            return Fraction(node.value) if isinstance(node.value, int) else node.value

    def binop(self, node: ast.BinOp) -> Number:
        symbols = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
                   ast.Pow: "**"}
        symbol = symbols.get(type(node.op))
        if symbol is None:
            gap = self.source[node.left.end_col_offset or 0:node.right.col_offset].strip(" ()")
            raise CalcError(f"unsupported operator {gap or type(node.op).__name__!r} in {self.token(node)!r} "
                            f"{self.where(node)}")
        left, right = self.visit(node.left), self.visit(node.right)
        try:
            if symbol == "+":
                result = left + right
            elif symbol == "-":
                result = left - right
            elif symbol == "*":
                result = left * right
            elif symbol in ("/", "//", "%"):
                if right == 0:
                    raise CalcError(f"division by zero in {self.token(node)!r} {self.where(node)}")
                result = left / right if symbol == "/" else (left // right if symbol == "//" else left % right)
                if symbol == "//":
                    result = Fraction(result) if isinstance(result, int) else result
            else:
                result = self.power(left, right, node)
        except OverflowError:
            raise CalcError(f"the result of {self.token(node)!r} overflows") from None
        return _check_size(result, self.token(node))

    def power(self, base: Number, exponent: Number, node: ast.AST) -> Number:
        if isinstance(base, Fraction) and isinstance(exponent, Fraction) and exponent.denominator == 1:
            exp = exponent.numerator
            if base == 0 and exp < 0:
                raise CalcError(f"division by zero in {self.token(node)!r} {self.where(node)}")
            if base not in (0, 1, -1):
                size = abs(exp) * max(math.log10(abs(base.numerator) or 1), math.log10(base.denominator))
                if size > MAX_DIGITS:
                    raise CalcError(f"{self.token(node)!r} is too large (about {size:.0f} digits, at most {MAX_DIGITS})")
            return base**exp
        if base < 0:
            raise CalcError(f"{self.token(node)!r}: a negative number to a fractional power is not a real number")
        if float(exponent) * math.log10(max(float(base), 1e-300)) > 308:
            raise CalcError(f"{self.token(node)!r} is too large")
        return float(base) ** float(exponent)

    def call(self, node: ast.Call) -> Number:
        if isinstance(node.func, ast.Attribute):
            raise CalcError(f"unsupported {'.' + node.func.attr!r} {self.where(node.func)}: only plain functions "
                            "such as sqrt(x) are allowed")
        if not isinstance(node.func, ast.Name):
            raise CalcError(f"unexpected '(' after {self.token(node.func)!r} {self.where(node)} "
                            "(write '*' to multiply)")
        name = node.func.id
        fn = FUNCTIONS.get(name)
        if fn is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise CalcError(f"unknown function {name!r} {self.where(node)} (known: {known})")
        if node.keywords:
            raise CalcError(f"{name}() takes no keyword arguments {self.where(node)}")
        args = [self.visit(arg) for arg in node.args]
        try:
            result = fn(*args)
        except CalcError as err:
            raise CalcError(f"{err} in {self.token(node)!r} {self.where(node)}") from None
        except (TypeError, ValueError) as err:
            raise CalcError(f"{self.token(node)!r} {self.where(node)}: {err}") from None
        except (OverflowError, ZeroDivisionError):
            raise CalcError(f"{self.token(node)!r} {self.where(node)}: the result is out of range") from None
        if isinstance(result, int):
            result = Fraction(result)
        return _check_size(result, self.token(node))
