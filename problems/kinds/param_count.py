"""Fill the Param # column of a summary table and its totals, as Keras counts them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from problems.kinds.base import Draft, Part, Problem, Step, WrongModel
from problems.kinds.draws import Draws
from problems.kinds.stacks import (
    LayerJSON,
    layer_label,
    next_layer,
    pick,
    shape_text,
    solve_stack,
    solve_steps,
    stack_block,
    stack_json,
    text_block,
    try_solve,
)
from problems.solver import LayerStep, Solution

NAME = "param_count"
TITLE = "Parameter counts"
SUMMARY = "Fill the Param # column of a layer stack's summary table and the total."

_WINDOWED_POOLS = ("maxpool2d", "avgpool2d")
_GLOBAL_POOLS = ("global_maxpool2d", "global_avgpool2d")
_POOLS = (*_WINDOWED_POOLS, *_GLOBAL_POOLS)
_WEIGHTED = ("conv2d", "dense", "batchnorm")


def _part_id(index: int) -> str:
    return f"params_{index}"


def _hwc(shape: Sequence[int], layout: str) -> list[int]:
    """A layout shape as (H, W, C); a 1-D shape as it is."""
    if len(shape) == 3 and layout == "CHW":
        return [shape[1], shape[2], shape[0]]
    return list(shape)


def _in_layout(hwc: Sequence[int], layout: str) -> list[int]:
    if len(hwc) == 3 and layout == "CHW":
        return [hwc[2], hwc[0], hwc[1]]
    return list(hwc)


# ---------------------------------------------------------------- generation


def _conv(draws: Draws, difficulty: int, channels: int, first: bool) -> LayerJSON:
    """A convolution: small and plain at difficulty 1; padding, stride and no bias from 2;
    groups (grouped or depthwise) and dilation at 3."""
    if difficulty == 1:
        return {
            "type": "conv2d",
            "filters": pick(draws, (4, 8, 16)),
            "kernel": pick(draws, (3, 3, 5)),
        }
    filters = pick(draws, (8, 16, 32, 64) if difficulty == 2 else (16, 32, 48, 64, 128))
    kernel = pick(draws, (1, 3, 3, 5))
    layer: LayerJSON = {"type": "conv2d", "filters": filters, "kernel": kernel}
    padding = pick(draws, ("none", "same", "valid", "int"))
    if padding == "int" and kernel > 1:
        layer["padding"] = kernel // 2
    elif padding in ("same", "valid"):
        layer["padding"] = padding
    if draws.random() < 0.25:
        layer["stride"] = 2
    if difficulty >= 3:
        if not first and draws.random() < 0.6:
            if draws.random() < 0.5:
                # Depthwise: one group per input channel, a channel multiplier of 1 or 2.
                layer["groups"] = channels
                layer["filters"] = channels * pick(draws, (1, 2))
            else:
                groups = [g for g in (2, 4, 8) if channels % g == 0 and filters % g == 0]
                if groups:
                    layer["groups"] = pick(draws, groups)
        if kernel > 1 and draws.random() < 0.2:
            layer["dilation"] = 2
    if draws.random() < 0.25:
        layer["bias"] = False
    return layer


def _pool(draws: Draws, difficulty: int) -> LayerJSON:
    if difficulty == 1:
        return {"type": "maxpool2d", "kernel": 2}
    layer: LayerJSON = {
        "type": pick(draws, ("maxpool2d", "maxpool2d", "avgpool2d")),
        "kernel": pick(draws, (2, 3)),
    }
    if layer["kernel"] == 3 and draws.random() < 0.5:
        layer["stride"] = 2
    if difficulty >= 3 and draws.random() < 0.3:
        layer["ceil_mode"] = True
    return layer


def random_param_stack(draws: Draws, difficulty: int) -> tuple[dict[str, Any], Solution]:
    """A stack of 2-3 (at difficulty 3, 2-4) convolutions with optional batch norm, ReLU
    and pooling, then flatten or a global pool and one or two dense layers; and its
    solution."""
    layout = (
        "HWC"
        if difficulty == 1
        else pick(draws, ("HWC", "CHW") if difficulty == 2 else ("CHW", "CHW", "HWC"))
    )
    if difficulty == 1:
        side = pick(draws, (8, 10, 12, 14, 16))
        hw = [side, side]
    else:
        sides = range(12, 33) if difficulty == 2 else range(16, 65)
        hw = [pick(draws, sides), pick(draws, sides)]
    hwc: Sequence[int] = [*hw, pick(draws, (1, 3) if difficulty < 3 else (3, 8, 16))]
    input_shape = _in_layout(hwc, layout)
    n_convs = int(draws.between(2, 4) if difficulty < 3 else draws.between(2, 5))
    layers: list[LayerJSON] = []
    steps: list[LayerStep] = []  # each layer's step, as the solver took it when it was tried
    labels: list[str] = []

    def add(layer: LayerJSON) -> bool:
        nonlocal hwc
        tried = next_layer(layer, hwc)
        if tried is None:
            return False
        step, label = tried
        if len(step.shape) == 3 and min(step.shape[:2]) < 2:
            return False
        layers.append(layer)
        steps.append(step)
        labels.append(label)
        hwc = step.shape
        return True

    for k in range(n_convs):
        for _attempt in range(10):
            if add(_conv(draws, difficulty, hwc[2], first=k == 0)):
                break
        if difficulty >= 2 and layers[-1]["type"] == "conv2d":
            if draws.random() < 0.45:
                add({"type": "batchnorm"})
            if draws.random() < 0.35:
                add({"type": "relu"})
        # A pool only where the convolutions after it still fit comfortably.
        if draws.random() < (0.4 if difficulty == 1 else 0.35) and min(hwc[:2]) >= 10 + 2 * (
            n_convs - 1 - k
        ):
            add(_pool(draws, difficulty))
    if difficulty == 1:
        # Keep the dense layer's weights a by-hand multiplication.
        if hwc[0] * hwc[1] * hwc[2] > 2500:
            add({"type": "maxpool2d", "kernel": 2})
        tail = "flatten"
    else:
        tail = pick(draws, ("flatten", "flatten", *_GLOBAL_POOLS))
        if difficulty == 2 and hwc[0] * hwc[1] * hwc[2] > 8192:
            tail = pick(draws, _GLOBAL_POOLS)
    add({"type": tail})
    if difficulty >= 3 and draws.random() < 0.4:
        add({"type": "dense", "units": pick(draws, (64, 128, 256))})
        if draws.random() < 0.5:
            add({"type": "relu"})
    dense: LayerJSON = {
        "type": "dense",
        "units": pick(draws, (10, 16) if difficulty == 1 else (10, 10, 16, 32, 100)),
    }
    if difficulty >= 2 and draws.random() < 0.15:
        dense["bias"] = False
    add(dense)
    stack = stack_json(input_shape, layers, layout, copy=False)
    return stack, solve_steps(stack, steps), labels


def _asked(draws: Draws, difficulty: int, layer: LayerJSON) -> bool:
    """Layers with weights always; from difficulty 2 some without, so that a student who
    gives pooling parameters can be told."""
    if layer["type"] in _WEIGHTED:
        return True
    if difficulty == 1:
        return False
    chance = 0.7 if layer["type"] in _POOLS else 0.3
    return draws.random() < chance


def generate(rng: np.random.Generator, difficulty: int) -> Draft:
    """A random stack; one Param # part per layer (layers without weights shown as 0 at
    difficulty 1), the total, and the trainable total when there is batch norm."""
    draws = Draws(rng)
    stack, solution, labels = random_param_stack(draws, difficulty)
    asked = [_asked(draws, difficulty, layer) for layer in stack["layers"]]
    return draft_for(stack, asked, show_shapes=difficulty <= 2, ask_trainable=difficulty >= 2,
                     solution=solution, labels=labels)


def draft_for(
    stack: Mapping[str, Any],
    asked: Sequence[bool],
    *,
    show_shapes: bool,
    ask_trainable: bool,
    solution: Solution | None = None,
    labels: Sequence[str] | None = None,
) -> Draft:
    """The problem for a given stack: a part for each asked layer (the others shown as 0),
    the total, and the trainable total if `ask_trainable` and there is batch norm.
    `solution` is the stack's solution if the caller has it already."""
    if solution is None:
        solution = solve_stack(stack)
    layers = stack["layers"]
    results = solution.layers
    if labels is None:
        labels = [layer_label(layer) for layer in layers]
    parts: list[Part] = []
    answers: dict[str, Any] = {}
    cells: dict[tuple[int, str], str] = {}  # the asked layers' Param # cells
    shown: dict[tuple[int, str], str] = {}  # the others' (0), and the shapes if shown
    not_bn: list[str] = []  # the asked layers' parts, batch norm's left out
    has_bn = False
    for i, label in enumerate(labels):
        is_bn = layers[i]["type"] == "batchnorm"
        has_bn = has_bn or is_bn
        if asked[i]:
            part_id = _part_id(i)
            parts.append(Part(part_id, f"Param # of layer {i} ({label})", "int"))
            answers[part_id] = results[i].params
            cells[(i, "param_count")] = part_id
            if not is_bn:
                not_bn.append(part_id)
        else:
            shown[(i, "param_count")] = "0"
        if show_shapes:
            shown[(i, "output_shape")] = shape_text(results[i].output_shape)
    parts.append(Part("total", "Total params", "int", depends_on=tuple(answers)))
    footer = [("Total params", "total")]
    answers["total"] = solution.total_params
    if ask_trainable and has_bn:
        parts.append(Part("trainable", "Trainable params", "int", depends_on=tuple(not_bn)))
        footer.append(("Trainable params", "trainable"))
        answers["trainable"] = solution.trainable_params
    columns = (
        [("output_shape", "Output Shape"), ("param_count", "Param #")]
        if show_shapes
        else [("param_count", "Param #")]
    )
    order = "(height, width, channels)" if stack["layout"] == "HWC" else "(channels, height, width)"
    statement = (
        text_block(
            f"The input is {shape_text(stack['input'])} in {stack['layout']} layout {order}, "
            "no batch dimension. Fill the Param # column the way Keras' model.summary() counts "
            "it (batch normalization: all four values per channel, trainable or not), then the "
            "total" + (" and the trainable total." if len(footer) > 1 else ".")
        ),
        stack_block(stack, columns, cells, shown, footer, labels),
    )
    return Draft(
        "Parameters of a layer stack",
        statement,
        tuple(parts),
        answers,
        {"stack": dict(stack), "asked": list(asked)},
    )


