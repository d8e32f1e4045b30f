"""Receptive fields: a unit's size and jump, the input rows and columns it sees, and how
many stacked convolutions it takes for a unit to see a whole input."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from problems.kinds.base import Draft, Part, Problem, Step, WrongModel, whole_number_hint
from problems.kinds.draws import Draws
from problems.kinds.stacks import (
    LayerJSON,
    copy_layer,
    copy_stack,
    labelled_step,
    layer_label,
    next_layer,
    pick,
    shape_in_layout,
    solve_steps,
    stack_block,
    stack_json,
    text_block,
    try_solve,
    vary_layers,
)
from problems.solver import LayerStep, ReceptiveField, Solution
from problems.windows import axis_windows

NAME = "receptive_field"
TITLE = "Receptive fields"
SUMMARY = "How far a unit sees: receptive-field size and jump, its input window, and the depth to see it all."

_WINDOWED = ("conv2d", "maxpool2d", "avgpool2d", "minpool2d")
_POOLS = ("maxpool2d", "avgpool2d", "minpool2d")
# Sizes and jumps share one table, and so one hint: an example of their size.
_SMALL_HINT = whole_number_hint(7)
# Sub-questions: (a) size and jump, (b) input rows and columns of one unit, (c) depth.
_SETS_BY_DIFFICULTY: dict[int, tuple[tuple[str, ...], ...]] = {
    1: (("a",), ("b",), ("c",)),
    2: (("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c")),
    3: (("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c")),
}


# ---------------------------------------------------------------- stacks

def _conv(draws: Draws, difficulty: int) -> LayerJSON:
    layer: LayerJSON = {
        "type": "conv2d",
        "filters": pick(draws, (4, 8, 16, 32) if difficulty == 1 else (8, 16, 32, 64)),
        "kernel": pick(draws, (3, 5) if difficulty == 1 else (3, 3, 5, 7)),
    }
    if difficulty >= 2:
        stride = pick(draws, (1, 1, 2))
        if stride != 1:
            layer["stride"] = stride
        padding = pick(draws, ("none", "int", "same"))
        if padding == "int":
            layer["padding"] = draws.between(1, layer["kernel"] // 2 + 1)
        elif padding == "same":
            layer["padding"] = "same"
    if difficulty >= 3 and draws.random() < 0.4:
        layer["dilation"] = pick(draws, (2, 3))
    return layer


def _pool(draws: Draws, difficulty: int) -> LayerJSON:
    if difficulty == 1:
        return {"type": "maxpool2d", "kernel": 2}
    layer: LayerJSON = {"type": pick(draws, ("maxpool2d", "maxpool2d", "avgpool2d")),
                        "kernel": pick(draws, (2, 3))}
    if layer["kernel"] == 3 and draws.random() < 0.5:
        layer["stride"] = 2
    padding = pick(draws, ("none", "none", "int", "same"))
    if padding == "int":
        layer["padding"] = 1
    elif padding == "same":
        layer["padding"] = "same"
    if difficulty >= 3:
        if padding != "same" and draws.random() < 0.4:
            layer["ceil_mode"] = True
        if layer["type"] == "maxpool2d" and padding == "none" and draws.random() < 0.25:
            layer["dilation"] = 2
    return layer


def _random_stack(draws: Draws, difficulty: int
                  ) -> tuple[dict[str, Any], Solution, list[str]] | None:
    """A square stack of convolutions and pools (and, at difficulty 3, activations) whose
    sides stay >= 3, its solution and its layers' labels; None if the draw ran out of
    room."""
    layout = "HWC" if difficulty == 1 else pick(draws, ("HWC", "CHW"))
    side = pick(draws, {1: (16, 20, 24, 28, 32), 2: (17, 20, 24, 28, 31, 32),
                          3: (28, 32, 33, 48, 56, 64)}[difficulty])
    channels = pick(draws, (1, 3))
    count = (draws.between(2, 4) if difficulty == 1 else draws.between(3, 5) if difficulty == 2
             else draws.between(3, 6))
    layers: list[LayerJSON] = []
    steps: list[LayerStep] = []  # each layer's step, as the solver took it when it was tried
    labels: list[str] = []
    hwc: tuple[int, ...] = (side, side, channels)
    for _windowed in range(count):  # each round adds one convolution or pool
        for _attempt in range(20):
            want_pool = bool(layers) and layers[-1]["type"] == "conv2d" and draws.random() < 0.45
            layer = _pool(draws, difficulty) if want_pool else _conv(draws, difficulty)
            tried = next_layer(layer, hwc)
            if tried is None or tried[0].shape[0] < 3:
                continue
            layers.append(layer)
            steps.append(tried[0])
            labels.append(tried[1])
            hwc = tried[0].shape
            break
        else:
            return None
        if difficulty >= 3 and layer["type"] == "conv2d" and draws.random() < 0.25:
            layers.append({"type": "relu"})
            step, label = labelled_step(layers[-1], hwc)
            steps.append(step)
            labels.append(label)
    stack = stack_json(shape_in_layout([side, side, channels], layout), layers, layout, copy=False)
    return stack, solve_steps(stack, steps), labels


def _side(solution: Solution, index: int) -> int:
    """The height of layer `index`'s output (the stacks here are square)."""
    shape = solution.layers[index].output_shape
    return int(shape[0] if solution.layout == "HWC" else shape[1])


