"""The JSON edges of the solver: strict JSON in, the spec's answer JSON out (CLI and HTTP)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from problems.errors import SpecError
from problems.pooling import pool2d
from problems.solver import solve
from problems.spec import parse_pool, parse_stack

MAX_BODY_BYTES = 64 * 1024 * 1024


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_KEY = 40  # characters of a key shown in a path or a message; longer ones are cut


def line_problem(text: str) -> str | None:
    """Why `text` is not one line of text (a name, a title, a category), or None: a control
    character (a NUL among them, which PostgreSQL's text cannot even hold, and most of
    which XML cannot hold, so an LMS would refuse a whole export), or a lone UTF-16
    surrogate (no character at all: it cannot be written as UTF-8)."""
    for char in text:
        code = ord(char)
        if code < 32 or code == 127:
            return f"must be one line of text, without control characters (found U+{code:04X})"
        if 0xD800 <= code <= 0xDFFF:
            return f"holds a lone UTF-16 surrogate (U+{code:04X}), which is not a character"
    return None


def _shown_key(key: str) -> str:
    return key if len(key) <= _SHOWN_KEY else key[:_SHOWN_KEY - 3] + "..."


def join_path(parts: Iterable[str | int]) -> str:
    """The spec's path notation: `("layers", 3, "kernel")` is `layers[3].kernel`; a key that
    is not a name is quoted (`answers["a b"]`) and a long one cut, so the path stays short."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif len(part) <= _SHOWN_KEY and _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(_shown_key(part), ensure_ascii=False)}]"
    return out


class _Refused:
    """Stands, in a parsed body, where strict JSON refuses something: a NaN or Infinity
    literal, an object that gives a key twice (`key`), or an integer too long to read
    (`digits`); found after parsing, with its path."""

    __slots__ = ("digits", "key", "literal")

    def __init__(self, literal: str | None = None, key: str | None = None,
                 digits: int | None = None) -> None:
        self.literal = literal
        self.key = key
        self.digits = digits


class _Duplicated(dict):  # type: ignore[type-arg]
    """An object that gave `refused.key` twice (the last value is kept, as json does)."""

    refused: _Refused


def load_json(text: str | bytes) -> Any:
    """Parse strict JSON: UTF-8 text (a leading UTF-8 BOM is ignored, as RFC 8259 allows;
    UTF-16 and UTF-32 are refused), no NaN or Infinity, no key given twice in one object
    (some readers keep the first, Python the last) and no integer too long to read, each
    refused naming its place; a syntax error names its line and column."""
    if len(text) > MAX_BODY_BYTES:
        raise SpecError("", f"the body is too large (at most {MAX_BODY_BYTES // 2**20} MiB)")
    if isinstance(text, bytes) and json.detect_encoding(text) not in ("utf-8", "utf-8-sig"):
        raise SpecError("", "not valid JSON: the body is not UTF-8 text")
    found: list[_Refused] = []

    def constant(literal: str) -> _Refused:
        refused = _Refused(literal=literal)
        found.append(refused)
        return refused

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) == len(items):
            return obj
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                break
            seen.add(key)
        marked = _Duplicated(obj)
        marked.refused = _Refused(key=key)
        found.append(marked.refused)
        return marked

    try:
        value = json.loads(text, parse_constant=constant, object_pairs_hook=pairs)
    except json.JSONDecodeError as err:
        raise SpecError("", f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    except UnicodeDecodeError:
        raise SpecError("", "not valid JSON: the body is not UTF-8 text") from None
    except RecursionError:
        raise SpecError("", "not valid JSON: nested too deeply") from None
    except ValueError:
        # Python refuses to read integers of more than 4,300 digits: name the place
        _refuse_long_integer(text)
        raise SpecError("", "a number in the body is too long") from None
    if found:
        refusal = _first_refusal(value)
        if refusal is not None:
            raise refusal
    return value


def _refuse_long_integer(text: str | bytes) -> None:
    """Raise the refusal naming the place of the first integer too long for Python to read,
    if that is why `text` does not parse. Only on that refusal: reading every integer
    through a hook would slow every body down."""
    long_ones: list[_Refused] = []

    def integer(digits: str) -> Any:
        try:
            return int(digits)
        except ValueError:
            refused = _Refused(digits=len(digits.lstrip("-")))
            long_ones.append(refused)
            return refused

    try:
        value = json.loads(text, parse_int=integer)
    except Exception:  # noqa: BLE001 - another fault too: the caller names the first
        return
    refusal = _first_refusal(value) if long_ones else None
    if refusal is not None:
        raise refusal


def _first_refusal(value: Any) -> SpecError | None:
    """The refusal of the first refused place of `value` in document order, if any.
    Iterative: the body may nest as deep as the parser allows."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Refused) and node.digits is not None:
            return SpecError(join_path(path), f"a number in the body is too long "
                             f"({node.digits:,} digits)")
        if isinstance(node, _Refused):
            return SpecError(join_path(path), f"{node.literal} is not a number in JSON: "
                             "use finite numbers only")
        if isinstance(node, _Duplicated):
            key = node.refused.key
            assert key is not None
            shown = json.dumps(_shown_key(key), ensure_ascii=False)
            return SpecError(join_path((*path, key)), f"{shown} is given twice in one "
                             "object: give each key once")
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))
    return None


def solve_json(body: Any) -> dict[str, Any]:
    """Answer a `solve` body (spec section 1); raises `SpecError`."""
    return solve(parse_stack(body)).to_json()


def _plain(values: np.ndarray) -> list[Any]:
    """Nested lists, integral values written as JSON integers (8, not 8.0)."""
    if np.all(values == np.round(values)) and np.all(np.abs(values) <= 2**53):
        return values.astype(np.int64).tolist()
    return values.tolist()


def pool_json(body: Any) -> dict[str, Any]:
    """Answer a `pool` body (spec section 2); raises `SpecError`."""
    request = parse_pool(body)
    with np.errstate(over="ignore", invalid="ignore"):
        result = pool2d(
            request.grid, request.op, request.kernel, request.stride, request.padding,
            request.dilation, request.ceil_mode, request.count_include_pad,
        )
    output, argmax = result.output, result.argmax
    overflowed = ~np.isfinite(output)
    if overflowed.any():  # an average whose sum overflows: the same average of the grid
        # scaled down by a power of two (exact), scaled back up (the mean is finite)
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = pool2d(
                np.ldexp(request.grid, -64), request.op, request.kernel, request.stride,
                request.padding, request.dilation, request.ceil_mode,
                request.count_include_pad, with_argmax=False,
            ).output
        output = np.where(overflowed, np.ldexp(scaled, 64), output)
    if request.rank == 2:
        output = output[0]
        argmax = None if argmax is None else argmax[0]
    answer: dict[str, Any] = {"output": _plain(output)}
    if argmax is not None:
        answer["argmax"] = argmax.tolist()
    return answer
