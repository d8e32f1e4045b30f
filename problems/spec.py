"""Parse and validate the JSON contract (docs/spec/layer-stack.md) into frozen dataclasses.

Every refusal is a `SpecError` whose path names the field (`layers[3].kernel`). Checks that
need the incoming shape (a window larger than its input, groups that do not divide the
channels) belong to the solver; everything that can be judged from the JSON alone is here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from problems.errors import SpecError
from problems.frozen import cheap_init
from problems.windows import windows_2d

Pair = tuple[int, int]
Padding = Pair | Literal["valid", "same"]
Layout = Literal["HWC", "CHW"]
PoolOp = Literal["max", "avg", "min"]

ACTIVATIONS = (
    "relu", "leaky_relu", "elu", "gelu", "selu", "silu", "sigmoid", "tanh", "softmax", "linear",
)
POOL_TYPES: dict[str, PoolOp] = {"maxpool2d": "max", "avgpool2d": "avg", "minpool2d": "min"}
GLOBAL_POOL_TYPES: dict[str, PoolOp] = {
    "global_maxpool2d": "max", "global_avgpool2d": "avg", "global_minpool2d": "min",
}

# Limits that keep a hostile request cheap; far beyond any real network or classroom grid.
MAX_LAYERS = 10_000
MAX_SIZE = 1_000_000
MAX_GRID_CELLS = 4_000_000
MAX_GRID_CHANNELS = 4_096
MAX_POOL_WORK = 100_000_000  # window cells read by one `pool` request, in all
MAX_EXACT_INT = 2**53  # larger integers are not all floats: a max could change a value
_NUMBER_TYPES = {int, float}


@dataclass(frozen=True)
class Conv2D:
    filters: int
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Padding = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True
    type: str = field(default="conv2d", init=False)


@dataclass(frozen=True)
class Pool2D:
    op: PoolOp
    kernel: Pair
    stride: Pair
    padding: Padding = (0, 0)
    dilation: Pair = (1, 1)
    ceil_mode: bool = False
    count_include_pad: bool = True

    @property
    def type(self) -> str:
        return f"{self.op}pool2d"


@dataclass(frozen=True)
class GlobalPool:
    op: PoolOp

    @property
    def type(self) -> str:
        return f"global_{self.op}pool2d"


@dataclass(frozen=True)
class BatchNorm:
    type: str = field(default="batchnorm", init=False)


@dataclass(frozen=True)
class Activation:
    name: str

    @property
    def type(self) -> str:
        return self.name


@dataclass(frozen=True)
class Flatten:
    type: str = field(default="flatten", init=False)


@dataclass(frozen=True)
class Dense:
    units: int
    bias: bool = True
    type: str = field(default="dense", init=False)


Layer = Conv2D | Pool2D | GlobalPool | BatchNorm | Activation | Flatten | Dense


@cheap_init
@dataclass(frozen=True)
class Stack:
    """A parsed layer stack: the input shape in `layout` and the layers in order."""

    input: tuple[int, ...]
    layers: tuple[Layer, ...]
    layout: Layout = "HWC"


@dataclass(frozen=True)
class PoolRequest:
    """A parsed `pool` body. `grid` is always (C, H, W); `rank` is the input's own rank."""

    grid: np.ndarray
    rank: int
    op: PoolOp
    is_global: bool
    kernel: Pair = (1, 1)
    stride: Pair = (1, 1)
    padding: Padding = (0, 0)
    dilation: Pair = (1, 1)
    ceil_mode: bool = False
    count_include_pad: bool = True


# ---------------------------------------------------------------- primitive readers

def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= 40 else f'"{value[:37]}..."'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else "a very large integer"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def read_size(value: Any, path: str, minimum: int = 1) -> int:
    """A JSON integer >= minimum (booleans and 3.0 refused) and at most MAX_SIZE."""
    if type(value) is not int:
        raise SpecError(path, f"expected an integer, got {_describe(value)}")
    if value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise SpecError(path, f"expected {what}, got {value}")
    if value > MAX_SIZE:
        raise SpecError(path, f"{value} is too large (at most {MAX_SIZE:,})")
    return value


def read_bool(value: Any, path: str) -> bool:
    """A JSON boolean; 0 and 1 are refused."""
    if type(value) is not bool:
        raise SpecError(path, f"expected true or false, got {_describe(value)}")
    return value