def _input_side(stack: Mapping[str, Any]) -> int:
    return int(stack["input"][0] if stack["layout"] == "HWC" else stack["input"][1])


def _stride(layer: Mapping[str, Any]) -> int:
    default = layer.get("kernel", 1) if layer["type"] in _POOLS else 1
    return int(layer.get("stride", default))


def _enlarged(stack: Mapping[str, Any]) -> dict[str, Any]:
    """The stack on a larger input. Growing the input by a multiple of every stride keeps each
    "same" padding (and so every receptive field) as it was, while making room for layers a
    wrong model adds or shrinks."""
    grow = 64
    for layer in stack["layers"]:
        if layer["type"] in _WINDOWED:
            grow *= _stride(layer)
    new = copy_stack(stack)
    axes = (0, 1) if stack["layout"] == "HWC" else (1, 2)
    for axis in axes:
        new["input"][axis] += grow
    return new


def _field(stack: Mapping[str, Any] | None, index: int) -> ReceptiveField | None:
    """Layer `index`'s receptive field from the solver (on a larger input if the stack does not
    fit its own); None if the solver refuses both."""
    if stack is None:
        return None
    solution = try_solve(stack) or try_solve(_enlarged(stack))
    return None if solution is None else solution.layers[index].receptive_field


# ---------------------------------------------------------------- (c): depth to see it all

# How a wrong model sees each pool of a depth stack (the truth keeps it "as_is").
_POOL_AS: dict[str, Callable[[LayerJSON], list[LayerJSON]]] = {
    "as_is": lambda pool: [pool],
    "stride_one": lambda pool: [{**pool, "stride": 1}],
    "removed": lambda pool: [],
    "stride_first": lambda pool: [
        {"type": "conv2d", "filters": 8, "kernel": 1, "stride": _stride(pool)},
        {**pool, "stride": 1},
    ],
}


def _depth_layers(spec: Mapping[str, Any], convs: int, pool_as: str = "as_is"
                  ) -> tuple[list[LayerJSON], list[int]]:
    """The layers of a depth stack with `convs` convolutions (a pool after every `every`-th one
    but the last), and the index of each convolution."""
    layers: list[LayerJSON] = []
    positions: list[int] = []
    for n in range(1, convs + 1):
        layers.append({"type": "conv2d", "filters": 8, "kernel": spec["kernel"]})
        positions.append(len(layers) - 1)
        if spec["pool"] is not None and n % spec["every"] == 0 and n < convs:
            layers.extend(_POOL_AS[pool_as](dict(spec["pool"])))
    return layers, positions


