"""Fill the Output Shape column of a summary table (HWC and CHW)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from problems.kinds.base import Draft, Part, Problem, Step, WrongModel
from problems.kinds.draws import Draws
from problems.kinds.stacks import (
    layer_label,
    random_stack,
    shape_axes,
    shape_hint,
    shape_text,
    stack_block,
    text_block,
    try_solve,
    vary_layers,
)
from problems.windows import axis_windows

NAME = "output_shape"
TITLE = "Output shapes"
SUMMARY = "Fill the Output Shape column of a layer stack's summary table."
# Each layer's shape is computed from the one before: a mistake is named for a layer only
# where it agrees with the student's own earlier shapes (see base.grade_parts).
CHAINED = True


def _part_id(index: int) -> str:
    return f"shape_{index}"


def generate(rng: np.random.Generator, difficulty: int) -> Draft:
    """A random stack; one shape part per layer, each building on the one before."""
    draws = Draws(rng)
    stack, solution, labels = random_stack(
        draws, difficulty, n_layers=draws.between(2, 4) if difficulty == 1 else None
    )
    layout = stack["layout"]
    order = "(height, width, channels)" if layout == "HWC" else "(channels, height, width)"
    hint = shape_hint(layout)
    parts = tuple(
        Part(
            _part_id(i),
            f"Output shape of layer {i} ({label})",
            "shape",
            depends_on=(_part_id(i - 1),) if i else (),
            hint_text=hint,
            axes=shape_axes(layout, len(layer.output_shape)),
        )
        for i, (label, layer) in enumerate(zip(labels, solution.layers, strict=True))
    )
    statement = (
        text_block(
            f"The input is {shape_text(stack['input'])} in {stack['layout']} layout {order}, "
            "no batch dimension. Give the output shape of every layer in the same layout."
        ),
        stack_block(stack, [("output_shape", "Output Shape")],
                    {(i, "output_shape"): p.id for i, p in enumerate(parts)}, labels=labels),
    )
    answers = {_part_id(i): list(layer.output_shape) for i, layer in enumerate(solution.layers)}
    return Draft("Output shapes of a layer stack", statement, parts, answers, {"stack": stack})


def follow_through(problem: Problem, part_id: str, given: Mapping[str, Any]) -> Any:
    """The shape of layer k computed from the student's own shape for layer k-1."""
    index = int(part_id.split("_")[1])
    previous = given.get(_part_id(index - 1))
    if previous is None or len(previous) not in (1, 3):
        return None
    stack = problem.params["stack"]
    result = try_solve({"layout": stack["layout"], "input": list(previous), "layers": [stack["layers"][index]]})
    return None if result is None else list(result.layers[0].output_shape)


def _answers_of(stack: Mapping[str, Any] | None) -> dict[str, Any] | None:
    result = try_solve(stack) if stack is not None else None
    if result is None:
        return None
    return {_part_id(i): list(layer.output_shape) for i, layer in enumerate(result.layers)}


def _is_windowed(layer: Mapping[str, Any]) -> bool:
    return layer["type"] in ("conv2d", "maxpool2d", "avgpool2d", "minpool2d")


def _changes() -> list[tuple[str, Any]]:
    def same_as_valid(layer: dict) -> dict | None:
        if layer.get("padding") == "same":
            layer["padding"] = "valid"
            return layer
        return None

    def valid_as_same(layer: dict) -> dict | None:
        if _is_windowed(layer) and layer.get("padding", "valid") in ("valid", 0) and not layer.get("ceil_mode"):
            layer["padding"] = "same"
            return layer
        return None

    def padding_forgotten(layer: dict) -> dict | None:
        padding = layer.get("padding")
        if padding not in (None, "same", "valid", 0, [0, 0]):
            layer["padding"] = 0
            return layer
        return None

    def dilation_ignored(layer: dict) -> dict | None:
        if layer.get("dilation", 1) not in (1, [1, 1]):
            del layer["dilation"]
            return layer
        return None

    def stride_forgotten(layer: dict) -> dict | None:
        if not _is_windowed(layer):
            return None
        stride = layer.get("stride", layer["kernel"] if layer["type"] != "conv2d" else 1)
        if stride in (1, [1, 1]):
            return None
        layer["stride"] = 1
        return layer

    def floor_for_ceil(layer: dict) -> dict | None:
        if layer.get("ceil_mode"):
            del layer["ceil_mode"]
            return layer
        return None

    def ceil_for_floor(layer: dict) -> dict | None:
        if layer["type"] in ("maxpool2d", "avgpool2d", "minpool2d") and not isinstance(layer.get("padding"), str) \
                and not layer.get("ceil_mode"):
            layer["ceil_mode"] = True
            return layer
        return None

    return [
        ("same_as_valid", same_as_valid), ("valid_as_same", valid_as_same),
        ("padding_forgotten", padding_forgotten), ("dilation_ignored", dilation_ignored),
        ("stride_forgotten", stride_forgotten), ("floor_for_ceil", floor_for_ceil),
        ("ceil_for_floor", ceil_for_floor),
    ]