def read_pair(value: Any, path: str, minimum: int = 1) -> Pair:
    """An int for both axes or `[h, w]`."""
    if isinstance(value, list):
        if len(value) != 2:
            raise SpecError(path, f"expected an integer or [h, w], got a list of {len(value)}")
        return (read_size(value[0], f"{path}[0]", minimum), read_size(value[1], f"{path}[1]", minimum))
    if type(value) is not int:
        raise SpecError(path, f"expected an integer or [h, w], got {_describe(value)}")
    size = read_size(value, path, minimum)
    return (size, size)


def read_padding(value: Any, path: str) -> Padding:
    """`"valid"`, `"same"`, an int for both axes or `[h, w]` (non-negative)."""
    if isinstance(value, str):
        if value in ("valid", "same"):
            return value  # type: ignore[return-value]
        raise SpecError(path, f'expected "valid", "same", an integer or [h, w], got {_describe(value)}')
    if not isinstance(value, list) and type(value) is not int:
        raise SpecError(path, f'expected "valid", "same", an integer or [h, w], got {_describe(value)}')
    return read_pair(value, path, minimum=0)


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(path, f"expected an object, got {_describe(value)}")
    return value


def _check_fields(obj: Mapping[str, Any], path: str, allowed: tuple[str, ...], what: str) -> None:
    for key in obj:
        if key not in allowed:
            allowed_text = ", ".join(a for a in allowed if a != "type") or "no fields"
            if key.isidentifier() and len(key) <= 40:
                field_path = f"{path}.{key}" if path else key
            else:  # quoted (so the path stays one line) and a long name cut
                shown = key if len(key) <= 40 else key[:37] + "..."
                field_path = f"{path}[{json.dumps(shown)}]"
            raise SpecError(field_path, f"unknown field for {what} (allowed: {allowed_text})")


def _required(obj: Mapping[str, Any], key: str, path: str, what: str) -> Any:
    if key not in obj:
        raise SpecError(f"{path}.{key}" if path else key, f"required for {what}")
    return obj[key]


# ---------------------------------------------------------------- layers

CONV_FIELDS = ("type", "filters", "kernel", "stride", "padding", "dilation", "groups", "bias")
MAXPOOL_FIELDS = ("type", "kernel", "stride", "padding", "dilation", "ceil_mode")
AVGPOOL_FIELDS = ("type", "kernel", "stride", "padding", "ceil_mode", "count_include_pad")
DENSE_FIELDS = ("type", "units", "bias")
LAYER_TYPES = ("conv2d", *POOL_TYPES, *GLOBAL_POOL_TYPES, "batchnorm", *ACTIVATIONS, "flatten", "dense")


def _pool_options(obj: Mapping[str, Any], path: str, op: PoolOp, what: str) -> dict[str, Any]:
    """The windowed-pool fields shared by pooling layers and `pool` requests."""

    def p(key: str) -> str:
        return f"{path}.{key}" if path else key

    kernel = read_pair(_required(obj, "kernel", path, what), p("kernel"))
    stride = read_pair(obj["stride"], p("stride")) if "stride" in obj else kernel
    padding = read_padding(obj["padding"], p("padding")) if "padding" in obj else (0, 0)
    dilation = read_pair(obj["dilation"], p("dilation")) if "dilation" in obj else (1, 1)
    ceil_mode = read_bool(obj["ceil_mode"], p("ceil_mode")) if "ceil_mode" in obj else False
    count_include_pad = True
    if "count_include_pad" in obj:
        count_include_pad = read_bool(obj["count_include_pad"], p("count_include_pad"))
    if "ceil_mode" in obj and isinstance(padding, str):
        raise SpecError(
            p("ceil_mode"),
            f'ceil_mode goes with integer padding only; padding is "{padding}"',
        )
    if isinstance(padding, tuple):
        # PyTorch checks the undilated kernel here, for max and average pooling alike.
        for axis, name in enumerate(("height", "width")):
            if padding[axis] > kernel[axis] // 2:
                raise SpecError(
                    p("padding"),
                    f"padding {padding[axis]} is more than half the kernel {kernel[axis]} "
                    f"({name}; at most {kernel[axis] // 2})",
                )
    return {
        "op": op, "kernel": kernel, "stride": stride,
        "padding": (0, 0) if padding == "valid" else padding, "dilation": dilation,
        "ceil_mode": ceil_mode, "count_include_pad": count_include_pad,
    }