def _fields_by_depth(spec: Mapping[str, Any], target: int, pool_as: str = "as_is") -> list[int]:
    """The receptive-field size after 1, 2, ... convolutions, up to the first that reaches
    `target` (solved as stacks on an input large enough to hold them); [] if none does."""
    pool = spec["pool"]
    pool_key = None if pool is None else tuple(sorted(pool.items()))
    return list(_depth_sizes(spec["kernel"], pool_key, spec["every"], target, pool_as))


@functools.lru_cache(maxsize=1024)
def _depth_sizes(kernel: int, pool_key: tuple[tuple[str, Any], ...] | None, every: int, target: int,
                 pool_as: str) -> tuple[int, ...]:
    # Cached: the same few depth networks recur across variants and submissions.
    spec = {"kernel": kernel, "pool": None if pool_key is None else dict(pool_key), "every": every}
    convs = 4
    while convs <= 128:
        layers, positions = _depth_layers(spec, convs, pool_as)
        solution = _solve_deep(layers)
        if solution is None:
            return ()
        sizes = []
        for position in positions:
            field = solution.layers[position].receptive_field
            assert field is not None
            sizes.append(int(field.size[0]))
            if sizes[-1] >= target:
                return tuple(sizes)
        convs *= 2
    return ()


def _solve_deep(layers: list[LayerJSON]) -> Solution | None:
    """The solution of a depth stack on an input large enough to hold it (the receptive fields
    do not depend on the input's size)."""
    strided = sum(_stride(layer) != 1 for layer in layers)
    side = (8 * len(layers) + 8) * 2**strided
    while side <= 2**19:
        solution = try_solve(stack_json([side, side, 1], layers))
        if solution is not None:
            return solution
        side *= 2
    return None


def _depth_spec(draws: Draws, difficulty: int) -> dict[str, Any]:
    if difficulty == 1:
        return {"kernel": 3, "pool": None, "every": 0, "target": draws.between(7, 32)}
    if difficulty == 2:
        return {"kernel": 3, "pool": {"type": "maxpool2d", "kernel": 2}, "every": 2,
                "target": pick(draws, (16, 20, 24, 28, 32, 40, 48, 56, 64))}
    return {"kernel": 3, "pool": {"type": "maxpool2d", "kernel": pick(draws, (2, 3)), "stride": 2},
            "every": pick(draws, (2, 3)), "target": pick(draws, (32, 48, 64, 96, 100, 128, 150))}


def _depth_text(spec: Mapping[str, Any]) -> str:
    text = (f"A network stacks {spec['kernel']}x{spec['kernel']} convolutions (stride 1, no "
            "padding)")
    pool = spec["pool"]
    if pool is not None:
        every = "every two" if spec["every"] == 2 else "every three"
        text += (f", with a {pool['kernel']}x{pool['kernel']} max pool (stride "
                 f"{_stride(pool)}) after {every} convolutions")
    return text + "."


# ---------------------------------------------------------------- generate

def generate(rng: np.random.Generator, difficulty: int) -> Draft:
    """A random square stack and a unit of one layer; by difficulty one or several of: its
    size and jump, the input rows and columns it sees, the depth to see a whole input."""
    draws = Draws(rng)
    asked = _SETS_BY_DIFFICULTY[difficulty][draws.below(len(_SETS_BY_DIFFICULTY[difficulty]))]
    for _attempt in range(100):
        draft = _try_generate(draws, difficulty, asked)
        if draft is not None:
            return draft
    raise RuntimeError(f"receptive_field: no valid variant at difficulty {difficulty}")


def _try_generate(draws: Draws, difficulty: int, asked: tuple[str, ...]) -> Draft | None:
    stack, index, unit, depth, field, labels = None, None, None, None, None, None
    if "a" in asked or "b" in asked:
        built = _random_stack(draws, difficulty)
        if built is None:
            return None
        stack, solution, labels = built
        last = len(stack["layers"]) - 1
        index = last if difficulty == 1 and draws.random() < 0.6 else draws.between(1, last + 1)
        field = solution.layers[index].receptive_field
        assert field is not None
        if "b" in asked:
            unit = _pick_unit(draws, difficulty, field, _side(solution, index), _input_side(stack))
            if unit is None:
                return None
    if "c" in asked:
        depth = _depth_spec(draws, difficulty)
    return draft_for(asked, stack, index, unit, unclipped=difficulty >= 3, depth=depth, field=field,
                     labels=labels)