def wrong_models(problem: Problem) -> Iterable[WrongModel]:
    """The answers each named mistake gives: applied to every layer, then to one layer at a
    time (the student right up to that layer)."""
    stack = problem.params["stack"]
    correct = problem.answers
    for name, change in _changes():
        whole = _answers_of(vary_layers(stack, change))
        if whole is not None:
            yield name, whole
        for index in range(len(stack["layers"])):
            one = _answers_of(vary_layers(stack, change, only=index))
            if one is not None:
                yield name, {_part_id(index): one[_part_id(index)]}
    # Whole-answer slips: the other layout's order, channels left unchanged, a window off by one.
    swapped = {}
    for key, shape in correct.items():
        if len(shape) == 3:
            swapped[key] = [shape[1], shape[2], shape[0]] if stack["layout"] == "CHW" else [shape[2], shape[0], shape[1]]
    yield "layout_swapped", swapped
    previous_channels = stack["input"][-1] if stack["layout"] == "HWC" else stack["input"][0]
    for index, layer in enumerate(stack["layers"]):
        key = _part_id(index)
        shape = correct[key]
        if layer["type"] == "conv2d" and len(shape) == 3:
            kept = list(shape)
            kept[2 if stack["layout"] == "HWC" else 0] = previous_channels
            yield "channels_not_updated", {key: kept}
        if layer["type"] == "conv2d" and len(shape) == 3:
            # A convolution has no ceil mode, but a student may still round the division up
            # (3 windows for (8 - 5) / 2 = 1.5): named so before "off by one" can claim it.
            before = stack["input"] if index == 0 else correct[_part_id(index - 1)]
            rounded_up = _conv_rounded_up(layer, list(before), stack["layout"])
            if rounded_up is not None and rounded_up != list(shape):
                yield "ceil_for_floor", {key: rounded_up}
        if _is_windowed(layer) and len(shape) == 3:
            spatial = (0, 1) if stack["layout"] == "HWC" else (1, 2)
            for delta in (-1, 1):
                off = list(shape)
                for axis in spatial:
                    off[axis] += delta
                yield "off_by_one_windows", {key: off}
        if len(shape) == 3:
            previous_channels = shape[2] if stack["layout"] == "HWC" else shape[0]


def _conv_rounded_up(layer: Mapping[str, Any], before: list[int], layout: str) -> list[int] | None:
    """A convolution's output shape with each window count rounded up, ceil((in + 2p -
    k_eff) / s) + 1, where the stride leaves a remainder; None for "same" padding (whose
    rounding up is right) or a shape that is not an image's."""
    padding = layer.get("padding", "valid")
    if padding == "same" or len(before) != 3:
        return None
    spatial = (0, 1) if layout == "HWC" else (1, 2)
    out = list(before)
    for axis, dim in enumerate(spatial):
        def pair(key: str, default: Any, axis: int = axis) -> int:
            value = layer.get(key, default)
            return int(value[axis] if isinstance(value, list) else value)

        p = 0 if padding == "valid" else pair("padding", 0)
        k_eff = pair("dilation", 1) * (pair("kernel", 1) - 1) + 1
        span = before[dim] + 2 * p - k_eff
        if span < 0:
            return None
        out[dim] = -(-span // pair("stride", 1)) + 1
    out[2 if layout == "HWC" else 0] = int(layer["filters"])
    return out


def _axis_steps(layer: Mapping[str, Any], size: int, axis: int) -> tuple[str, int]:
    """The formula of one axis with the numbers in, and its result."""
    def pair(key: str, default: Any) -> Any:
        value = layer.get(key, default)
        return value[axis] if isinstance(value, list) else value

    kernel = pair("kernel", 1)
    is_pool = layer["type"] != "conv2d"
    stride = pair("stride", kernel if is_pool else 1)
    dilation = pair("dilation", 1)
    padding = layer.get("padding", "valid")
    padding = padding if isinstance(padding, str) else pair("padding", 0)
    ceil = bool(layer.get("ceil_mode"))
    windows = axis_windows(size, kernel, stride, padding, dilation, ceil)
    k_eff = windows.k_eff
    keff_text = f"k_{{eff}} = {dilation}\\cdot({kernel}-1)+1 = {k_eff},\\ " if dilation != 1 else ""
    if padding == "same":
        return (f"{keff_text}\\lceil {size} / {stride} \\rceil = {windows.out}"), windows.out
    p = 0 if padding == "valid" else padding
    rounding = ("\\lceil", "\\rceil") if ceil else ("\\lfloor", "\\rfloor")
    text = (f"{keff_text}{rounding[0]} ({size} + 2\\cdot{p} - {k_eff}) / {stride} {rounding[1]} + 1"
            f" = {windows.out}")
    if ceil and (size + 2 * p - k_eff + stride - 1) // stride + 1 != windows.out:
        text += " \\text{ (the last window would start in the right padding: dropped)}"
    return text, windows.out


def worked(problem: Problem) -> list[Step]:
    """Layer by layer: the output-size formula per axis with the numbers substituted."""
    stack = problem.params["stack"]
    layout = stack["layout"]
    steps = [Step(
        "The rule",
        "For a sliding window (convolution or pooling) each spatial axis becomes "
        "floor((in + 2p - k_eff) / stride) + 1 with k_eff = dilation*(k-1)+1; \"same\" padding gives "
        "ceil(in / stride); ceil_mode rounds up instead. A convolution's channels become its filters; "
        "pooling keeps the channels.",
        ("\\text{out} = \\left\\lfloor \\frac{\\text{in} + 2p - k_{eff}}{s} \\right\\rfloor + 1",),
    )]
    shape = list(stack["input"])
    for index, layer in enumerate(stack["layers"]):
        answer = problem.answers[_part_id(index)]
        math: list[str] = []
        if _is_windowed(layer) and len(shape) == 3:
            hw = shape[:2] if layout == "HWC" else shape[1:]
            for axis, name in enumerate(("H", "W")):
                text, _ = _axis_steps(layer, hw[axis], axis)
                math.append(f"{name}: {text}")
        steps.append(Step(
            f"Layer {index}: {layer_label(layer)}",
            f"Input {shape_text(shape)} \u2192 output {shape_text(answer)}.",
            tuple(math),
        ))
        shape = answer
    return steps
