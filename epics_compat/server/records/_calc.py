"""A small evaluator for the arithmetic of calc-like record expressions.

Variables are the letters A..P (any case); numbers, + - * / and ^ or ** (power),
parentheses, comparisons, and the functions ABS, SQRT, EXP, LN, LOG, SIN, COS, TAN,
MIN, MAX, FLOOR, CEIL. Anything else is refused (CalcError), nothing is ``eval``ed.
"""
from __future__ import annotations

import ast
import math
import operator
from typing import Callable, Mapping

_BINARY: dict[type, Callable] = {ast.Add: operator.add, ast.Sub: operator.sub,
                                 ast.Mult: operator.mul, ast.Div: operator.truediv,
                                 ast.Pow: operator.pow, ast.Mod: operator.mod}
_COMPARE: dict[type, Callable] = {ast.Lt: operator.lt, ast.LtE: operator.le,
                                  ast.Gt: operator.gt, ast.GtE: operator.ge,
                                  ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCTIONS: dict[str, Callable] = {"ABS": abs, "SQRT": math.sqrt, "EXP": math.exp,
                                   "LN": math.log, "LOG": math.log10, "SIN": math.sin,
                                   "COS": math.cos, "TAN": math.tan, "MIN": min, "MAX": max,
                                   "FLOOR": math.floor, "CEIL": math.ceil}
LETTERS = "ABCDEFGHIJKLMNOP"


class CalcError(ValueError):
    """The expression is not one this evaluator understands."""


def compile_calc(expression: str) -> ast.expr:
    """The parsed expression (CalcError if it is not valid)."""
    text = expression.strip().replace("^", "**").replace("!=", "#").replace("=", "==") \
        .replace("<==", "<=").replace(">==", ">=").replace("#", "!=")
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise CalcError(f"invalid expression {expression!r}: {exc.msg}") from None
    _check(tree, expression)
    return tree


def _check(node: ast.AST, expression: str) -> None:
    allowed = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.Name, ast.Constant,
               ast.USub, ast.UAdd, ast.Load, *_BINARY, *_COMPARE)
    for child in ast.walk(node):
        if not isinstance(child, allowed):
            raise CalcError(f"invalid expression {expression!r}: "
                            f"{type(child).__name__} is not supported")
        if isinstance(child, ast.Name) and child.id.upper() not in LETTERS \
                and child.id.upper() not in _FUNCTIONS:
            raise CalcError(f"invalid expression {expression!r}: unknown name {child.id!r}")
        if isinstance(child, ast.Constant) and not isinstance(child.value, (int, float)):
            raise CalcError(f"invalid expression {expression!r}: {child.value!r} is not a "
                            f"number")
        if isinstance(child, ast.Call) and not (isinstance(child.func, ast.Name)
                                                and child.func.id.upper() in _FUNCTIONS):
            raise CalcError(f"invalid expression {expression!r}: unknown function")


def evaluate(tree: ast.expr, variables: Mapping[str, float]) -> float:
    """The value of a compiled expression with ``variables`` (letter -> number)."""
    if isinstance(tree, ast.Constant) and isinstance(tree.value, (int, float)):
        return float(tree.value)
    if isinstance(tree, ast.Name):
        return float(variables.get(tree.id.upper(), 0.0))
    if isinstance(tree, ast.UnaryOp):
        value = evaluate(tree.operand, variables)
        return -value if isinstance(tree.op, ast.USub) else value
    if isinstance(tree, ast.BinOp):
        return float(_BINARY[type(tree.op)](evaluate(tree.left, variables),
                                            evaluate(tree.right, variables)))
    if isinstance(tree, ast.Compare):
        left = evaluate(tree.left, variables)
        for op, right_node in zip(tree.ops, tree.comparators):
            right = evaluate(right_node, variables)
            if not _COMPARE[type(op)](left, right):
                return 0.0
            left = right
        return 1.0
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name):
        function = _FUNCTIONS[tree.func.id.upper()]
        return float(function(*(evaluate(arg, variables) for arg in tree.args)))
    raise CalcError(f"cannot evaluate {ast.dump(tree)}")


def calc(expression: str, variables: Mapping[str, float]) -> float:
    """Compile and evaluate at once."""
    return evaluate(compile_calc(expression), variables)