def draft_for(asked: tuple[str, ...], stack: Mapping[str, Any] | None = None, layer: int | None = None,
              unit: tuple[int, int] | None = None, *, unclipped: bool = False,
              depth: Mapping[str, Any] | None = None,
              field: ReceptiveField | None = None,
              labels: Sequence[str] | None = None) -> Draft | None:
    """The problem asking `asked` ("a": size and jump of `layer`, "b": the rows and columns
    `unit` of it sees, "c": the depth of the `depth` network), answers from the solver; None
    if the depth network never reaches its target. `field` is the solver's receptive field
    of `layer` and `labels` the stack's layers' labels, if the caller has them already."""
    parts: list[Part] = []
    answers: dict[str, Any] = {}
    params: dict[str, Any] = {"asked": list(asked)}
    statement: list[dict[str, Any]] = []
    if stack is not None and layer is not None:
        if field is None:
            field = _field(stack, layer)
        assert field is not None, "a stack the solver refuses"
        side = _input_side(stack)
        params.update(stack=copy_stack(stack), layer=layer)
        cells: dict[tuple[int, str], str] = {}
        statement.append(text_block(
            f"The input is {side}x{side} pixels. The receptive field of a unit is the square of "
            "input pixels it depends on; its jump is the distance, in input pixels, between "
            "neighbouring units of the same layer. Rows and columns count from 0."))
        if "a" in asked:
            parts.append(Part("size", f"Receptive-field size of a unit of layer {layer} "
                              "(input pixels per side)", "int", hint_text=_SMALL_HINT))
            parts.append(Part("jump", f"Jump of layer {layer} (input pixels between "
                              "neighbouring units)", "int", hint_text=_SMALL_HINT))
            answers["size"] = int(field.size[0])
            answers["jump"] = int(field.jump[0])
            cells = {(layer, "size"): "size", (layer, "jump"): "jump"}
        columns = [("size", "RF size"), ("jump", "Jump")] if "a" in asked else []
        statement.append(stack_block(stack, columns, cells, labels=labels))
        if "b" in asked and unit is not None:
            i, j = unit
            params.update(unit=[i, j], unclipped=unclipped)
            depends = ("size", "jump") if "a" in asked else ()
            where = (" Give the unclipped range: rows and columns in the padding count too "
                     "(negative, or past the last row)." if unclipped else
                     " (This unit's field lies inside the image.)")
            statement.append(text_block(
                f"Unit ({i}, {j}) of layer {layer}'s output (row {i}, column {j}): which input "
                f"rows and which input columns does it see?{where}"))
            statement.append({"type": "field", "label": "Input", "height": side, "width": side})
            parts.append(Part("rows", f"Input rows seen by unit ({i}, {j}) of layer {layer}",
                              "range", depends_on=depends))
            parts.append(Part("cols", f"Input columns seen by unit ({i}, {j}) of layer {layer}",
                              "range", depends_on=depends))
            answers["rows"] = list(field.rows(i, 0))
            answers["cols"] = list(field.rows(j, 1))
    if "c" in asked and depth is not None:
        target = depth["target"]
        sizes = _fields_by_depth(depth, target)
        if not sizes:
            return None
        params["depth"] = dict(depth)
        other = "Another question, about another network. " if "stack" in params else ""
        statement.append(text_block(
            other + _depth_text(depth) + " How many convolutions must be stacked before one unit "
            f"of the last convolution has a receptive field of at least {target}x{target} pixels, "
            f"wide enough to see the whole of a {target}x{target} image? (Take the input as large "
            "as the stack needs.)"))
        parts.append(Part("layers", f"Convolutions needed to see {target}x{target} pixels", "int",
                          hint_text=whole_number_hint(3)))
        answers["layers"] = len(sizes)
    return Draft("Receptive fields", tuple(statement), tuple(parts), answers, params)


