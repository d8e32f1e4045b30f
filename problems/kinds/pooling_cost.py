"""What a pooling layer saves: activations and multiply-accumulates with and without it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from problems.answers import Tolerance
from problems.errors import SpecError
from problems.kinds.base import (
    Draft,
    Part,
    Problem,
    SelfTest,
    Step,
    WrongModel,
    format_number,
    self_test_answers,
)
from problems.kinds.draws import Draws, draw_until
from problems.kinds.stacks import (
    LayerJSON,
    layer_label,
    layer_step_for,
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

NAME = "pooling_cost"
TITLE = "What pooling saves"
SUMMARY = (
    "Activations and multiply-accumulates of two convolutions with and without a pooling "
    "layer between them."
)

RATIO_TOLERANCE = Tolerance(relative=0.01)
# What RATIO_TOLERANCE accepts, said in the hint: 5.4 for 49/9 is right, 7 for 64/9 is not.
RATIO_HINT = "a number or fraction, right to within 1%, e.g. 1.75 or 7/4"
# Layer indices: stack A is [conv1, conv2], stack B is [conv1, pool, conv2].
_A_FIRST, _A_SECOND = 0, 1
_B_FIRST, _B_POOL, _B_SECOND = 0, 1, 2


def _hwc(shape: Sequence[int], layout: str) -> list[int]:
    return [shape[1], shape[2], shape[0]] if layout == "CHW" else list(shape)


def _in_layout(hwc: Sequence[int], layout: str) -> list[int]:
    return [hwc[2], hwc[0], hwc[1]] if layout == "CHW" else list(hwc)


def _stacks(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stack A (no pool) and stack B (the pool between the two convolutions)."""
    first, pool, second = params["first"], params["pool"], params["second"]
    a = stack_json(params["input"], [first, second], params["layout"])
    b = stack_json(params["input"], [first, pool, second], params["layout"])
    return a, b


# ---------------------------------------------------------------- generation


def _draw(draws: Draws, difficulty: int) -> dict[str, Any]:
    """One candidate configuration (it may not fit: `generate` checks it with the solver)."""
    if difficulty == 1:
        side = draws.between(10, 21)
        return {
            "layout": "HWC",
            "input": [side, side, pick(draws, (1, 3))],
            "first": {"type": "conv2d", "filters": pick(draws, (4, 6, 8)), "kernel": 3},
            "pool": {"type": "maxpool2d", "kernel": 2},
            "second": {"type": "conv2d", "filters": pick(draws, (8, 12, 16)), "kernel": 3},
        }
    layout = pick(draws, ("HWC", "CHW") if difficulty == 2 else ("CHW", "CHW", "HWC"))
    sides = range(14, 33) if difficulty == 2 else range(16, 65)
    hwc = [
        pick(draws, sides),
        pick(draws, sides),
        pick(draws, (1, 3, 8) if difficulty == 2 else (3, 8, 16)),
    ]

    def conv(filters: Sequence[int], kernels: Sequence[int]) -> LayerJSON:
        layer: LayerJSON = {
            "type": "conv2d",
            "filters": pick(draws, filters),
            "kernel": pick(draws, kernels),
        }
        padding = pick(draws, ("none", "same", "int"))
        if padding == "same":
            layer["padding"] = "same"
        elif padding == "int" and layer["kernel"] > 1:
            layer["padding"] = layer["kernel"] // 2
        return layer

    first = conv((8, 16, 32), (3, 5))
    second = conv((16, 32, 64), (1, 3, 3, 5))
    pool: LayerJSON = {"type": pick(draws, ("maxpool2d", "maxpool2d", "avgpool2d"))}
    if draws.random() < 0.5:
        pool["kernel"] = 2
    else:
        pool.update({"kernel": 3, "stride": 2})
        if draws.random() < 0.5:
            pool["padding"] = 1
    if difficulty >= 3:
        if draws.random() < 0.3:
            first["dilation"] = 2
        if draws.random() < 0.4:
            second["groups"] = pick(draws, (2, 4))
        if draws.random() < 0.25:
            second["stride"] = 2
        if draws.random() < 0.4 and not isinstance(pool.get("padding"), str):
            pool["ceil_mode"] = True
    return {
        "layout": layout,
        "input": _in_layout(hwc, layout),
        "first": first,
        "pool": pool,
        "second": second,
    }


