"""Downsampling two ways: a max pool against a stride-2 convolution on the same input."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from problems.errors import SpecError
from problems.kinds.base import Draft, Part, Problem, Step, WrongModel, whole_number_hint
from problems.kinds.draws import Draws, draw_until
from problems.kinds.stacks import (
    LayerJSON,
    layer_label,
    layer_step_for,
    pick,
    shape_axes,
    shape_hint,
    shape_text,
    solve_stack,
    solve_steps,
    stack_block,
    stack_json,
    text_block,
    try_solve,
)
from problems.solver import LayerStep, Solution
from problems.windows import axis_windows

NAME = "pool_vs_strided_conv"
TITLE = "Max pool or strided convolution"
SUMMARY = (
    "Compare a max pool with a stride-2 convolution: output shapes, parameters, receptive fields."
)

CHOICES = ("the max pool", "the strided convolution", "both", "neither")
LEARNS = "the strided convolution"
_CONFIG_KEYS = ("layout", "input", "pre", "pool", "conv")
# Layer indices in both stacks: [pre, option, next].
_PRE, _OPTION, _NEXT = 0, 1, 2
_NEXT_CONV: LayerJSON = {"type": "conv2d", "filters": 1, "kernel": 3, "padding": "same"}
_OPTIONS = (("pool", "A"), ("conv", "B"))


def _hwc(shape: Sequence[int], layout: str) -> list[int]:
    return [shape[1], shape[2], shape[0]] if layout == "CHW" else list(shape)


def _in_layout(hwc: Sequence[int], layout: str) -> list[int]:
    return [hwc[2], hwc[0], hwc[1]] if layout == "CHW" else list(hwc)


def _stack(config: Mapping[str, Any], option: str, with_next: bool) -> dict[str, Any]:
    """Input -> the preceding 3x3 convolution -> the option (-> a further 3x3 convolution)."""
    layers = [config["pre"], config[option]]
    if with_next:
        channels = _hwc(config["input"], config["layout"])[2]
        layers.append({**_NEXT_CONV, "filters": channels})
    return stack_json(config["input"], layers, config["layout"])


# ---------------------------------------------------------------- generation


def _draw(draws: Draws, difficulty: int) -> dict[str, Any]:
    """One candidate configuration (`generate` checks it with the solver)."""
    if difficulty == 1:
        side = draws.between(8, 19)
        channels = pick(draws, (3, 4, 8, 16))
        return {
            "layout": "HWC",
            "input": [side, side, channels],
            "pre": {"type": "conv2d", "filters": channels, "kernel": 3},
            "pool": {"type": "maxpool2d", "kernel": 2},
            "conv": {
                "type": "conv2d",
                "filters": channels,
                "kernel": pick(draws, (2, 3)),
                "stride": 2,
            },
        }
    layout = pick(draws, ("HWC", "CHW") if difficulty == 2 else ("CHW", "CHW", "HWC"))
    sides = range(12, 33) if difficulty == 2 else range(16, 65)
    channels = pick(draws, (8, 16, 32, 64) if difficulty == 2 else (16, 32, 64, 128))
    hwc = [pick(draws, sides), pick(draws, sides), channels]
    pre: LayerJSON = {"type": "conv2d", "filters": channels, "kernel": 3}
    padding = pick(draws, ("none", "same", "int"))
    if padding == "same":
        pre["padding"] = "same"
    elif padding == "int":
        pre["padding"] = 1
    conv: LayerJSON = {
        "type": "conv2d",
        "filters": channels,
        "kernel": pick(draws, (2, 3, 3)),
        "stride": 2,
    }
    conv_padding = pick(draws, ("none", "same", "int"))
    if conv_padding == "same":
        conv["padding"] = "same"
    elif conv_padding == "int" and conv["kernel"] == 3:
        conv["padding"] = 1
    pool: LayerJSON = {"type": "maxpool2d", "kernel": 2}
    if difficulty >= 3:
        if draws.random() < 0.3:
            pre["dilation"] = 2
            pre["padding"] = pick(draws, ("same", 2))
        variant = pick(draws, ("plain", "overlapping", "ceil"))
        if variant == "overlapping":
            pool = {"type": "maxpool2d", "kernel": 3, "stride": 2, "padding": 1}
        elif variant == "ceil":
            pool["ceil_mode"] = True
        if draws.random() < 0.25:
            conv["bias"] = False
    return {
        "layout": layout,
        "input": _in_layout(hwc, layout),
        "pre": pre,
        "pool": pool,
        "conv": conv,
    }


Steps = tuple[LayerStep, LayerStep, LayerStep]


def _steps(config: Mapping[str, Any]) -> Steps:
    """The solver's steps of the preceding convolution on the input, and of the pool and
    the strided convolution on its output (raises SpecError where the solver refuses one)."""
    pre = layer_step_for(config["pre"], _hwc(config["input"], config["layout"]))
    return pre, layer_step_for(config["pool"], pre.shape), layer_step_for(config["conv"], pre.shape)


def _fitting_steps(config: Mapping[str, Any]) -> Steps | None:
    """`_steps`, if both options solve and leave at least 2x2 outputs; else None."""
    try:
        steps = _steps(config)
    except SpecError:
        return None
    return steps if min(steps[1].shape[:2]) >= 2 and min(steps[2].shape[:2]) >= 2 else None


_FALLBACK = {
    "layout": "HWC",
    "input": [12, 12, 8],
    "pre": {"type": "conv2d", "filters": 8, "kernel": 3},
    "pool": {"type": "maxpool2d", "kernel": 2},
    "conv": {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 2},
}


def generate(rng: np.random.Generator, difficulty: int) -> Draft:
    """A preceding 3x3 convolution, then a max pool (A) or a stride-2 convolution (B): their
    shapes, parameters and receptive fields (from difficulty 2 also the receptive field of a
    further 3x3 convolution after each), and which one learns its downsampling."""
    config, steps = draw_until(
        Draws(rng), lambda d: _draw(d, difficulty), _fitting_steps, _FALLBACK
    )
    return draft_for(config, with_next=difficulty >= 2, steps=steps)


# The parts whose wording does not depend on the variant (made once: parts are frozen).
_COUNT_PARTS = (
    Part("pool_params", "Param # of option A", "int"),
    Part("conv_params", "Param # of option B", "int"),
    Part(
        "pool_rf",
        "Receptive field size (side, in input pixels) of one output unit of option A",
        "int",
        hint_text=whole_number_hint(7),
    ),
    Part(
        "conv_rf",
        "Receptive field size (side, in input pixels) of one output unit of option B",
        "int",
        hint_text=whole_number_hint(7),
    ),
)
_NEXT_PARTS = (
    Part(
        "pool_rf_next",
        "Receptive field size of a unit of a further 3x3 convolution "
        "(padding same) placed after option A",
        "int",
        hint_text=whole_number_hint(7),
        depends_on=("pool_rf",),
    ),
    Part(
        "conv_rf_next",
        "Receptive field size of a unit of a further 3x3 convolution "
        "(padding same) placed after option B",
        "int",
        hint_text=whole_number_hint(7),
        depends_on=("conv_rf",),
    ),
)
_LEARNS_PART = Part(
    "learns",
    "Which option learns how it downsamples (has weights trained by gradient descent)?",
    "choice",
    choices=CHOICES,
)


def draft_for(config: Mapping[str, Any], *, with_next: bool, steps: Steps | None = None) -> Draft:
    """The problem for a given input, preceding convolution, pool and strided convolution
    (`steps`: their `_steps`, if the caller has them already)."""
    pool_label, conv_label = layer_label(config["pool"]), layer_label(config["conv"])
    pre_label = layer_label(config["pre"])
    layout = config["layout"]
    # Both options output an image: three sizes in the input's layout.
    hint, axes = shape_hint(layout), shape_axes(layout, 3)
    parts = [
        Part("pool_shape", f"Output shape of option A ({pool_label})", "shape",
             hint_text=hint, axes=axes),
        Part("conv_shape", f"Output shape of option B ({conv_label})", "shape",
             hint_text=hint, axes=axes),
        *_COUNT_PARTS,
        *(_NEXT_PARTS if with_next else ()),
        _LEARNS_PART,
    ]
    order = "(height, width, channels)" if layout == "HWC" else "(channels, height, width)"
    statement = (
        text_block(
            f"The input is {shape_text(config['input'])} in {layout} layout {order}, no batch "
            f"dimension. It goes through a {pre_label}, then either option A, a "
            "max pool, or option B, a stride-2 convolution with as many filters as it has input "
            "channels. Receptive fields are measured in pixels of the input, on one side (all "
            "windows here are square)."
        ),
        text_block("Option A:"),
        stack_block(
            _stack(config, "pool", False),
            [("output_shape", "Output Shape")],
            {(_OPTION, "output_shape"): "pool_shape"},
            labels=(pre_label, pool_label),
            note=False,
        ),
        text_block("Option B:"),
        stack_block(
            _stack(config, "conv", False),
            [("output_shape", "Output Shape")],
            {(_OPTION, "output_shape"): "conv_shape"},
            labels=(pre_label, conv_label),
        ),
    )
    answers = _answers(config, with_next, _steps(config) if steps is None else steps)
    return Draft(
        "Max pool or strided convolution",
        statement,
        tuple(parts),
        answers,
        {**{k: config[k] for k in _CONFIG_KEYS}, "with_next": with_next},
    )


def _rf(solution: Solution, index: int) -> int:
    field = solution.layers[index].receptive_field
    assert field is not None  # the layers here are all spatial
    return int(field.size[0])


def _answers(config: Mapping[str, Any], with_next: bool, steps: Steps) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    pre = steps[_PRE]
    for (option, _letter), step in zip(_OPTIONS, steps[1:], strict=True):
        stack = _stack(config, option, with_next)
        tried = [pre, step]
        if with_next:
            tried.append(layer_step_for(stack["layers"][_NEXT], step.shape))
        solution = solve_steps(stack, tried)
        answers[f"{option}_shape"] = list(solution.layers[_OPTION].output_shape)
        answers[f"{option}_params"] = solution.layers[_OPTION].params
        answers[f"{option}_rf"] = _rf(solution, _OPTION)
        if with_next:
            answers[f"{option}_rf_next"] = _rf(solution, _NEXT)
    answers["learns"] = LEARNS
    return answers


# ---------------------------------------------------------------- follow-through


def follow_through(problem: Problem, part_id: str, given: Mapping[str, Any]) -> Any:
    """The next convolution's receptive field grown from the student's own one for the option."""
    if part_id not in ("pool_rf_next", "conv_rf_next"):
        return None
    option = part_id.split("_")[0]
    growth = problem.answers[part_id] - problem.answers[f"{option}_rf"]
    return given[f"{option}_rf"] + growth


# ---------------------------------------------------------------- wrong models


def _config(problem: Problem) -> dict[str, Any]:
    return {k: problem.params[k] for k in _CONFIG_KEYS}


def _vary(
    config: Mapping[str, Any], change: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> dict[str, Any] | None:
    """A copy of the configuration with `change` applied to every layer; None if none changed."""
    new = dict(config)
    changed = False
    for key in ("pre", "pool", "conv"):
        result = change(dict(config[key]))
        if result is not None and result != config[key]:
            new[key] = result
            changed = True
    return new if changed else None


def _shape_rf_answers(config: Mapping[str, Any] | None, with_next: bool) -> dict[str, Any]:
    """Shapes and receptive fields of a (changed) configuration, where the solver takes it."""
    if config is None:
        return {}
    values: dict[str, Any] = {}
    for option, _letter in _OPTIONS:
        solution = try_solve(_stack(config, option, with_next))
        if solution is None:
            continue
        values[f"{option}_shape"] = list(solution.layers[_OPTION].output_shape)
        values[f"{option}_rf"] = _rf(solution, _OPTION)
        if with_next:
            values[f"{option}_rf_next"] = _rf(solution, _NEXT)
    return values


def _changes() -> list[
    tuple[str, Callable[[dict[str, Any]], dict[str, Any] | None], tuple[str, ...]]
]:
    """(misconception, change to a layer, the kinds of part it explains)."""

    def stride_one(layer: dict[str, Any]) -> dict[str, Any] | None:
        if layer["type"] == "maxpool2d" or layer.get("stride", 1) != 1:
            return {**layer, "stride": 1}
        return None

    def padding_forgotten(layer: dict[str, Any]) -> dict[str, Any] | None:
        if isinstance(layer.get("padding"), int) and layer["padding"]:
            return {**layer, "padding": 0}
        return None

    def same_as_valid(layer: dict[str, Any]) -> dict[str, Any] | None:
        return {**layer, "padding": "valid"} if layer.get("padding") == "same" else None

    def dilation_ignored(layer: dict[str, Any]) -> dict[str, Any] | None:
        return {k: v for k, v in layer.items() if k != "dilation"} if "dilation" in layer else None

    # A stride of 1 leaves the jump at 1: the next layer then adds only (k - 1), which is the
    # receptive field grown by kernel sizes alone.
    return [
        ("rf_without_jump", stride_one, ("rf_next",)),
        ("stride_forgotten", stride_one, ("shape",)),
        ("padding_forgotten", padding_forgotten, ("shape",)),
        ("same_as_valid", same_as_valid, ("shape",)),
        ("dilation_ignored", dilation_ignored, ("shape", "rf", "rf_next")),
    ]


def wrong_models(problem: Problem) -> Iterable[WrongModel]:
    """The answers of the named mistakes: the layers changed as each mistake changes them and
    solved again; parameters of a pool taken for a convolution; shapes in the other layout."""
    config = _config(problem)
    layout = config["layout"]
    with_next = bool(problem.params["with_next"])
    correct = problem.answers
    for mid, change, explains in _changes():
        values = _shape_rf_answers(_vary(config, change), with_next)
        wrong = {
            pid: v
            for pid, v in values.items()
            if pid.split("_", 1)[1] in explains and v != correct[pid]
        }
        if wrong:
            yield mid, wrong
    # The option's stride taken as widening its own units: as if the jump were already s.
    grown = {}
    for option, _letter in _OPTIONS:
        layer = config[option]
        stride = layer.get("stride", layer["kernel"] if layer["type"] == "maxpool2d" else 1)
        solution = try_solve(
            _stack({**config, "pre": {**config["pre"], "stride": stride}}, option, False)
        )
        if solution is not None and _rf(solution, _OPTION) != correct[f"{option}_rf"]:
            grown[f"{option}_rf"] = _rf(solution, _OPTION)
    if grown:
        yield "rf_stride_as_growth", grown
    # Parameters.
    pre_out = solve_stack(_stack(config, "pool", False)).layers[_PRE].output_shape
    channels = _hwc(pre_out, layout)[2]
    as_conv: LayerJSON = {
        "type": "conv2d",
        "filters": channels,
        "kernel": config["pool"]["kernel"],
        "padding": "same",
    }
    for layer in (
        {**as_conv, "groups": channels, "bias": False},
        {**as_conv, "groups": channels},
        as_conv,
    ):
        yield "pooling_has_params", {"pool_params": _params(layer, pre_out, layout)}
    conv = config["conv"]
    if conv.get("bias", True):
        yield "bias_forgotten", {"conv_params": _params({**conv, "bias": False}, pre_out, layout)}
    one_channel = _in_layout([*_hwc(pre_out, layout)[:2], 1], layout)
    yield "input_channels_forgotten", {"conv_params": _params(conv, one_channel, layout)}
    # Shapes: the other layout's order; a window count off by one.
    if layout == "CHW":
        swapped = {
            f"{o}_shape": [*correct[f"{o}_shape"][1:], correct[f"{o}_shape"][0]]
            for o, _letter in _OPTIONS
        }
        yield "layout_swapped", {pid: v for pid, v in swapped.items() if v != correct[pid]}
    spatial = (0, 1) if layout == "HWC" else (1, 2)
    for delta in (-1, 1):
        off = {}
        for option, _letter in _OPTIONS:
            shape = list(correct[f"{option}_shape"])
            for axis in spatial:
                shape[axis] += delta
            if min(shape) >= 1:
                off[f"{option}_shape"] = shape
        yield "off_by_one_windows", off


def _params(layer: LayerJSON, in_shape: Sequence[int], layout: str) -> int | None:
    result = try_solve(stack_json(list(in_shape), [layer], layout))
    return None if result is None else result.layers[0].params


# ---------------------------------------------------------------- worked solution


def _n(value: int) -> str:
    """A number for KaTeX: thousands separated by {,} so the comma gets no space after it."""
    return f"{value:,}".replace(",", "{,}")


def _pair(layer: Mapping[str, Any], key: str, default: Any) -> tuple[Any, Any]:
    value = layer.get(key, default)
    return (value[0], value[1]) if isinstance(value, list) else (value, value)


def _axis_math(layer: Mapping[str, Any], size: int, axis: int) -> str:
    """The output-size formula of one axis with the numbers in."""
    kernel = _pair(layer, "kernel", 1)[axis]
    stride = _pair(layer, "stride", kernel if layer["type"] == "maxpool2d" else 1)[axis]
    dilation = _pair(layer, "dilation", 1)[axis]
    ceil = bool(layer.get("ceil_mode"))
    if layer.get("padding") == "same":
        windows = axis_windows(size, kernel, stride, "same", dilation, ceil)
        return f"\\lceil {size} / {stride} \\rceil = {windows.out}"
    p = 0 if layer.get("padding", "valid") == "valid" else int(_pair(layer, "padding", 0)[axis])
    windows = axis_windows(size, kernel, stride, p, dilation, ceil)
    left, right = ("\\lceil", "\\rceil") if ceil else ("\\lfloor", "\\rfloor")
    return f"{left} ({size} + 2\\cdot{p} - {windows.k_eff}) / {stride} {right} + 1 = {windows.out}"


def _shape_step(config: Mapping[str, Any], option: str, letter: str, solution: Solution) -> Step:
    layout = config["layout"]
    layer = config[option]
    pre_out = solution.layers[_PRE].output_shape
    hw = _hwc(pre_out, layout)[:2]
    math = tuple(
        f"{name}: {_axis_math(layer, hw[axis], axis)}" for axis, name in enumerate(("H", "W"))
    )
    keeps = "pooling keeps the channels" if option == "pool" else "one output channel per filter"
    return Step(
        f"Option {letter}: {layer_label(layer)}",
        f"After the first convolution the map is {shape_text(pre_out)}; {keeps}: "
        f"{shape_text(solution.layers[_OPTION].output_shape)}.",
        math,
    )


def worked(problem: Problem) -> list[Step]:
    """Shapes per axis, the parameters, the receptive fields step by step, and the choice."""
    config = _config(problem)
    layout = config["layout"]
    with_next = bool(problem.params["with_next"])
    answers = problem.answers
    solutions = {
        option: solve_stack(_stack(config, option, with_next)) for option, _letter in _OPTIONS
    }
    steps = [_shape_step(config, option, letter, solutions[option]) for option, letter in _OPTIONS]
    conv = config["conv"]
    kh, kw = _pair(conv, "kernel", 1)
    c_in = _hwc(solutions["conv"].layers[_PRE].output_shape, layout)[2]
    bias = conv.get("bias", True)
    steps.append(
        Step(
            "Parameters",
            "The max pool has no weights: it keeps the largest value of each window. The strided "
            f"convolution has {conv['filters']} filters of {kh}x{kw}x{c_in} weights"
            + (" and one bias each." if bias else " and no bias."),
            (
                "\\text{A: } 0",
                f"\\text{{B: }} k_h k_w C_{{in}} F{' + F' if bias else ''} = "
                f"{kh}\\cdot{kw}\\cdot{c_in}\\cdot{conv['filters']}"
                + (f" + {conv['filters']}" if bias else "")
                + f" = {_n(answers['conv_params'])}",
            ),
        )
    )
    pre_rf = _rf(solutions["pool"], _PRE)
    pre_keff = _pair(config["pre"], "dilation", 1)[0] * 2 + 1
    rf_math = [f"\\text{{first conv: }} r = 1 + ({pre_keff}-1)\\cdot 1 = {pre_rf},\\ j = 1"]
    for option, letter in _OPTIONS:
        layer = config[option]
        k = _pair(layer, "kernel", 1)[0]
        field = solutions[option].layers[_OPTION].receptive_field
        assert field is not None
        rf_math.append(
            f"\\text{{{letter}: }} r = {pre_rf} + ({k}-1)\\cdot 1 = {field.size[0]},\\ "
            f"j = 1\\cdot{field.jump[0]} = {field.jump[0]}"
        )
        if with_next:
            rf_math.append(
                f"\\text{{{letter} then 3x3: }} r = {field.size[0]} + (3-1)\\cdot{field.jump[0]}"
                f" = {answers[f'{option}_rf_next']}"
            )
    steps.append(
        Step(
            "Receptive fields",
            "Each windowed layer adds (k_eff - 1) times the current jump; its stride multiplies "
            "the jump for the layers after it. Both options have stride 2, so both double the "
            "jump: a layer after either one grows the receptive field twice as fast.",
            tuple(rf_math),
        )
    )
    steps.append(
        Step(
            "Which one learns its downsampling",
            "The strided convolution's weights are trained by gradient descent, so it learns how "
            "to summarize each window; the max pool applies a fixed rule (keep the largest value) "
            f"with no parameters. Answer: {LEARNS}.",
        )
    )
    return steps