# ---------------------------------------------------------------- follow-through


def follow_through(problem: Problem, part_id: str, given: Mapping[str, Any]) -> Any:
    """A total from the student's own per-layer counts (shown rows at their shown value)."""
    if part_id not in ("total", "trainable"):
        return None
    solution = solve_stack(problem.params["stack"])
    total = 0
    for i, (layer, result) in enumerate(
        zip(problem.params["stack"]["layers"], solution.layers, strict=True)
    ):
        if part_id == "trainable" and layer["type"] == "batchnorm":
            total += result.trainable_params
        elif problem.params["asked"][i]:
            total += int(given[_part_id(i)])
        else:
            total += result.params
    return total


# ---------------------------------------------------------------- wrong models


def _params(layer: LayerJSON, in_shape: Sequence[int], layout: str) -> int | None:
    """The solver's Param # of one layer on a given input, or None where it refuses."""
    result = try_solve(stack_json(list(in_shape), [layer], layout))
    return None if result is None else result.layers[0].params


def _layer_mistakes(
    layers: Sequence[LayerJSON],
    index: int,
    inputs: Sequence[Sequence[int]],
    solution: Solution,
    layout: str,
) -> Iterable[tuple[str, int | None]]:
    """The Param # each wrong model gives for one layer, through the solver with the layer
    (or its input) changed the way the wrong model changes it."""
    layer = dict(layers[index])
    in_shape = inputs[index]
    in_hwc = _hwc(in_shape, layout)
    kind = layer["type"]
    if kind in ("conv2d", "dense"):
        if layer.get("bias", True):
            no_bias = _params({**layer, "bias": False}, in_shape, layout)
            yield "bias_forgotten", no_bias
            # One bias per input channel (or input feature) instead of one per filter.
            yield "bias_per_input_channel", None if no_bias is None else no_bias + in_hwc[-1]
    if kind == "conv2d":
        if layer.get("groups", 1) != 1:
            yield (
                "groups_ignored",
                _params({k: v for k, v in layer.items() if k != "groups"}, in_shape, layout),
            )
        single = {k: v for k, v in layer.items() if k != "groups"}
        yield (
            "input_channels_forgotten",
            _params(single, _in_layout([*in_hwc[:2], 1], layout), layout),
        )
    if kind == "batchnorm":
        yield "batchnorm_trainable_only", solution.layers[index].trainable_params
    if kind in _POOLS:
        # A pooling layer taken for a convolution: depthwise (one kernel per channel, with
        # or without bias) or full (C filters over all C channels).
        channels = in_hwc[2]
        kernel = layer.get("kernel", [in_hwc[0], in_hwc[1]])
        conv: LayerJSON = {
            "type": "conv2d",
            "filters": channels,
            "kernel": kernel,
            "padding": "same",
        }
        yield (
            "pooling_has_params",
            _params({**conv, "groups": channels, "bias": False}, in_shape, layout),
        )
        yield "pooling_has_params", _params({**conv, "groups": channels}, in_shape, layout)
        yield "pooling_has_params", _params(conv, in_shape, layout)
    if kind == "dense" and index > 0:
        before = layers[index - 1]["type"]
        flat_in = _hwc(inputs[index - 1], layout)
        if len(flat_in) == 3 and before == "flatten":
            # Flattened as H*W, the channels left out.
            yield "flatten_wrong_size", _params(layer, [flat_in[0] * flat_in[1]], layout)
            if index >= 2 and layers[index - 2]["type"] in _WINDOWED_POOLS:
                # Flattened the map before the pooling layer.
                pre = _hwc(inputs[index - 2], layout)
                yield "flatten_wrong_size", _params(layer, [pre[0] * pre[1] * pre[2]], layout)
        if len(flat_in) == 3 and before in _GLOBAL_POOLS:
            yield (
                "global_pool_as_flatten",
                _params(layer, [flat_in[0] * flat_in[1] * flat_in[2]], layout),
            )


