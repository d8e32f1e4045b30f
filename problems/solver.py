"""The truth: output shapes, parameters, MACs and receptive fields of a layer stack.

One small function per layer rule; `solve` walks the stack with them. Shapes are carried
internally as (H, W, C) or (N,) and reported in the stack's layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import prod
from typing import Any

from problems.errors import SpecError
from problems.frozen import cheap_init
from problems.spec import (
    Activation,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    GlobalPool,
    Layer,
    Pair,
    Pool2D,
    Stack,
)
from problems.windows import AxisWindows, windows_2d


@cheap_init
@dataclass(frozen=True)
class ReceptiveField:
    """Per axis: size `r`, jump `j` and `start`, the input coordinate of unit 0's first row/column."""

    size: Pair
    jump: Pair
    start: Pair

    def rows(self, i: int, axis: int = 0) -> tuple[int, int]:
        """First and last input coordinate (inclusive, unclipped) seen by unit `i` on `axis`."""
        first = self.start[axis] + i * self.jump[axis]
        return first, first + self.size[axis] - 1

    def to_json(self) -> dict[str, list[int]]:
        return {"size": list(self.size), "jump": list(self.jump), "start": list(self.start)}


INPUT_FIELD = ReceptiveField((1, 1), (1, 1), (0, 0))


@cheap_init
@dataclass(frozen=True)
class LayerResult:
    """What one layer does: its output and its cost."""

    index: int
    type: str
    output_shape: tuple[int, ...]
    params: int
    trainable_params: int
    macs: int
    activations: int
    receptive_field: ReceptiveField | None

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
            "activations": self.activations,
            "receptive_field": None if self.receptive_field is None else self.receptive_field.to_json(),
        }


@cheap_init
@dataclass(frozen=True)
class Solution:
    """The answer for a whole stack (spec section 1, "The answer")."""

    layout: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerResult, ...]

    @property
    def total_params(self) -> int:
        return sum([layer.params for layer in self.layers])

    @property
    def trainable_params(self) -> int:
        return sum([layer.trainable_params for layer in self.layers])

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_macs(self) -> int:
        return sum([layer.macs for layer in self.layers])

    def to_json(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "layers": [layer.to_json() for layer in self.layers],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
        }


@dataclass(slots=True)
class LayerStep:
    """What one layer does to one (H, W, C) or (N,) input: its output shape (in the same
    order), its parameters (all and trainable), MACs and activations (the output's size),
    and for a windowed layer its windows, which grow the receptive field (a flat output has
    none; any other layer keeps it)."""

    type: str
    shape: tuple[int, ...]
    activations: int
    params: int = 0
    trainable: int = 0
    macs: int = 0
    axes: tuple[AxisWindows, AxisWindows] | None = None


# ---------------------------------------------------------------- per-axis rules

def grow_field(field: ReceptiveField, axes: tuple[AxisWindows, AxisWindows]) -> ReceptiveField:
    """`r' = r + (k_eff-1)*j`, `j' = j*stride`, `start' = start - p_before*j`, per axis."""
    (r0, r1), (j0, j1), (s0, s1) = field.size, field.jump, field.start
    a0, a1 = axes
    return ReceptiveField(
        (r0 + (a0.k_eff - 1) * j0, r1 + (a1.k_eff - 1) * j1),
        (j0 * a0.stride, j1 * a1.stride),
        (s0 - a0.before * j0, s1 - a1.before * j1),
    )


def _not_spatial(shape: tuple[int, ...], path: str, what: str) -> SpecError:
    """The refusal of a layer that needs (H, W, C) on a 1-D input."""
    return SpecError(
        f"{path}.type",
        f"{what} needs a spatial input (height, width, channels); got the 1-D shape [{shape[0]}]",
    )


# ---------------------------------------------------------------- layer rules
# Each rule takes the layer, its (H, W, C) or (N,) input and the layer's path for errors.