_PLACEHOLDER = "@"


_SCALARS = frozenset({int, str, bool, float})
_SCALARS_AND_LIST = _SCALARS | {list}


def layer_key(value: Any) -> tuple[Any, ...] | None:
    """A hashable, type-exact key for a layer's JSON: its items (lists as tuples), the type
    of each value and of each list element (so `true` and `1` never share an entry); None
    for anything unusual, which is parsed without the cache."""
    if type(value) is not dict or len(value) > 12:
        return None
    types = tuple(map(type, value.values()))
    if _SCALARS.issuperset(types):
        return tuple(value.items()), types, ()
    if not _SCALARS_AND_LIST.issuperset(types):
        return None
    items: list[tuple[str, Any]] = []
    inner: list[type] = []
    for k, v in value.items():
        if type(v) is list:
            if len(v) > 4:
                return None
            inner.extend(map(type, v))
            items.append((k, tuple(v)))
        else:
            items.append((k, v))
    if not _SCALARS.issuperset(inner):
        return None
    return tuple(items), types, tuple(inner)


def layer_of_key(key: tuple[Any, ...]) -> dict[str, Any]:
    """The layer JSON whose `layer_key` is `key` (a new dict, equal to it value for value
    and type for type)."""
    items, types, _inner = key
    return {k: (list(v) if t is list else v) for (k, v), t in zip(items, types, strict=True)}


@lru_cache(maxsize=16384)
def parse_layer_key(key: tuple[Any, ...]) -> Layer:
    """The layer whose JSON has this `layer_key` (cached); a SpecError's path starts with
    "@", the placeholder for the layer's own path."""
    return _parse_layer(layer_of_key(key), _PLACEHOLDER)


def parse_layer(value: Any, path: str) -> Layer:
    """One entry of `layers` (cached: the same layers recur across stacks and variants)."""
    key = layer_key(value)
    if key is None:
        return _parse_layer(value, path)
    try:
        return parse_layer_key(key)
    except SpecError as err:
        raise SpecError(err.path.replace(_PLACEHOLDER, path, 1), err.message) from None


def _parse_layer(value: Any, path: str) -> Layer:
    obj = _object(value, path)
    kind = obj.get("type")
    if kind is None:
        raise SpecError(f"{path}.type", "required: the layer type, e.g. \"conv2d\"")
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        raise SpecError(
            f"{path}.type",
            f"unknown layer type {_describe(kind)} (known: {', '.join(LAYER_TYPES)})",
        )
    if kind == "conv2d":
        _check_fields(obj, path, CONV_FIELDS, kind)
        padding = read_padding(obj["padding"], f"{path}.padding") if "padding" in obj else (0, 0)
        return Conv2D(
            filters=read_size(_required(obj, "filters", path, kind), f"{path}.filters"),
            kernel=read_pair(_required(obj, "kernel", path, kind), f"{path}.kernel"),
            stride=read_pair(obj["stride"], f"{path}.stride") if "stride" in obj else (1, 1),
            padding=(0, 0) if padding == "valid" else padding,
            dilation=read_pair(obj["dilation"], f"{path}.dilation") if "dilation" in obj else (1, 1),
            groups=read_size(obj["groups"], f"{path}.groups") if "groups" in obj else 1,
            bias=read_bool(obj["bias"], f"{path}.bias") if "bias" in obj else True,
        )
    if kind in POOL_TYPES:
        op = POOL_TYPES[kind]
        _check_fields(obj, path, AVGPOOL_FIELDS if op == "avg" else MAXPOOL_FIELDS, kind)
        return Pool2D(**_pool_options(obj, path, op, kind))
    if kind in GLOBAL_POOL_TYPES:
        _check_fields(obj, path, ("type",), kind)
        return GlobalPool(GLOBAL_POOL_TYPES[kind])
    if kind == "dense":
        _check_fields(obj, path, DENSE_FIELDS, kind)
        return Dense(
            units=read_size(_required(obj, "units", path, kind), f"{path}.units"),
            bias=read_bool(obj["bias"], f"{path}.bias") if "bias" in obj else True,
        )
    _check_fields(obj, path, ("type",), kind)
    if kind == "batchnorm":
        return BatchNorm()
    if kind == "flatten":
        return Flatten()
    return Activation(kind)