Steps = tuple[LayerStep, LayerStep, LayerStep, LayerStep]


def _steps(params: Mapping[str, Any]) -> Steps:
    """The solver's steps: the first convolution on the input, the second one on its output
    (stack A), the pool on that output and the second convolution after the pool (stack B).
    Raises SpecError where the solver refuses a layer."""
    first = layer_step_for(params["first"], _hwc(params["input"], params["layout"]))
    pool = layer_step_for(params["pool"], first.shape)
    return (first, layer_step_for(params["second"], first.shape), pool,
            layer_step_for(params["second"], pool.shape))


def _fitting_steps(params: Mapping[str, Any]) -> Steps | None:
    """`_steps`, if both stacks solve and the second convolution keeps at least 2x2 outputs
    with the pool; else None."""
    try:
        steps = _steps(params)
    except SpecError:
        return None
    return steps if min(steps[3].shape[:2]) >= 2 else None


_CONFIG_KEYS = ("layout", "input", "first", "pool", "second")
_FALLBACK = {
    "layout": "HWC",
    "input": [12, 12, 1],
    "first": {"type": "conv2d", "filters": 8, "kernel": 3},
    "pool": {"type": "maxpool2d", "kernel": 2},
    "second": {"type": "conv2d", "filters": 16, "kernel": 3},
}


def generate(rng: np.random.Generator, difficulty: int) -> Draft:
    """Two convolutions with and without a pool between them; the pool's activations, the
    MACs of the second convolution both ways and their ratio (from difficulty 2 also the
    first convolution's MACs and the whole stack's ratio)."""
    params, steps = draw_until(
        Draws(rng), lambda d: _draw(d, difficulty), _fitting_steps, _FALLBACK
    )
    return draft_for(params, with_totals=difficulty >= 2, steps=steps)


# The parts whose wording does not depend on the variant (made once: parts are frozen).
_FIRST_PART = Part("macs_first", "MACs of the first convolution (the same in both stacks)", "int")
_SECOND_PARTS = (
    Part("macs_without", "MACs of the second convolution in stack A (no pooling)", "int"),
    Part("macs_with", "MACs of the second convolution in stack B (after the pooling)", "int"),
    Part(
        "ratio",
        "How many times fewer MACs the second convolution needs in stack B (A / B)",
        "number",
        tolerance=RATIO_TOLERANCE,
        hint_text=RATIO_HINT,
        depends_on=("macs_without", "macs_with"),
    ),
)
_TOTAL_PART = Part(
    "total_ratio",
    "How many times fewer MACs the whole stack B needs than stack A (total A / total B)",
    "number",
    tolerance=RATIO_TOLERANCE,
    hint_text=RATIO_HINT,
    depends_on=("macs_first", "macs_without", "macs_with"),
)