def _pick_unit(draws: Draws, difficulty: int, field: ReceptiveField, side: int,
               input_side: int) -> tuple[int, int] | None:
    """A unit (i, j): at difficulty 1-2 one whose field lies inside the image (by hand, no
    clipping question); at 3 any, often at an edge where the field reaches into the padding."""
    if difficulty >= 3:
        def one() -> int:
            return pick(draws, (0, side - 1, draws.below(side)))
        return one(), one()
    inside = [i for i in range(side)
              if field.rows(i, 0)[0] >= 0 and field.rows(i, 0)[1] <= input_side - 1]
    if not inside:
        return None
    return pick(draws, inside), pick(draws, inside)


# ---------------------------------------------------------------- grading helpers

def follow_through(problem: Problem, part_id: str, given: Mapping[str, Any]) -> Any:
    """The rows (or columns) of the unit from the student's own size and jump and the true
    start; only where that start does not itself depend on the jumps (no padding so far) or
    the student's jump is right."""
    if part_id not in ("rows", "cols") or "size" not in given or "jump" not in given:
        return None
    size, jump = int(given["size"]), int(given["jump"])
    if size < 1 or jump < 1:
        return None
    field = _true_field(problem)
    axis = 0 if part_id == "rows" else 1
    if field.start[axis] != 0 and jump != field.jump[axis]:
        return None
    theirs = ReceptiveField((size, size), (jump, jump), field.start)
    return list(theirs.rows(problem.params["unit"][axis], axis))


def _true_field(problem: Problem) -> ReceptiveField:
    field = _field(problem.params["stack"], problem.params["layer"])
    assert field is not None
    return field


def _unit_stride(layer: LayerJSON) -> LayerJSON | None:
    """The layer with stride 1 (a pool keeps its kernel): the jump never grows."""
    if layer["type"] not in _WINDOWED or _stride(layer) == 1:
        return None
    layer["stride"] = 1
    return layer


def _no_dilation(layer: LayerJSON) -> LayerJSON | None:
    if layer.get("dilation", 1) == 1:
        return None
    del layer["dilation"]
    return layer


def _no_int_padding(layer: LayerJSON) -> LayerJSON | None:
    if layer.get("padding", 0) in (0, "valid", "same"):
        return None
    del layer["padding"]
    return layer


def _same_to_valid(layer: LayerJSON) -> LayerJSON | None:
    if layer.get("padding") != "same":
        return None
    layer["padding"] = "valid"
    return layer


def _no_padding(layer: LayerJSON) -> LayerJSON | None:
    if layer.get("padding", 0) in (0, "valid"):
        return None
    del layer["padding"]
    return layer


def _stride_before_kernel(stack: Mapping[str, Any], index: int) -> tuple[dict[str, Any] | None, int]:
    """The wrong model in which a layer's stride already spreads its own kernel: each strided
    layer becomes a 1x1 convolution with that stride followed by the layer at stride 1.
    Returns the new stack and where layer `index` went."""
    layers: list[LayerJSON] = []
    new_index = index
    for position, layer in enumerate(stack["layers"]):
        stride = _stride(layer) if layer["type"] in _WINDOWED else 1
        if stride != 1:
            layers.append({"type": "conv2d", "filters": 4, "kernel": 1, "stride": stride})
            layers.append({**copy_layer(layer), "stride": 1})
            if position <= index:
                new_index += 1
        else:
            layers.append(copy_layer(layer))
    if layers == list(stack["layers"]):
        return None, index
    return {**copy_stack(stack), "layers": layers}, new_index


def _range_answers(problem: Problem, field: ReceptiveField | None) -> dict[str, Any]:
    """The rows and columns the asked unit sees under `field` (only if (b) was asked)."""
    if field is None or "unit" not in problem.params:
        return {}
    i, j = problem.params["unit"]
    return {"rows": list(field.rows(i, 0)), "cols": list(field.rows(j, 1))}


def _with_size(field: ReceptiveField, size: int) -> ReceptiveField:
    return ReceptiveField((size, size), field.jump, field.start)