def wrong_models(problem: Problem) -> Iterable[WrongModel]:
    """Per layer, the Param # each named mistake gives; then the totals of a student who
    makes that mistake on every layer it applies to."""
    stack = problem.params["stack"]
    asked = problem.params["asked"]
    layout = stack["layout"]
    layers = stack["layers"]
    solution = solve_stack(stack)
    inputs = [list(stack["input"]), *(list(r.output_shape) for r in solution.layers[:-1])]
    first: dict[str, dict[int, int]] = {}
    for index in range(len(layers)):
        for mid, value in _layer_mistakes(layers, index, inputs, solution, layout):
            if value is None or value == solution.layers[index].params:
                continue
            if asked[index]:
                yield mid, {_part_id(index): value}
                first.setdefault(mid, {}).setdefault(index, value)
    has_trainable = "trainable" in problem.answers
    for mid, changes in first.items():
        delta = sum(v - solution.layers[i].params for i, v in changes.items())
        totals: dict[str, int] = {}
        if delta:
            totals["total"] = solution.total_params + delta
        delta_t = sum(
            v - solution.layers[i].params
            for i, v in changes.items()
            if layers[i]["type"] != "batchnorm"
        )
        if has_trainable and delta_t:
            totals["trainable"] = solution.trainable_params + delta_t
        if totals:
            yield mid, totals
    if has_trainable:
        yield "batchnorm_stats_trainable", {"trainable": solution.total_params}