def draft_for(params: Mapping[str, Any], *, with_totals: bool, steps: Steps | None = None) -> Draft:
    """The problem for a given input, convolutions and pool (`steps`: their `_steps`, if
    the caller has them already)."""
    a, b = _stacks(params)
    first, second_a, pool, second_b = _steps(params) if steps is None else steps
    sol_a, sol_b = solve_steps(a, (first, second_a)), solve_steps(b, (first, pool, second_b))
    first_label, second_label = layer_label(params["first"]), layer_label(params["second"])
    pool_label = layer_label(params["pool"])
    parts = [
        *((_FIRST_PART,) if with_totals else ()),
        Part(
            "pool_activations", f"Number of values the pooling layer outputs ({pool_label})", "int"
        ),
        *_SECOND_PARTS,
        *((_TOTAL_PART,) if with_totals else ()),
    ]
    answers = _answers(sol_a, sol_b, with_totals)
    layout = params["layout"]
    order = "(height, width, channels)" if layout == "HWC" else "(channels, height, width)"
    columns = [("activations", "Output values"), ("macs", "MACs")]
    cells_a = {(_A_SECOND, "macs"): "macs_without"}
    cells_b = {(_B_POOL, "activations"): "pool_activations", (_B_SECOND, "macs"): "macs_with"}
    shown_b: dict[tuple[int, str], str] = {}
    if with_totals:
        cells_a[(_A_FIRST, "macs")] = "macs_first"
        shown_b[(_B_FIRST, "macs")] = "as in A"
    statement = (
        text_block(
            f"Both stacks take a {shape_text(params['input'])} input in {layout} layout "
            f"{order}, no batch dimension, and use the same two convolutions; stack B puts a "
            "pooling layer between them. A multiply-accumulate (MAC) is one weight times one "
            "input added to a sum."
        ),
        text_block("Stack A (no pooling):"),
        stack_block(a, columns, cells_a, labels=(first_label, second_label), note=False),
        text_block("Stack B (with pooling):"),
        stack_block(
            b,
            columns,
            cells_b,
            shown_b,
            footer=[("Second convolution: A / B", "ratio")]
            + ([("Whole stack: A / B", "total_ratio")] if with_totals else []),
            labels=(first_label, pool_label, second_label),
        ),
    )
    return Draft(
        "What pooling saves", statement, tuple(parts), answers, {k: params[k] for k in _CONFIG_KEYS}
    )


def _answers(sol_a: Solution, sol_b: Solution, with_totals: bool) -> dict[str, Any]:
    without, with_pool = sol_a.layers[_A_SECOND].macs, sol_b.layers[_B_SECOND].macs
    answers: dict[str, Any] = {
        "pool_activations": sol_b.layers[_B_POOL].activations,
        "macs_without": without,
        "macs_with": with_pool,
        "ratio": without / with_pool,
    }
    if with_totals:
        answers["macs_first"] = sol_a.layers[_A_FIRST].macs
        answers["total_ratio"] = sol_a.total_macs / sol_b.total_macs
    return answers


# ---------------------------------------------------------------- follow-through


def follow_through(problem: Problem, part_id: str, given: Mapping[str, Any]) -> Any:
    """A ratio from the student's own MAC counts."""
    if part_id == "ratio":
        without, with_pool = given["macs_without"], given["macs_with"]
    elif part_id == "total_ratio":
        without = given["macs_first"] + given["macs_without"]
        with_pool = given["macs_first"] + given["macs_with"]
    else:
        return None
    return without / with_pool if with_pool else None


# ---------------------------------------------------------------- self-test

# base's unreadable number, "1/0", is refused as a division by zero, a message without the
# expected format; a ratio typed in words shows the format hint.
UNREADABLE_RATIO = "about four"


def self_test(problem: Problem) -> SelfTest:
    """The generic self-test, with the unreadable ratios written in words."""
    return self_test_answers(problem, unreadable={"number": UNREADABLE_RATIO})


# ---------------------------------------------------------------- wrong models


def _one(layer: LayerJSON, in_hwc: Sequence[int], layout: str) -> Any:
    result = try_solve(stack_json(_in_layout(in_hwc, layout), [layer], layout))
    return None if result is None else result.layers[0]


