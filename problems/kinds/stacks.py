"""Layer stacks for problems: random valid stacks by difficulty, their labels and the
statement block that shows them as a summary table with answer cells.

Layers are kept as the spec's JSON dicts: that is what instructors read and what the solver
takes. Every number a problem asks for comes from `problems.solver`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from problems.answers import CHW_AXES, HWC_AXES, shape_examples
from problems.errors import SpecError
from problems.kinds.draws import Draws
from problems.solver import LayerStep, Solution, layer_step, solution_of, solve
from problems.spec import Layer, layer_key, layer_of_key, parse_layer, parse_layer_key, parse_stack

LayerJSON = dict[str, Any]


# `pick(draws, options)`: one of `options`, uniformly (reproducible by seed). Draws' own
# method, called without a wrapper: generators call it dozens of times per variant.
pick = Draws.pick


def stack_json(
    input_shape: Sequence[int], layers: Iterable[LayerJSON], layout: str = "HWC", *, copy: bool = True
) -> dict[str, Any]:
    """A `solve` body, with copies of the layers (unless `copy` is false: for a generator's
    own new layer dicts, which nothing else holds)."""
    taken = [dict(layer) for layer in layers] if copy else list(layers)
    return {"layout": layout, "input": list(input_shape), "layers": taken}


def solve_stack(stack: Mapping[str, Any]) -> Solution:
    """Solve a `solve` body (raises SpecError)."""
    return solve(parse_stack(stack))


def try_solve(stack: Mapping[str, Any]) -> Solution | None:
    """The solution, or None where the solver refuses the stack."""
    try:
        return solve_stack(stack)
    except SpecError:
        return None


def labelled_step(layer: Mapping[str, Any], hwc: Sequence[int]) -> tuple[LayerStep, str]:
    """The solver's step for one layer's JSON on an (H, W, C) or (N,) input, whatever the
    layout (its `shape` is the output, (H, W, C) or (N,) too), and the layer's
    `layer_label`; raises SpecError, its path starting "@" for the layer's own. The parsed
    layer and its label are cached; the step is not: a new variant's layers meet inputs
    seldom seen before, and a cache of steps would mostly miss and keep the garbage
    collector busy."""
    key = layer_key(layer)
    if key is None:
        return layer_step(parse_layer(layer, "@"), tuple(hwc)), layer_label(layer)
    parsed, label = _parsed_and_label(key)
    return layer_step(parsed, tuple(hwc)), label


@lru_cache(maxsize=16384)
def _parsed_and_label(key: tuple[Any, ...]) -> tuple[Layer, str]:
    """The parsed layer and the label of the layer JSON whose `layer_key` is `key` (raises
    SpecError): layers recur across variants, and one seen before then costs neither
    parsing nor formatting."""
    return parse_layer_key(key), layer_label(layer_of_key(key))


def layer_step_for(layer: Mapping[str, Any], hwc: Sequence[int]) -> LayerStep:
    """`labelled_step` without the label."""
    return labelled_step(layer, hwc)[0]


def next_layer(layer: Mapping[str, Any], hwc: Sequence[int]) -> tuple[LayerStep, str] | None:
    """`labelled_step`, or None where the solver refuses the layer."""
    try:
        return labelled_step(layer, hwc)
    except SpecError:
        return None


def solve_steps(stack: Mapping[str, Any], steps: Iterable[LayerStep]) -> Solution:
    """`solve_stack(stack)` for a valid stack whose layers the caller has tried out in order
    with `layer_step_for` (or `next_layer`), each on the one before's output: the same
    solution, from those steps."""
    return solution_of(tuple(stack["input"]), stack["layout"], steps)


def _pair_text(value: Any) -> str:
    if isinstance(value, list):
        return f"{value[0]}x{value[1]}" if value[0] != value[1] else f"{value[0]}x{value[0]}"
    return f"{value}x{value}"


def _pair_value(value: Any) -> str:
    if isinstance(value, list):
        return f"({value[0]}, {value[1]})" if value[0] != value[1] else str(value[0])
    return str(value)


_WITH_SETTINGS = frozenset({"conv2d", "maxpool2d", "avgpool2d", "minpool2d", "dense"})


def layer_label(layer: Mapping[str, Any]) -> str:
    """A readable one-line description of a layer with all its non-default settings."""
    kind = layer["type"]
    if len(layer) == 1 and kind not in _WITH_SETTINGS:
        return kind  # an activation, batch norm, flatten or global pool: nothing to add
    bits: list[str] = []
    if kind == "conv2d":
        bits.append(f"{layer['filters']} filters {_pair_text(layer['kernel'])}")
        if "stride" in layer and layer["stride"] not in (1, [1, 1]):
            bits.append(f"stride {_pair_value(layer['stride'])}")
    elif kind in ("maxpool2d", "avgpool2d", "minpool2d"):
        bits.append(_pair_text(layer["kernel"]))
        stride = layer.get("stride", layer["kernel"])
        bits.append(f"stride {_pair_value(stride)}")
    elif kind == "dense":
        bits.append(f"{layer['units']} units")
    if "padding" in layer:
        padding = layer["padding"]
        bits.append(f"padding {padding if isinstance(padding, str) else _pair_value(padding)}")
    if layer.get("dilation", 1) not in (1, [1, 1]):
        bits.append(f"dilation {_pair_value(layer['dilation'])}")
    if layer.get("groups", 1) != 1:
        bits.append(f"groups {layer['groups']}")
    if layer.get("ceil_mode"):
        bits.append("ceil_mode")
    if "count_include_pad" in layer:
        bits.append(f"count_include_pad {'true' if layer['count_include_pad'] else 'false'}")
    if layer.get("bias") is False:
        bits.append("no bias")
    return kind + (": " + ", ".join(bits) if bits else "")


# Under every layer table: what a layer's label leaves out (layer_label lists only the
# settings that differ from these).
DEFAULTS_NOTE = ('Settings not listed are the defaults: stride 1 for a convolution (a '
                 'pooling window\'s stride is listed), padding "valid" (none), dilation 1, '
                 'groups 1, a bias per filter or unit, no ceil_mode.')


def stack_block(
    stack: Mapping[str, Any],
    columns: Sequence[tuple[str, str]],
    cells: Mapping[tuple[int, str], str],
    shown: Mapping[tuple[int, str], str] | None = None,
    footer: Sequence[tuple[str, str]] = (),
    labels: Sequence[str] | None = None,
    note: bool = True,
) -> dict[str, Any]:
    """A summary-table block: one row per layer, `columns` as (key, title); `cells` maps
    (layer index, column key) to the part answered in that cell, `shown` to given text;
    `footer` rows as (label, part id), e.g. a total. `labels` are the layers' labels if
    the caller has them already. `note`: end it with DEFAULTS_NOTE (False for all but the
    last of several tables in one statement: once is enough)."""
    if labels is None:
        labels = [layer_label(layer) for layer in stack["layers"]]
    keys = [key for key, _title in columns]
    shown = shown or {}
    rows = []
    for index, layer in enumerate(stack["layers"]):
        row_cells: dict[str, Any] = {}
        for key in keys:
            at = (index, key)
            part = cells.get(at)
            if part is not None:
                row_cells[key] = {"part": part}
            elif at in shown:
                row_cells[key] = {"text": shown[at]}
        rows.append({"index": index, "label": labels[index], "layer": dict(layer), "cells": row_cells})
    return {
        "type": "stack",
        "layout": stack["layout"],
        "input": list(stack["input"]),
        "columns": [{"key": k, "title": t} for k, t in columns],
        "rows": rows,
        "footer": [{"label": label, "part": part} for label, part in footer],
        "note": DEFAULTS_NOTE if note else "",
    }


def text_block(text: str) -> dict[str, Any]:
    """A paragraph of the statement."""
    return {"type": "text", "text": text}


def shape_in_layout(hwc: Sequence[int], layout: str) -> list[int]:
    """An (H, W, C) shape in `layout`."""
    h, w, c = hwc
    return [h, w, c] if layout == "HWC" else [c, h, w]


def shape_text(shape: Sequence[int]) -> str:
    """`26x26x32`."""
    return "x".join(map(str, shape))


# The axis of a one-dimensional output (flatten, dense, global pooling), named in messages.
VECTOR_AXES = ("length",)


def shape_axes(layout: str, rank: int) -> tuple[str, ...]:
    """The axes of an output of `rank` sizes in `layout`: an image's three in the layout's
    order, or a vector's one (what a shape part's answer holds, see `Part.axes`)."""
    if rank == 1:
        return VECTOR_AXES
    if rank != 3:
        raise ValueError(f"an output has 1 or 3 sizes, not {rank}")
    return CHW_AXES if layout == "CHW" else HWC_AXES


def shape_hint(layout: str) -> str:
    """The hint of a shape part in `layout`: the answer type's own for HWC, an example in
    channels-first order for CHW (26x26x32 would tell a CHW student the wrong order). The
    same for every shape part of a problem: a hint per part would tell which outputs are
    vectors before the student works it out."""
    return "" if layout == "HWC" else f"a shape, e.g. {shape_examples(CHW_AXES)}"


# ---------------------------------------------------------------- random stacks

def _conv(draws: Draws, difficulty: int, channels: int) -> LayerJSON:
    layer: LayerJSON = {"type": "conv2d", "filters": pick(draws, (8, 16, 32, 64) if difficulty > 1 else (4, 8, 16, 32))}
    layer["kernel"] = pick(draws, (3, 5) if difficulty == 1 else (1, 3, 3, 5, 7))
    if difficulty >= 2:
        stride = pick(draws, (1, 1, 2))
        if stride != 1:
            layer["stride"] = stride
        padding = pick(draws, ("none", "int", "same", "valid"))
        if padding == "int":
            layer["padding"] = draws.between(1, layer["kernel"] // 2 + 2)
        elif padding in ("same", "valid"):
            layer["padding"] = padding
    if difficulty >= 3:
        if draws.random() < 0.35 and layer["kernel"] > 1:
            layer["dilation"] = pick(draws, (2, 3))
        if draws.random() < 0.3:
            groups = pick(draws, [g for g in (2, 4) if channels % g == 0] or [1])
            if groups > 1 and layer["filters"] % groups == 0:
                layer["groups"] = groups
        if draws.random() < 0.2 and isinstance(layer.get("padding"), int):
            layer["kernel"] = [layer["kernel"], pick(draws, (1, 3))]
            layer["padding"] = [layer["padding"], 0]
    return layer


def _pool(draws: Draws, difficulty: int) -> LayerJSON:
    kind = pick(draws, ("maxpool2d",) if difficulty == 1 else ("maxpool2d", "maxpool2d", "avgpool2d"))
    layer: LayerJSON = {"type": kind, "kernel": pick(draws, (2,) if difficulty == 1 else (2, 3))}
    if difficulty >= 2:
        stride = pick(draws, (1, 2, 2))
        if stride != layer["kernel"]:
            layer["stride"] = stride
        option = pick(draws, ("none", "int", "same"))
        if option == "int":
            layer["padding"] = 1 if layer["kernel"] >= 2 else 0
        elif option == "same":
            layer["padding"] = "same"
    if difficulty >= 3 and not isinstance(layer.get("padding"), str) and draws.random() < 0.5:
        layer["ceil_mode"] = True
    if difficulty >= 3 and kind == "maxpool2d" and draws.random() < 0.25 and "padding" not in layer:
        layer["dilation"] = 2
    return layer


def random_stack(
    draws: Draws,
    difficulty: int,
    *,
    n_layers: int | None = None,
    allow_tail: bool = False,
    min_side: int = 2,
) -> tuple[dict[str, Any], Solution, list[str]]:
    """A random valid stack of convolutions and pools (with activations, batch norm and a
    dense tail when `allow_tail`) whose spatial sides stay >= `min_side`, its solution and
    its layers' labels."""
    layout = "HWC" if difficulty == 1 else pick(draws, ("HWC", "CHW") if difficulty == 2 else ("CHW", "CHW", "HWC"))
    side = pick(draws, (12, 14, 16, 20, 24, 28, 32) if difficulty == 1 else (15, 17, 28, 31, 32, 33, 56, 64))
    channels = pick(draws, (1, 3) if difficulty < 3 else (1, 3, 8, 16))
    count = n_layers if n_layers is not None else (draws.between(2, 4) if difficulty == 1 else draws.between(3, 6))
    hwc: tuple[int, ...] = (side, side, channels)
    layers: list[LayerJSON] = []
    steps: list[LayerStep] = []  # each layer's step, as the solver took it when it was tried
    labels: list[str] = []

    def append(layer: LayerJSON) -> None:
        """A layer that fits any input it is put on (an activation, batch norm, the tail)."""
        nonlocal hwc
        step, label = labelled_step(layer, hwc)
        layers.append(layer)
        steps.append(step)
        labels.append(label)
        hwc = step.shape

    while len(layers) < count:
        for _attempt in range(20):
            want_pool = len(layers) > 0 and draws.random() < 0.4 and layers[-1]["type"] == "conv2d"
            layer = _pool(draws, difficulty) if want_pool else _conv(draws, difficulty, hwc[2])
            tried = next_layer(layer, hwc)
            if tried is None or min(tried[0].shape[:2]) < min_side:
                continue
            step, label = tried
            layers.append(layer)
            steps.append(step)
            labels.append(label)
            hwc = step.shape
            break
        else:
            break
        if allow_tail and difficulty >= 2 and layers[-1]["type"] == "conv2d" and draws.random() < 0.3:
            append({"type": pick(draws, ("relu", "batchnorm"))})
    if allow_tail:
        tail = pick(draws, ("flatten", "global_avgpool2d", "global_maxpool2d") if difficulty >= 2 else ("flatten",))
        append({"type": tail})
        append({"type": "dense", "units": pick(draws, (10, 10, 16, 100))})
    input_shape = [side, side, channels] if layout == "HWC" else [channels, side, side]
    stack = stack_json(input_shape, layers, layout, copy=False)
    return stack, solve_steps(stack, steps), labels


def copy_layer(layer: Mapping[str, Any]) -> LayerJSON:
    """A deep copy of a valid layer, whose values are scalars or lists of scalars."""
    return {key: list(value) if isinstance(value, list) else value for key, value in layer.items()}


def copy_stack(stack: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a valid stack, whose values are scalars or lists of scalars (what
    copy.deepcopy gives, at a fraction of its cost)."""
    new = dict(stack)
    new["input"] = list(stack["input"])
    new["layers"] = [copy_layer(layer) for layer in stack["layers"]]
    return new


def vary_layers(stack: Mapping[str, Any], change: Any, only: int | None = None) -> dict[str, Any] | None:
    """A copy of `stack` with `change(layer) -> layer | None` applied to every layer (or to
    layer `only`); None if nothing changed."""
    new = copy_stack(stack)
    changed = False
    for index, layer in enumerate(new["layers"]):
        if only is not None and index != only:
            continue
        result = change(copy_layer(layer))
        if result is not None and result != layer:
            new["layers"][index] = result
            changed = True
    return new if changed else None
