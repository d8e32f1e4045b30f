"""The JSON edges of the solver: strict JSON in, the spec's answer JSON out (CLI and HTTP)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from problems.errors import SpecError
from problems.pooling import pool2d
from problems.solver import solve
from problems.spec import parse_pool, parse_stack

MAX_BODY_BYTES = 64 * 1024 * 1024


def _refuse_constant(name: str) -> None:
    raise SpecError("", f"{name} is not a number in JSON: use finite numbers only")


def load_json(text: str | bytes) -> Any:
    """Parse strict JSON (no NaN or Infinity); a syntax error names its line and column."""
    if len(text) > MAX_BODY_BYTES:
        raise SpecError("", f"the body is too large (at most {MAX_BODY_BYTES // 2**20} MiB)")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except SpecError:
        raise
    except json.JSONDecodeError as err:
        raise SpecError("", f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    except UnicodeDecodeError:
        raise SpecError("", "not valid JSON: the body is not UTF-8 text") from None
    except RecursionError:
        raise SpecError("", "not valid JSON: nested too deeply") from None
    except ValueError:
        # Python refuses to read integers of more than 4,300 digits.
        raise SpecError("", "a number in the body is too long") from None


def solve_json(body: Any) -> dict[str, Any]:
    """Answer a `solve` body (spec section 1); raises `SpecError`."""
    return solve(parse_stack(body)).to_json()


def _plain(values: np.ndarray) -> list[Any]:
    """Nested lists, integral values written as JSON integers (8, not 8.0)."""
    if np.all(values == np.round(values)) and np.all(np.abs(values) < 2**53):
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
    if not np.all(np.isfinite(output)):
        raise SpecError("input", "the values are too large to average (the sum overflows a float)")
    if request.rank == 2:
        output = output[0]
        argmax = None if argmax is None else argmax[0]
    answer: dict[str, Any] = {"output": _plain(output)}
    if argmax is not None:
        answer["argmax"] = argmax.tolist()
    return answer