def wrong_models(problem: Problem) -> Iterable[WrongModel]:
    """The answers of the named mistakes, through the solver with the stacks (or one layer's
    input) changed the way each mistake changes them."""
    params = problem.params
    layout = params["layout"]
    a, b = _stacks(params)
    sol_a, sol_b = solve_stack(a), solve_stack(b)
    with_totals = "total_ratio" in problem.answers
    correct = problem.answers
    conv_parts = [("macs_without", sol_a, _A_SECOND), ("macs_with", sol_b, _B_SECOND)]
    if with_totals:
        conv_parts.insert(0, ("macs_first", sol_a, _A_FIRST))
    # The output count taken for the MACs: the kernel volume left out.
    yield (
        "macs_without_kernel",
        _differing({pid: sol.layers[i].activations for pid, sol, i in conv_parts}, correct),
    )
    # Each output taken to cost kh*kw MACs: the convolution seen on a single input channel.
    forgot: dict[str, int] = {}
    for pid, sol, i in conv_parts:
        stack = a if sol is sol_a else b
        in_shape = stack["input"] if i == 0 else sol.layers[i - 1].output_shape
        in_hwc = _hwc(in_shape, layout)
        layer = {k: v for k, v in stack["layers"][i].items() if k != "groups"}
        one = _one(layer, [*in_hwc[:2], 1], layout)
        # With a 1x1 kernel this is the output count: named as macs_without_kernel above.
        if one is not None and one.macs not in (correct[pid], sol.layers[i].activations):
            forgot[pid] = one.macs
    if forgot:
        yield "input_channels_forgotten", forgot
    # The pool's stride taken as 1 (it defaults to the kernel size).
    stride_one = dict(params["pool"], stride=1)
    sol_b1 = try_solve(_stacks({**params, "pool": stride_one})[1])
    if sol_b1 is not None:
        wrong = {
            "pool_activations": sol_b1.layers[_B_POOL].activations,
            "macs_with": sol_b1.layers[_B_SECOND].macs,
            "ratio": sol_a.layers[_A_SECOND].macs / sol_b1.layers[_B_SECOND].macs,
        }
        if with_totals:
            wrong["total_ratio"] = sol_a.total_macs / sol_b1.total_macs
        yield "stride_forgotten", _differing(wrong, correct)
    # A window count off by one on each spatial axis.
    pool_hwc = _hwc(sol_b.layers[_B_POOL].output_shape, layout)
    for delta in (-1, 1):
        h, w = pool_hwc[0] + delta, pool_hwc[1] + delta
        if min(h, w) >= 1:
            yield "off_by_one_windows", {"pool_activations": h * w * pool_hwc[2]}
    inverted = {"ratio": correct["macs_with"] / correct["macs_without"]}
    if with_totals:
        inverted["total_ratio"] = sol_b.total_macs / sol_a.total_macs
    yield "ratio_inverted", _differing(inverted, correct)
    if with_totals:
        yield "unchanged_layers_forgotten", _differing({"total_ratio": correct["ratio"]}, correct)
    # "A 2x2 pool saves 4x": the stride area, or the kernel area.
    pool = _pool_axes(params)
    for area in dict.fromkeys(
        (pool["stride"][0] * pool["stride"][1], pool["kernel"][0] * pool["kernel"][1])
    ):
        ratios = {"ratio": float(area), **({"total_ratio": float(area)} if with_totals else {})}
        yield "pool_area_ratio", _differing(ratios, correct)


def _differing(wrong: Mapping[str, Any], correct: Mapping[str, Any]) -> dict[str, Any]:
    """The values of `wrong` that a grader would not accept as correct (ratios within the
    tolerance of the answer are left out: they are not a mistake)."""
    kept = {}
    for pid, value in wrong.items():
        if pid in ("ratio", "total_ratio"):
            if not RATIO_TOLERANCE.accepts(float(value), float(correct[pid])):
                kept[pid] = value
        elif value != correct[pid]:
            kept[pid] = value
    return kept


