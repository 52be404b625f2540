"""Schedules: a number that changes over time ``t`` (a render's step, or an animation's frame).

Two forms, as Disco Diffusion and Deforum write them: keyframes ``"0: (1.0), 40: (0.2)"`` (linear between
keys, held flat before the first and after the last), or an expression of ``t`` such as
``"1 + 0.01*sin(t/5)"``. Expressions are read with ``ast`` and evaluated over an allow-list of names and
functions, never with ``eval``: a file or a command line can give a schedule, and nothing from either may
run code (see ``pixforge.trust``).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError

#: the functions an expression may call
FUNCTIONS: dict[str, Callable[..., float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "abs": abs, "min": min, "max": max,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "floor": math.floor, "ceil": math.ceil,
}
#: the constants an expression may name, besides ``t``
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
ALLOWED = ", ".join([*sorted(FUNCTIONS), *sorted(CONSTANTS), "t"])

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_KEYFRAME = re.compile(r"\s*([-+]?\d+(?:\.\d*)?)\s*:\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)\s*")
#: a number too large to be a sensible weight or step, so ``9**9**9`` fails fast instead of hanging
_LIMIT = 1e12


class Schedule:
    """A number as a function of ``t``."""

    text: str

    def __call__(self, t: float) -> float:
        raise NotImplementedError

    @property
    def is_constant(self) -> bool:
        return False


@dataclass(frozen=True)
class Constant(Schedule):
    value: float
    text: str = ""

    def __call__(self, t: float) -> float:
        return self.value

    @property
    def is_constant(self) -> bool:
        return True


@dataclass(frozen=True)
class Expression(Schedule):
    """A parsed, checked expression of ``t``."""

    text: str
    tree: ast.expr
    #: the setting it belongs to, for errors
    what: str = "schedule"

    def __call__(self, t: float) -> float:
        try:
            value = _evaluate(self.tree, t)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise ConfigError(f"{self.what}: '{self.text}' cannot be evaluated at t={t:g} ({exc})") from None
        if not math.isfinite(value):
            raise ConfigError(f"{self.what}: '{self.text}' gives {value} at t={t:g}")
        return float(value)


@dataclass(frozen=True)
class Keyframes(Schedule):
    """Keys at times ``times`` with schedules (numbers or expressions) ``values``, linear in between."""

    text: str
    times: tuple[float, ...]
    values: tuple[Schedule, ...]

    def __call__(self, t: float) -> float:
        if t <= self.times[0]:
            return self.values[0](t)
        if t >= self.times[-1]:
            return self.values[-1](t)
        i = bisect_right(self.times, t) - 1
        t0, t1 = self.times[i], self.times[i + 1]
        a, b = self.values[i](t), self.values[i + 1](t)
        return a + (b - a) * (t - t0) / (t1 - t0)


def parse_schedule(value: float | int | str | Schedule, what: str = "schedule") -> Schedule:
    """A number, keyframes ``"0: (1.0), 40: (0.2)"`` or an expression of ``t`` → a Schedule.

    ``what`` names the setting in the error (``animation.zoom``, ``prompt 'a cat'``): a bad schedule is
    one ConfigError line that names it and says what is allowed.
    """
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool):
        raise ConfigError(f"{what}: {value!r} is not a number or schedule")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ConfigError(f"{what}: {value} is not a finite number")
        return Constant(float(value), str(value))
    if not isinstance(value, str):
        raise ConfigError(f"{what}: {value!r} is not a number or schedule (e.g. 1.0, '0: (1.0), 40: (0.2)', '1 + 0.1*sin(t)')")
    text = value.strip()
    if not text:
        raise ConfigError(f"{what}: empty schedule (give a number, '0: (1.0), 40: (0.2)' or an expression of t)")
    if _KEYFRAME.match(text) and ":" in text:
        return _keyframes(text, what)
    return _expression(text, text, what)


def _keyframes(text: str, what: str) -> Keyframes:
    times: list[float] = []
    values: list[Schedule] = []
    for part in _split_keys(text):
        match = _KEYFRAME.fullmatch(part)
        if match is None:
            raise ConfigError(f"{what}: keyframe '{part.strip()}' in '{text}' must look like '10: (0.5)'")
        time = float(match.group(1))
        if times and time <= times[-1]:
            raise ConfigError(f"{what}: keyframe times in '{text}' must increase ({time:g} after {times[-1]:g})")
        times.append(time)
        values.append(_expression(match.group(2).strip(), text, what))
    return Keyframes(text, tuple(times), tuple(values))


def _split_keys(text: str) -> list[str]:
    """``"0: (1), 5: (max(1, t))"`` → the keys, split on commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()] or [text]


def _expression(source: str, whole: str, what: str) -> Schedule:
    """Parse and check one expression; numbers become Constants."""
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError:
        raise ConfigError(f"{what}: '{whole}' is not a number, keyframes '0: (1.0), 40: (0.2)' or an expression of t") from None
    _check(tree, whole, what)
    if not any(isinstance(node, ast.Name) and node.id == "t" for node in ast.walk(tree)):
        return Constant(Expression(whole, tree, what)(0.0), whole)
    return Expression(whole, tree, what)


def _check(node: ast.AST, whole: str, what: str) -> None:
    """Refuse anything but numbers, ``t``, allowed constants, arithmetic and calls of allowed functions."""
    bad = None
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
            bad = f"the literal {node.value!r}"
    elif isinstance(node, ast.Name):
        if node.id != "t" and node.id not in CONSTANTS:
            bad = f"the name '{node.id}'" + (" (a function: call it)" if node.id in FUNCTIONS else "")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            bad = f"the operator {type(node.op).__name__}"
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            bad = f"the operator {type(node.op).__name__}"
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            bad = f"the call of '{name}'"
        elif node.keywords:
            bad = "keyword arguments"
        else:
            for arg in node.args:
                _check(arg, whole, what)
            return
    elif isinstance(node, ast.Attribute):
        bad = f"attribute access '{ast.unparse(node)}'"
    else:
        bad = f"'{ast.unparse(node)}'"
    if bad is not None:
        raise ConfigError(f"{what}: expression '{whole}' may not use {bad}; allowed: numbers, + - * / // % **, {ALLOWED}")
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.operator, ast.unaryop, ast.expr_context)):
            _check(child, whole, what)


def _evaluate(node: ast.expr, t: float) -> float:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, (int, float))  # _check let only numbers through
        return float(node.value)
    if isinstance(node, ast.Name):
        return t if node.id == "t" else CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, t))
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, t), _evaluate(node.right, t)
        if isinstance(node.op, ast.Pow) and abs(right) > 64 and abs(left) > 1:
            raise ValueError("power too large")
        value = _BINARY[type(node.op)](left, right)
        if isinstance(value, complex) or abs(value) > _LIMIT:
            raise ValueError("result out of range")
        return float(value)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return float(FUNCTIONS[node.func.id](*(_evaluate(arg, t) for arg in node.args)))
    raise ValueError(f"unsupported {type(node).__name__}")