def parse_stack(value: Any) -> Stack:
    """Parse a `solve` body into a `Stack`, refusing anything the spec refuses."""
    obj = _object(value, "")
    _check_fields(obj, "", ("layout", "input", "layers"), "a layer stack")
    layout = obj.get("layout", "HWC")
    if layout not in ("HWC", "CHW"):
        raise SpecError("layout", f'expected "HWC" or "CHW", got {_describe(layout)}')
    shape = _required(obj, "input", "", "a layer stack")
    if not isinstance(shape, list) or len(shape) not in (1, 3):
        order = "[H, W, C]" if layout == "HWC" else "[C, H, W]"
        raise SpecError("input", f"expected {order} or a 1-D [N], got {_describe(shape)}"
                        + (f" of {len(shape)}" if isinstance(shape, list) else ""))
    if all(type(v) is int and 1 <= v <= MAX_SIZE for v in shape):
        dims = tuple(shape)  # what read_size accepts, without spelling out each path
    else:
        dims = tuple(read_size(v, f"input[{i}]") for i, v in enumerate(shape))
    layers = obj.get("layers", [])
    if not isinstance(layers, list):
        raise SpecError("layers", f"expected a list of layers, got {_describe(layers)}")
    if len(layers) > MAX_LAYERS:
        raise SpecError("layers", f"{len(layers):,} layers is too many (at most {MAX_LAYERS:,})")
    parsed = []
    for i, v in enumerate(layers):
        key = layer_key(v)
        if key is None:
            parsed.append(_parse_layer(v, f"layers[{i}]"))
            continue
        try:  # parse_layer, with the path spelled out only for an error
            parsed.append(parse_layer_key(key))
        except SpecError as err:
            raise SpecError(err.path.replace(_PLACEHOLDER, f"layers[{i}]", 1), err.message) from None
    return Stack(input=dims, layers=tuple(parsed), layout=layout)


# ---------------------------------------------------------------- pooling requests