def conv2d(layer: Conv2D, shape: tuple[int, ...], path: str) -> LayerStep:
    """Shape, params (`kh*kw*(C_in/groups)*filters` + bias) and MACs of a convolution."""
    if len(shape) != 3:
        raise _not_spatial(shape, path, "conv2d")
    c_in, filters, groups = shape[2], layer.filters, layer.groups
    if c_in % groups or filters % groups:
        count, name = (c_in, "input channels") if c_in % groups else (filters, "filters")
        raise SpecError(f"{path}.groups", f"groups {groups} does not divide the {count} {name}")
    axes = windows_2d(shape, layer.kernel, layer.stride, layer.padding, layer.dilation, path=path)
    kh, kw = layer.kernel
    per_filter = kh * kw * (c_in // groups)
    params = per_filter * filters + (filters if layer.bias else 0)
    h, w = axes[0].out, axes[1].out
    size = h * w * filters
    return LayerStep(layer.type, (h, w, filters), size, params, params, size * per_filter, axes)


def pool2d(layer: Pool2D, shape: tuple[int, ...], path: str) -> LayerStep:
    """Shape of a windowed pooling layer; no parameters, no MACs."""
    if len(shape) != 3:
        raise _not_spatial(shape, path, layer.type)
    axes = windows_2d(
        shape, layer.kernel, layer.stride, layer.padding, layer.dilation, layer.ceil_mode, path,
        pooling=True,
    )
    h, w, c = axes[0].out, axes[1].out, shape[2]
    return LayerStep(layer.type, (h, w, c), h * w * c, axes=axes)


def global_pool(layer: GlobalPool, shape: tuple[int, ...], path: str) -> LayerStep:
    """One value per channel; the output is no longer spatial."""
    if len(shape) != 3:
        raise _not_spatial(shape, path, layer.type)
    return LayerStep(layer.type, (shape[2],), shape[2])


def batchnorm(layer: BatchNorm, shape: tuple[int, ...], path: str) -> LayerStep:
    """`4*C` params: gamma and beta trainable, the running mean and variance not."""
    channels = shape[-1]
    return LayerStep(layer.type, shape, prod(shape), 4 * channels, 2 * channels)


def activation(layer: Activation, shape: tuple[int, ...], path: str) -> LayerStep:
    """Shape-preserving, pointwise."""
    return LayerStep(layer.type, shape, prod(shape))


def flatten(layer: Flatten, shape: tuple[int, ...], path: str) -> LayerStep:
    """`[H*W*C]`; a 1-D input is left as it is."""
    size = prod(shape)
    return LayerStep(layer.type, (size,), size)


def dense(layer: Dense, shape: tuple[int, ...], path: str) -> LayerStep:
    """`in*units` weights (+ `units` biases) and `in*units` MACs on a 1-D input."""
    if len(shape) == 3:
        h, w, c = shape
        raise SpecError(
            f"{path}.type",
            f"dense needs a 1-D input; got a spatial shape of {h}x{w}x{c}: "
            "add a flatten or a global pooling layer before it",
        )
    units = layer.units
    macs = shape[0] * units
    params = macs + (units if layer.bias else 0)
    return LayerStep(layer.type, (units,), units, params, params, macs)


RULES = {
    Conv2D: conv2d, Pool2D: pool2d, GlobalPool: global_pool, BatchNorm: batchnorm,
    Activation: activation, Flatten: flatten, Dense: dense,
}


# ---------------------------------------------------------------- the walk

def to_internal(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """A shape in `layout` as (H, W, C) or (N,)."""
    if len(shape) == 3 and layout == "CHW":
        return (shape[1], shape[2], shape[0])
    return shape


def to_layout(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """An internal (H, W, C) or (N,) shape in `layout`."""
    if len(shape) == 3 and layout == "CHW":
        return (shape[2], shape[0], shape[1])
    return shape


_PLACEHOLDER = "@"


def layer_step(layer: Layer, shape: tuple[int, ...]) -> LayerStep:
    """One layer applied to one (H, W, C) or (N,) input (raises SpecError, with the path
    starting "@" for the layer's own). Not cached: a cache of steps mostly misses on new
    variants, and its tens of thousands of entries made every full garbage collection
    slow; a generator keeps the steps it tried for the finished stack instead."""
    return RULES[type(layer)](layer, shape, _PLACEHOLDER)  # type: ignore[operator]


def solve(stack: Stack) -> Solution:
    """Every layer's output shape, params, MACs, activations and receptive field."""
    shape = to_internal(stack.input, stack.layout)
    steps = []
    for index, layer in enumerate(stack.layers):
        try:
            step = layer_step(layer, shape)
        except SpecError as err:
            raise SpecError(err.path.replace(_PLACEHOLDER, f"layers[{index}]", 1), err.message) from None
        steps.append(step)
        shape = step.shape
    return solution_of(stack.input, stack.layout, steps)


def solution_of(input_shape: tuple[int, ...], layout: str, steps: Iterable[LayerStep]) -> Solution:
    """`solve`'s answer from the steps of a valid stack's layers, in order, each on the one
    before's output (`layer_step` of layer 0 on the input in (H, W, C) or (N,) order, and
    so on): for generators that tried out every layer already."""
    chw = layout == "CHW"
    field = INPUT_FIELD if len(input_shape) == 3 else None
    results = []
    for index, step in enumerate(steps):
        shape = step.shape
        if len(shape) != 3:
            field = None
            output_shape = shape
        else:
            if step.axes is not None and field is not None:
                field = grow_field(field, step.axes)
            output_shape = (shape[2], shape[0], shape[1]) if chw else shape
        results.append(LayerResult(
            index, step.type, output_shape, step.params, step.trainable,
            step.macs, step.activations, field,
        ))
    return Solution(layout, input_shape, tuple(results))
