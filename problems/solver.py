"""The truth: output shapes, parameters, MACs and receptive fields of a layer stack.

One small function per layer rule; `solve` walks the stack with them. Shapes are carried
internally as (H, W, C) or (N,) and reported in the stack's layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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
        return sum(layer.params for layer in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable_params for layer in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

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
class _State:
    """The tensor between two layers: (H, W, C) when spatial, (N,) when flat."""

    shape: tuple[int, ...]

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3


@dataclass(slots=True)
class LayerStep:
    """What a layer rule gives: the output shape, the cost, and for a windowed layer its
    windows, which grow the receptive field (a flat output has none; any other layer keeps
    it). `layer_step` completes the rest."""

    shape: tuple[int, ...]
    params: int = 0
    trainable: int | None = None
    macs: int = 0
    axes: tuple[AxisWindows, AxisWindows] | None = None
    type: str = ""
    activations: int = 0


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


def _need_spatial(state: _State, path: str, what: str) -> None:
    if not state.spatial:
        raise SpecError(
            f"{path}.type",
            f"{what} needs a spatial input (height, width, channels); got the 1-D shape "
            f"[{state.shape[0]}]",
        )


# ---------------------------------------------------------------- layer rules

def conv2d(layer: Conv2D, state: _State, path: str) -> LayerStep:
    """Shape, params (`kh*kw*(C_in/groups)*filters` + bias) and MACs of a convolution."""
    _need_spatial(state, path, "conv2d")
    c_in = state.shape[2]
    for count, name in ((c_in, "input channels"), (layer.filters, "filters")):
        if count % layer.groups:
            raise SpecError(f"{path}.groups", f"groups {layer.groups} does not divide the {count} {name}")
    axes = windows_2d(state.shape[:2], layer.kernel, layer.stride, layer.padding, layer.dilation, path=path)
    kh, kw = layer.kernel
    per_filter = kh * kw * (c_in // layer.groups)
    params = per_filter * layer.filters + (layer.filters if layer.bias else 0)
    h, w = axes[0].out, axes[1].out
    return LayerStep((h, w, layer.filters), params, macs=h * w * layer.filters * per_filter, axes=axes)


def pool2d(layer: Pool2D, state: _State, path: str) -> LayerStep:
    """Shape of a windowed pooling layer; no parameters, no MACs."""
    _need_spatial(state, path, layer.type)
    axes = windows_2d(
        state.shape[:2], layer.kernel, layer.stride, layer.padding, layer.dilation,
        layer.ceil_mode, path, pooling=True,
    )
    return LayerStep((axes[0].out, axes[1].out, state.shape[2]), axes=axes)


def global_pool(layer: GlobalPool, state: _State, path: str) -> LayerStep:
    """One value per channel; the output is no longer spatial."""
    _need_spatial(state, path, layer.type)
    return LayerStep((state.shape[2],))


def batchnorm(layer: BatchNorm, state: _State, path: str) -> LayerStep:
    """`4*C` params: gamma and beta trainable, the running mean and variance not."""
    channels = state.shape[-1]
    return LayerStep(state.shape, 4 * channels, trainable=2 * channels)


def activation(layer: Activation, state: _State, path: str) -> LayerStep:
    """Shape-preserving, pointwise."""
    return LayerStep(state.shape)


def flatten(layer: Flatten, state: _State, path: str) -> LayerStep:
    """`[H*W*C]`; a 1-D input is left as it is."""
    size = 1
    for d in state.shape:
        size *= d
    return LayerStep((size,))


def dense(layer: Dense, state: _State, path: str) -> LayerStep:
    """`in*units` weights (+ `units` biases) and `in*units` MACs on a 1-D input."""
    if state.spatial:
        h, w, c = state.shape
        raise SpecError(
            f"{path}.type",
            f"dense needs a 1-D input; got a spatial shape of {h}x{w}x{c}: "
            "add a flatten or a global pooling layer before it",
        )
    n = state.shape[0]
    return LayerStep((layer.units,), n * layer.units + (layer.units if layer.bias else 0), macs=n * layer.units)


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
    step: LayerStep = RULES[type(layer)](layer, _State(shape), _PLACEHOLDER)  # type: ignore[operator]
    if step.trainable is None:
        step.trainable = step.params
    step.type = layer.type
    step.activations = 1
    for d in step.shape:
        step.activations *= d
    return step


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
            index, step.type, output_shape, step.params, step.trainable,  # type: ignore[arg-type]
            step.macs, step.activations, field,
        ))
    return Solution(layout, input_shape, tuple(results))