def _pool_axes(params: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """The pool's kernel and stride as (h, w) pairs (the stride defaults to the kernel)."""

    def pair(value: Any) -> tuple[int, int]:
        return (value[0], value[1]) if isinstance(value, list) else (value, value)

    kernel = pair(params["pool"]["kernel"])
    return {
        "kernel": kernel,
        "stride": pair(params["pool"].get("stride", params["pool"]["kernel"])),
    }


# ---------------------------------------------------------------- worked solution


def _n(value: int) -> str:
    """A number for KaTeX: thousands separated by {,} so the comma gets no space after it."""
    return f"{value:,}".replace(",", "{,}")


def _macs_math(
    layer: Mapping[str, Any], in_hwc: Sequence[int], out_hwc: Sequence[int], macs: int
) -> str:
    kernel = layer["kernel"]
    kh, kw = (kernel[0], kernel[1]) if isinstance(kernel, list) else (kernel, kernel)
    groups = layer.get("groups", 1)
    channels = f"\\frac{{{in_hwc[2]}}}{{{groups}}}" if groups != 1 else str(in_hwc[2])
    numbers = "\\cdot".join(
        [str(out_hwc[0]), str(out_hwc[1]), str(layer["filters"]), str(kh), str(kw), channels]
    )
    return f"H_{{out}} W_{{out}} F k_h k_w \\frac{{C_{{in}}}}{{g}} = {numbers} = {_n(macs)}"


def _shape_walk(stack: Mapping[str, Any], solution: Solution) -> str:
    shapes = [shape_text(stack["input"]), *(shape_text(r.output_shape) for r in solution.layers)]
    return " \u2192 ".join(shapes)


def worked(problem: Problem) -> list[Step]:
    """Shapes of both stacks, then each count with its formula and the ratios."""
    params = problem.params
    layout = params["layout"]
    a, b = _stacks(params)
    sol_a, sol_b = solve_stack(a), solve_stack(b)
    answers = problem.answers
    steps = [
        Step(
            "Shapes",
            f"Stack A: {_shape_walk(a, sol_a)}. Stack B: {_shape_walk(b, sol_b)}. "
            "A convolution costs one MAC per weight it applies per output value: "
            "H_out*W_out*F outputs times kh*kw*(C_in/groups) weights each.",
            ("\\text{MACs} = H_{out} W_{out} F \\cdot k_h k_w \\frac{C_{in}}{g}",),
        )
    ]
    in_a = _hwc(a["input"], layout)
    first_out = _hwc(sol_a.layers[_A_FIRST].output_shape, layout)
    pool_out = _hwc(sol_b.layers[_B_POOL].output_shape, layout)
    if "macs_first" in answers:
        steps.append(
            Step(
                f"First convolution: {layer_label(params['first'])}",
                "The same in both stacks.",
                (_macs_math(params["first"], in_a, first_out, answers["macs_first"]),),
            )
        )
    pooled = f"{pool_out[0]}\\cdot{pool_out[1]}\\cdot{pool_out[2]}"
    steps.append(
        Step(
            f"Pooling: {layer_label(params['pool'])}",
            f"{shape_text(sol_b.layers[_B_FIRST].output_shape)} \u2192 "
            f"{shape_text(sol_b.layers[_B_POOL].output_shape)}; pooling keeps the channels and "
            "has no MACs.",
            (f"H\\cdot W\\cdot C = {pooled} = {_n(answers['pool_activations'])}",),
        )
    )
    second = params["second"]
    out_a = _hwc(sol_a.layers[_A_SECOND].output_shape, layout)
    out_b = _hwc(sol_b.layers[_B_SECOND].output_shape, layout)
    steps.append(
        Step(
            f"Second convolution: {layer_label(second)}",
            "Without the pool it sees the first convolution's output; with it, the pooled map.",
            (
                f"\\text{{A: }} {_macs_math(second, first_out, out_a, answers['macs_without'])}",
                f"\\text{{B: }} {_macs_math(second, pool_out, out_b, answers['macs_with'])}",
            ),
        )
    )
    without, with_pool = _n(answers["macs_without"]), _n(answers["macs_with"])
    math = [f"\\frac{{{without}}}{{{with_pool}}} = {format_number(answers['ratio'])}"]
    text = (
        "Only the weights per output are the same both ways; the number of outputs shrinks "
        "with the pool, and valid convolutions trim borders, so the ratio is rarely exactly "
        "the pool's area."
    )
    steps.append(Step("Ratio for the second convolution", text, tuple(math)))
    if "total_ratio" in answers:
        first = _n(answers["macs_first"])
        totals = f"\\frac{{{_n(sol_a.total_macs)}}}{{{_n(sol_b.total_macs)}}}"
        steps.append(
            Step(
                "Ratio for the whole stack",
                "The first convolution costs the same in both stacks, which pulls the ratio "
                "towards 1.",
                (
                    f"\\frac{{{first} + {without}}}{{{first} + {with_pool}}} = {totals}"
                    f" = {format_number(answers['total_ratio'])}",
                ),
            )
        )
    return steps