def _only_asked(problem: Problem, wrong: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in wrong.items()
            if key in problem.answers and value != problem.answers[key]}


def wrong_models(problem: Problem) -> Iterable[WrongModel]:
    """The answers each named mistake gives, recomputed by the solver on the stack changed
    the way the mistake changes it."""
    for name, wrong in _wrong_models(problem):
        kept = _only_asked(problem, wrong)
        if kept:
            yield name, kept


def _wrong_models(problem: Problem) -> Iterable[WrongModel]:
    params = problem.params
    if "stack" in params:
        stack, index = params["stack"], params["layer"]
        field = _true_field(problem)
        # Strides forgotten: the jump stays 1 and every layer adds only k_eff - 1.
        flat = _field(vary_layers(stack, _unit_stride), index)
        if flat is not None:
            yield "rf_without_jump", {"size": int(flat.size[0]),
                                      **_range_answers(problem, _with_size(field, int(flat.size[0])))}
            yield "stride_forgotten", {"jump": int(flat.jump[0]), **_range_answers(problem, flat)}
        for position in range(index + 1):
            one = _field(vary_layers(stack, _unit_stride, only=position), index)
            if one is not None:
                yield "stride_forgotten", {"jump": int(one.jump[0]), **_range_answers(problem, one)}
        early, new_index = _stride_before_kernel(stack, index)
        grown = _field(early, new_index)
        if grown is not None:
            yield "rf_stride_as_growth", {"size": int(grown.size[0]), **_range_answers(
                problem, _with_size(field, int(grown.size[0])))}
        undilated = _field(vary_layers(stack, _no_dilation), index)
        if undilated is not None:
            yield "dilation_ignored", {"size": int(undilated.size[0]),
                                       **_range_answers(problem, undilated)}
        for name, change in (("padding_forgotten", _no_int_padding), ("same_as_valid", _same_to_valid),
                             ("padding_forgotten", _no_padding)):
            unpadded = _field(vary_layers(stack, change), index)
            yield name, _range_answers(problem, unpadded)
        size = int(field.size[0])
        for delta in (1, -1):
            yield "rf_off_by_one", {"size": size + delta}
        for low, high in ((0, 1), (0, -1), (1, 1), (-1, -1)):
            yield "rf_off_by_one", {
                key: [value[0] + low, value[1] + high]
                for key, value in _range_answers(problem, field).items()
            }
    if "depth" in params:
        spec, target, needed = params["depth"], params["depth"]["target"], problem.answers["layers"]
        if spec["pool"] is not None:
            for name, pool_as in (("rf_without_jump", "stride_one"), ("rf_without_jump", "removed"),
                                  ("rf_stride_as_growth", "stride_first")):
                sizes = _fields_by_depth(spec, target, pool_as)
                if sizes:
                    yield name, {"layers": len(sizes)}
        yield "rf_off_by_one", {"layers": needed + 1}
        if needed > 1:
            yield "rf_off_by_one", {"layers": needed - 1}


# ---------------------------------------------------------------- worked solution

def _axis_of(layer: Mapping[str, Any], size: int) -> tuple[int, int, int]:
    """k_eff, stride and padding before of a windowed layer on an input of `size`."""
    padding = layer.get("padding", "valid")
    windows = axis_windows(size, int(layer["kernel"]), _stride(layer), padding,
                           int(layer.get("dilation", 1)), bool(layer.get("ceil_mode", False)))
    return windows.k_eff, windows.stride, windows.before