def _finite(number: int | float) -> bool:
    """A number a float can hold (a huge JSON integer cannot)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _empty_level(value: list[Any]) -> tuple[int, str]:
    """How many levels of lists `value` has down its first cells, and the path of the first
    empty list met on the way ("" if none)."""
    depth, probe, path = 0, value, "input"
    while isinstance(probe, list):
        depth += 1
        if not probe:
            return depth, path
        probe, path = probe[0], f"{path}[0]"
    return depth, ""


def _bad_cell(row: list[Any], rpath: str) -> SpecError:
    """The refusal for the first cell of `row` that is not a number a float holds exactly."""
    for k, cell in enumerate(row):
        if type(cell) not in (int, float):
            return SpecError(f"{rpath}[{k}]", f"expected a finite number, got {_describe(cell)}")
        if not _finite(cell):
            return SpecError(f"{rpath}[{k}]", "the number is too large for a 64-bit float "
                             "(at most about 1.8e308 in magnitude)")
        if type(cell) is int and abs(cell) > MAX_EXACT_INT:
            return SpecError(f"{rpath}[{k}]", f"the integer {_describe(cell)} is too large to "
                             f"pool exactly (at most 2**53 = {MAX_EXACT_INT:,} in magnitude); write it "
                             "as a decimal number (with a point or an exponent) to pool it "
                             "rounded")
    raise AssertionError("no bad cell in the row")


def _read_grid(value: Any) -> np.ndarray:
    """A 2-D `[H][W]` or 3-D `[C][H][W]` list of finite numbers, as float64 (C, H, W).

    Each row is checked at once (the set of its cells' types, then numpy), and cell by cell
    only to name the cell that is refused: a grid of millions of cells reads in a second."""
    if not isinstance(value, list) or not value:
        raise SpecError("input", "expected a non-empty 2-D [H][W] or 3-D [C][H][W] grid of numbers")
    depth, empty = _empty_level(value)
    if empty and depth in (2, 3):
        what = "row of numbers" if empty.count("[") == depth - 1 else "list of rows"
        raise SpecError(empty, f"expected a non-empty {what}, got []")
    if depth not in (2, 3):
        raise SpecError("input", f"expected a 2-D [H][W] or 3-D [C][H][W] grid, got {depth} level(s) of lists")
    channels = value if depth == 3 else [value]
    if len(channels) > MAX_GRID_CHANNELS:
        raise SpecError("input", f"{len(channels):,} channels is too many (at most "
                        f"{MAX_GRID_CHANNELS:,})")
    expected: tuple[int, int] | None = None
    total = 0
    for c, channel in enumerate(channels):
        cpath = f"input[{c}]" if depth == 3 else "input"
        if not isinstance(channel, list) or not channel:
            raise SpecError(cpath, f"expected a non-empty list of rows, got {_describe(channel)}")
        for r, row in enumerate(channel):
            if not isinstance(row, list) or not row:
                raise SpecError(f"{cpath}[{r}]", f"expected a non-empty row of numbers, got {_describe(row)}")
            if expected is None:
                expected = (len(channel), len(row))
            if len(row) != expected[1]:
                raise SpecError(f"{cpath}[{r}]", f"row has {len(row)} cells; the first row has {expected[1]}")
            total += len(row)
            if total > MAX_GRID_CELLS:
                raise SpecError("input", f"grid is too large (at most {MAX_GRID_CELLS:,} cells)")
            types = set(map(type, row))
            if not types <= _NUMBER_TYPES:
                raise _bad_cell(row, f"{cpath}[{r}]")
        if expected is not None and len(channel) != expected[0]:
            raise SpecError(cpath, f"channel has {len(channel)} rows; the first has {expected[0]}")
    try:
        grid = np.array(channels, dtype=np.float64)
    except OverflowError:  # an integer beyond any float
        grid = None
    if grid is None or not np.isfinite(grid).all() or (np.abs(grid) >= MAX_EXACT_INT).any():
        for c, channel in enumerate(channels):
            for r, row in enumerate(channel):
                cpath = f"input[{c}][{r}]" if depth == 3 else f"input[{r}]"
                if any(type(x) is int and abs(x) > MAX_EXACT_INT or not _finite(x) for x in row):
                    raise _bad_cell(row, cpath)
    assert grid is not None
    return grid


def check_pool_work(grid_shape: tuple[int, ...], out: tuple[int, int], kernel: tuple[int, int]) -> None:
    """Refuse a pooling whose windows would read more than MAX_POOL_WORK cells in all."""
    work = grid_shape[0] * out[0] * out[1] * kernel[0] * kernel[1]
    if work > MAX_POOL_WORK:
        raise SpecError("kernel", f"this pooling reads {work:,} window cells "
                        f"(channels x output cells x kernel area); at most {MAX_POOL_WORK:,}")


POOL_FIELDS_MAX = ("input", "op", "kernel", "stride", "padding", "dilation", "ceil_mode", "global")
POOL_FIELDS_AVG = ("input", "op", "kernel", "stride", "padding", "ceil_mode", "count_include_pad", "global")


def parse_pool(value: Any) -> PoolRequest:
    """Parse a `pool` body into a `PoolRequest`."""
    obj = _object(value, "")
    op = _required(obj, "op", "", "pooling")
    if op not in ("max", "avg", "min"):
        raise SpecError("op", f'expected "max", "avg" or "min", got {_describe(op)}')
    is_global = read_bool(obj["global"], "global") if "global" in obj else False
    if is_global:
        _check_fields(obj, "", ("input", "op", "global"), "global pooling")
    else:
        _check_fields(obj, "", POOL_FIELDS_AVG if op == "avg" else POOL_FIELDS_MAX, f"{op} pooling")
    grid = _read_grid(_required(obj, "input", "", "pooling"))
    rank = 3 if isinstance(obj["input"][0][0], list) else 2
    if is_global:
        h, w = grid.shape[1:]
        return PoolRequest(grid, rank, op, True, kernel=(h, w), stride=(h, w))
    options = _pool_options(obj, "", op, f"{op} pooling")
    rows, cols = windows_2d(
        grid.shape[1:], options["kernel"], options["stride"], options["padding"],
        options["dilation"], options["ceil_mode"], pooling=True,
    )
    check_pool_work(grid.shape, (rows.out, cols.out), options["kernel"])
    return PoolRequest(grid, rank, is_global=False, **options)