# ---------------------------------------------------------------- worked solution


def _n(value: int) -> str:
    """A number for KaTeX: thousands separated by {,} so the comma gets no space after it."""
    return f"{value:,}".replace(",", "{,}")


def _mul(*factors: Any) -> str:
    return "\\cdot".join(_n(f) if isinstance(f, int) else str(f) for f in factors)


def _kernel_pair(layer: Mapping[str, Any]) -> tuple[int, int]:
    kernel = layer["kernel"]
    return (kernel[0], kernel[1]) if isinstance(kernel, list) else (kernel, kernel)


def _layer_step(
    layer: Mapping[str, Any],
    index: int,
    in_shape: Sequence[int],
    layout: str,
    params: int,
    trainable: int,
    before: Mapping[str, Any] | None,
    before_in: Sequence[int] | None,
) -> Step:
    """One row of the table: its formula with the numbers substituted."""
    kind = layer["type"]
    title = f"Layer {index}: {layer_label(layer)}"
    in_hwc = _hwc(in_shape, layout)
    if kind == "conv2d":
        kh, kw = _kernel_pair(layer)
        groups = layer.get("groups", 1)
        filters = layer["filters"]
        c_in = in_hwc[2]
        seen = c_in // groups
        channel = f"\\frac{{{c_in}}}{{{groups}}}" if groups != 1 else c_in
        bias = layer.get("bias", True)
        formula = f"k_h k_w \\frac{{C_{{in}}}}{{g}} F{' + F' if bias else ''}"
        numbers = (
            f"{_mul(kh, kw, channel, filters)}{f' + {_n(filters)}' if bias else ''} = {_n(params)}"
        )
        sees = f"{seen} input channel{'s' if seen != 1 else ''}"
        text = (
            f"Each of the {filters} filters has {kh}x{kw} weights for each of the {sees} it sees"
            + (f" ({c_in} channels split into {groups} groups)" if groups != 1 else "")
            + ("; plus one bias per filter." if bias else "; no bias.")
        )
        return Step(title, text, (f"{formula} = {numbers}",))
    if kind == "dense":
        n = in_hwc[0]
        units = layer["units"]
        bias = layer.get("bias", True)
        math = []
        if before is not None and before_in is not None and before["type"] == "flatten":
            h, w, c = _hwc(before_in, layout)
            math.append(f"N_{{in}} = H\\cdot W\\cdot C = {_mul(h, w, c)} = {_n(n)}")
        elif before is not None and before["type"] in _GLOBAL_POOLS:
            math.append(f"N_{{in}} = C = {_n(n)}")
        math.append(
            f"N_{{in}} U{' + U' if bias else ''} = {_mul(n, units)}"
            f"{f' + {_n(units)}' if bias else ''} = {_n(params)}"
        )
        text = f"{n:,} inputs times {units} units" + (
            ", plus one bias per unit." if bias else ", no bias."
        )
        return Step(title, text, tuple(math))
    if kind == "batchnorm":
        c = in_hwc[-1]
        return Step(
            title,
            "Per channel: gamma and beta (trainable), running mean and variance (not trainable).",
            (
                f"4C = 4\\cdot{_n(c)} = {_n(params)}",
                f"\\text{{trainable: }} 2C = 2\\cdot{_n(c)} = {_n(trainable)}",
            ),
        )
    if kind in _POOLS:
        return Step(
            title, "Pooling has no weights: it takes the max (or the mean) of each window.", ("0",)
        )
    if kind == "flatten":
        return Step(title, "Flatten only rearranges the values: no weights.", ("0",))
    return Step(title, "An activation is applied value by value: no weights.", ("0",))