def _stack_steps(problem: Problem) -> list[Step]:
    stack, index = problem.params["stack"], problem.params["layer"]
    solution = try_solve(stack)
    assert solution is not None
    steps = [Step(
        "The recurrence",
        "Start at the input with r = 1, j = 1, start = 0. A windowed layer (convolution or pool) "
        "with effective kernel k_eff = d(k-1)+1, stride s and padding p before the input gives "
        "the rules below; activations leave all three as they are.",
        ("r' = r + (k_{eff}-1)\\cdot j", "j' = j\\cdot s",
         "\\text{start}' = \\text{start} - p\\cdot j"),
    )]
    size, jump, start = 1, 1, 0
    current = _input_side(stack)
    for position in range(index + 1):
        layer = stack["layers"][position]
        field = solution.layers[position].receptive_field
        assert field is not None
        new_size, new_jump, new_start = int(field.size[0]), int(field.jump[0]), int(field.start[0])
        if layer["type"] in _WINDOWED:
            k_eff, stride, before = _axis_of(layer, current)
            math = (f"r_{{{position}}} = {size} + ({k_eff}-1)\\cdot {jump} = {new_size}",
                    f"j_{{{position}}} = {jump}\\cdot {stride} = {new_jump}",
                    f"\\text{{start}}_{{{position}}} = {start} - {before}\\cdot {jump} = {new_start}")
            text = f"k_eff = {k_eff}, stride {stride}, padding before {before}."
        else:
            math = (f"r_{{{position}}} = {new_size},\\ j_{{{position}}} = {new_jump},\\ "
                    f"\\text{{start}}_{{{position}}} = {new_start}",)
            text = "A pointwise layer: the receptive field does not change."
        steps.append(Step(f"Layer {position}: {layer_label(layer)}", text, math))
        size, jump, start = new_size, new_jump, new_start
        current = _side(solution, position)
    if "unit" in problem.params:
        i, j = problem.params["unit"]
        field = solution.layers[index].receptive_field
        assert field is not None
        side = _input_side(stack)
        math_lines = []
        for name, unit, axis in (("rows", i, 0), ("columns", j, 1)):
            low, high = field.rows(unit, axis)
            math_lines.append(
                f"\\text{{{name}}}: {start} + {unit}\\cdot {jump} = {low}\\ \\text{{to}}\\ "
                f"{low} + {size} - 1 = {high}")
        rows, cols = field.rows(i, 0), field.rows(j, 1)
        clipped = (f" Clipped to the {side}x{side} image: rows {max(rows[0], 0)} to "
                   f"{min(rows[1], side - 1)}, columns {max(cols[0], 0)} to {min(cols[1], side - 1)}.")
        steps.append(Step(
            f"Unit ({i}, {j}) of layer {index}",
            "Unit i sees start + i*j to start + i*j + r - 1 on each axis." + clipped,
            tuple(math_lines),
            grid={"type": "field", "height": side, "width": side,
                  "rows": list(rows), "cols": list(cols)},
        ))
    return steps


def _depth_steps(problem: Problem) -> list[Step]:
    spec = problem.params["depth"]
    target, needed = spec["target"], problem.answers["layers"]
    layers, _ = _depth_layers(spec, needed)
    solution = _solve_deep(layers)
    assert solution is not None
    lines, convs = [], 0
    for layer, result in zip(layers, solution.layers, strict=True):
        field = result.receptive_field
        assert field is not None
        convs += layer["type"] == "conv2d"
        name = f"\\text{{conv {convs}}}" if layer["type"] == "conv2d" else "\\text{pool}"
        lines.append(f"{name}: r = {field.size[0]},\\ j = {field.jump[0]}")
    text = ("Each 3x3 convolution adds (3-1) times the current jump; each stride-2 pool adds "
            "(k-1) times the jump and then doubles it." if spec["pool"] is not None else
            "Each 3x3 convolution at stride 1 adds 3-1 = 2 pixels: r = 1 + 2n.")
    size = solution.layers[-1].receptive_field
    assert size is not None
    return [
        Step("Stack convolutions until the field is wide enough", text, tuple(lines)),
        Step("The answer", f"The first number of convolutions with r >= {target} is {needed} "
             f"(r = {size.size[0]}).", (f"n = {needed}",)),
    ]


def worked(problem: Problem) -> list[Step]:
    """The recurrence layer by layer with the numbers in, the unit's rows and columns, and the
    field size after each convolution of the depth question."""
    steps: list[Step] = []
    if "stack" in problem.params:
        steps.extend(_stack_steps(problem))
    if "depth" in problem.params:
        steps.extend(_depth_steps(problem))
    return steps