def worked(problem: Problem) -> list[Step]:
    """Layer by layer: the parameter formula with the numbers in; then the sums."""
    stack = problem.params["stack"]
    layout = stack["layout"]
    layers = stack["layers"]
    solution = solve_stack(stack)
    inputs = [list(stack["input"]), *(list(r.output_shape) for r in solution.layers[:-1])]
    steps = [
        Step(
            "The rules",
            "A convolution has kh*kw*(C_in/groups) weights per filter and one bias per "
            "filter (unless bias is false); a dense layer has one weight per input and unit, "
            "plus one bias per unit; batch normalization keeps 4 values per channel, 2 of them "
            "trainable; pooling, activations and flatten have none.",
            (
                "\\text{conv: } k_h k_w \\frac{C_{in}}{g} F + F",
                "\\text{dense: } N_{in} U + U",
                "\\text{batchnorm: } 4C",
            ),
        )
    ]
    for i, layer in enumerate(layers):
        result = solution.layers[i]
        steps.append(
            _layer_step(
                layer,
                i,
                inputs[i],
                layout,
                result.params,
                result.trainable_params,
                layers[i - 1] if i else None,
                inputs[i - 1] if i else None,
            )
        )
    terms = " + ".join(_n(r.params) for r in solution.layers)
    math = [f"{terms} = {_n(solution.total_params)}"]
    if "trainable" in problem.answers:
        total, frozen = _n(solution.total_params), _n(solution.non_trainable_params)
        math.append(f"\\text{{trainable: }} {total} - {frozen} = {_n(solution.trainable_params)}")
    steps.append(
        Step(
            "Totals",
            "Add up the Param # column; the batch-norm running statistics are the "
            "only non-trainable parameters.",
            tuple(math),
        )
    )
    return steps
