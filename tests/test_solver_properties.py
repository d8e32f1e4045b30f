"""The solver against brute-force twins written here from the spec's words (not from
problems.windows): window starts found by walking the padded axis, receptive fields found
by recursing through the window taps, dependency sets built cell by cell, and params and
MACs from the spec's table."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from problems.errors import SpecError
from problems.solver import solve
from problems.spec import parse_stack

ACTIVATIONS = (
    "relu", "leaky_relu", "elu", "gelu", "selu", "silu", "sigmoid", "tanh", "softmax", "linear",
)
POOLS = ("maxpool2d", "minpool2d", "avgpool2d")


# ---------------------------------------------------------------- twins


@dataclass(frozen=True)
class Axis:
    """The windows of one layer along one axis, as the twin finds them."""

    size: int  # input size along the axis
    kernel: int
    stride: int
    dilation: int
    before: int  # padding before the input
    starts: tuple[int, ...]  # input coordinate of each window's first tap

    def taps(self, unit: int) -> list[int]:
        """Input coordinates read by `unit` (any integer: units past the ends extrapolate)."""
        first = -self.before + unit * self.stride
        return [first + t * self.dilation for t in range(self.kernel)]

    def all_padding_window(self) -> bool:
        return any(
            not any(0 <= s + t * self.dilation < self.size for t in range(self.kernel))
            for s in self.starts
        )


def twin_axis(
    size: int, kernel: int, stride: int, padding: int | str, dilation: int = 1,
    ceil_mode: bool = False,
) -> Axis:
    """Walk the padded axis placing windows, as the spec's words say (not its formulas)."""
    extent = dilation * (kernel - 1) + 1
    if padding == "same":
        # TensorFlow: one window per stride step that begins inside the input; the last
        # one's overhang is the total padding, the smaller half of it before.
        anchors = list(range(0, size, stride))
        overhang = max(anchors[-1] + extent - size, 0)
        before = overhang // 2
        return Axis(size, kernel, stride, dilation, before, tuple(a - before for a in anchors))
    p = 0 if padding == "valid" else int(padding)
    end = size + p  # the padded axis is [-p, end)
    starts = []
    x = -p
    if not ceil_mode:
        while x + extent <= end:  # the whole window fits in the padded input
            starts.append(x)
            x += stride
    else:
        # Ceil: keep placing windows while the previous one has not reached the last
        # padded cell (the first window has a virtual predecessor one stride earlier) ...
        while x - stride + extent - 1 < end - 1:
            starts.append(x)
            x += stride
        # ... then drop the last window if it would start in the right padding.
        if starts and starts[-1] >= size:
            starts.pop()
    return Axis(size, kernel, stride, dilation, p, tuple(starts))


def pair(value: Any) -> tuple[Any, Any]:
    return (value[0], value[1]) if isinstance(value, list) else (value, value)


def layer_axes(layer: dict, hw: tuple[int, int]) -> tuple[Axis, Axis]:
    """The twin's windows of a conv2d or windowed pooling layer dict on an (H, W) input."""
    kernel = pair(layer["kernel"])
    default_stride = [1, 1] if layer["type"] == "conv2d" else layer["kernel"]
    stride = pair(layer.get("stride", default_stride))
    padding = layer.get("padding", "valid")
    padding = (padding, padding) if isinstance(padding, str) else pair(padding)
    dilation = pair(layer.get("dilation", 1))
    ceil_mode = layer.get("ceil_mode", False)
    return tuple(  # type: ignore[return-value]
        twin_axis(hw[n], kernel[n], stride[n], padding[n], dilation[n], ceil_mode)
        for n in range(2)
    )


def refusal_reasons(layer: dict, axes: tuple[Axis, Axis]) -> set[str]:
    """The fields a correct solver may name when refusing this windowed layer."""
    reasons = set()
    if any(not a.starts for a in axes):
        reasons.add("kernel")
    elif layer["type"] != "conv2d" and any(a.all_padding_window() for a in axes):
        reasons.add("dilation")
    return reasons


def hwc(shape: list[int], layout: str) -> tuple[int, ...]:
    if len(shape) == 3 and layout == "CHW":
        return (shape[1], shape[2], shape[0])
    return tuple(shape)


def in_layout(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    if len(shape) == 3 and layout == "CHW":
        return (shape[2], shape[0], shape[1])
    return shape


@dataclass(frozen=True)
class Expected:
    shape: tuple[int, ...]  # in the stack's layout
    params: int
    trainable: int
    macs: int


def twin_stack(body: dict) -> tuple[list[Expected], str | None]:
    """Per-layer expectations from the spec's table; stops at the first refusal and returns
    the path prefix (`layers[i].`) plus the field the solver may name, or None."""
    layout = body.get("layout", "HWC")
    shape = hwc(body["input"], layout)
    out: list[Expected] = []
    for i, layer in enumerate(body["layers"]):
        kind = layer["type"]
        params = trainable = macs = 0
        if kind in ("conv2d", *POOLS):
            if len(shape) != 3:
                return out, f"layers[{i}].type"
            h, w, c = shape
            if kind == "conv2d":
                groups = layer.get("groups", 1)
                if c % groups or layer["filters"] % groups:
                    return out, f"layers[{i}].groups"
            axes = layer_axes(layer, (h, w))
            reasons = refusal_reasons(layer, axes)
            if reasons:
                return out, f"layers[{i}].{reasons.pop()}"
            ho, wo = len(axes[0].starts), len(axes[1].starts)
            if kind == "conv2d":
                kh, kw = pair(layer["kernel"])
                per_filter = kh * kw * (c // layer.get("groups", 1))
                filters = layer["filters"]
                params = trainable = per_filter * filters + (filters if layer.get("bias", True) else 0)
                macs = ho * wo * filters * per_filter
                shape = (ho, wo, filters)
            else:
                shape = (ho, wo, c)
        elif kind.startswith("global_"):
            if len(shape) != 3:
                return out, f"layers[{i}].type"
            shape = (shape[2],)
        elif kind == "batchnorm":
            params, trainable = 4 * shape[-1], 2 * shape[-1]
        elif kind == "flatten":
            n = 1
            for d in shape:
                n *= d
            shape = (n,)
        elif kind == "dense":
            if len(shape) != 1:
                return out, f"layers[{i}].type"
            units = layer["units"]
            params = trainable = shape[0] * units + (units if layer.get("bias", True) else 0)
            macs = shape[0] * units
            shape = (units,)
        out.append(Expected(in_layout(shape, layout), params, trainable, macs))
    return out, None


def solve_body(body: dict):
    return solve(parse_stack(body))


# ---------------------------------------------------------------- strategies

small_pad = st.integers(0, 4)


@st.composite
def padding_field(draw, kernel: tuple[int, int], pool: bool) -> Any:
    """Omitted (None), "valid", "same", an int or [h, w]; pools keep ints <= kernel // 2."""
    form = draw(st.sampled_from(["omit", "valid", "same", "int", "pair"]))
    if form == "omit":
        return None
    if form in ("valid", "same"):
        return form
    if pool:
        ph = draw(st.integers(0, kernel[0] // 2))
        pw = draw(st.integers(0, kernel[1] // 2))
    else:
        ph, pw = draw(small_pad), draw(small_pad)
    if form == "int":
        return min(ph, pw)
    return [ph, pw]


@st.composite
def pair_field(draw, lo: int, hi: int) -> Any:
    h = draw(st.integers(lo, hi))
    if draw(st.booleans()):
        return h
    return [h, draw(st.integers(lo, hi))]


@st.composite
def windowed_layer(draw, kinds=("conv2d", *POOLS), max_kernel: int = 7) -> dict:
    kind = draw(st.sampled_from(kinds))
    kernel_field = draw(pair_field(1, max_kernel))
    kernel = pair(kernel_field)
    layer: dict[str, Any] = {"type": kind, "kernel": kernel_field}
    if kind == "conv2d":
        layer["filters"] = draw(st.integers(1, 6))
    if draw(st.booleans()):
        layer["stride"] = draw(pair_field(1, 4))
    padding = draw(padding_field(kernel, pool=kind != "conv2d"))
    if padding is not None:
        layer["padding"] = padding
    if kind != "avgpool2d" and draw(st.booleans()):
        layer["dilation"] = draw(pair_field(1, 3))
    if kind != "conv2d" and not isinstance(padding, str):
        ceil_mode = draw(st.sampled_from(["omit", True, False]))
        if ceil_mode != "omit":
            layer["ceil_mode"] = ceil_mode
    return layer


layouts = st.sampled_from(["HWC", "CHW"])


def spatial_input(h: int, w: int, c: int, layout: str) -> list[int]:
    return [h, w, c] if layout == "HWC" else [c, h, w]


# ---------------------------------------------------------------- the twins themselves


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation", "ceil_mode", "expected"),
    [
        (28, 3, 1, 0, 1, False, 26),
        (12, 3, 2, "same", 1, False, 6),
        (5, 2, 2, 1, 1, True, 3),  # ceil gives 4; the 4th would start in the right padding
        (5, 2, 2, 0, 1, True, 3),  # ceil keeps the partial window that starts at 4
        (2, 3, 3, 0, 1, True, 1),  # a kernel larger than the input, still one output
        (2, 3, 3, 0, 1, False, 0),
        (7, 3, 1, "same", 2, False, 7),
        (10, 3, 4, "valid", 1, False, 2),
    ],
)
def test_twin_output_sizes_on_hand_worked_cases(size, kernel, stride, padding, dilation, ceil_mode, expected):
    assert len(twin_axis(size, kernel, stride, padding, dilation, ceil_mode).starts) == expected


@given(
    size=st.integers(1, 40), kernel=st.integers(1, 9), stride=st.integers(1, 6),
    p=st.integers(0, 4), dilation=st.integers(1, 3), ceil_mode=st.booleans(),
)
def test_twin_agrees_with_the_spec_formula(size, kernel, stride, p, dilation, ceil_mode):
    # The twin walks windows; the spec states a formula. They must say the same thing.
    k_eff = dilation * (kernel - 1) + 1
    span = size + 2 * p - k_eff
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + p:
            out -= 1
    else:
        out = span // stride + 1
    assert len(twin_axis(size, kernel, stride, p, dilation, ceil_mode).starts) == max(out, 0)
    same = twin_axis(size, kernel, stride, "same", dilation)
    assert len(same.starts) == -(-size // stride)
    assert same.before == max((len(same.starts) - 1) * stride + k_eff - size, 0) // 2


# ---------------------------------------------------------------- output sizes


@given(
    layer=windowed_layer(), h=st.integers(1, 40), w=st.integers(1, 40), c=st.integers(1, 4),
    layout=layouts,
)
@settings(max_examples=400)
def test_single_windowed_layer_output_shape_matches_twin(layer, h, w, c, layout):
    body = {"layout": layout, "input": spatial_input(h, w, c, layout), "layers": [layer]}
    axes = layer_axes(layer, (h, w))
    reasons = refusal_reasons(layer, axes)
    if reasons:
        with pytest.raises(SpecError) as err:
            solve_body(body)
        assert err.value.path in {f"layers[0].{r}" for r in reasons}
        return
    result = solve_body(body).layers[0]
    channels = layer.get("filters", c)
    expected_hwc = (len(axes[0].starts), len(axes[1].starts), channels)
    assert result.output_shape == in_layout(expected_hwc, layout)
    assert result.activations == expected_hwc[0] * expected_hwc[1] * channels


@given(
    kind=st.sampled_from(POOLS), kernel=st.integers(1, 6), extra=st.integers(1, 3),
    dilation=st.integers(1, 3),
)
def test_pool_padding_over_half_the_kernel_is_refused(kind, kernel, extra, dilation):
    # Section 3: at most kernel // 2, the undilated kernel, whatever the dilation.
    layer = {"type": kind, "kernel": kernel, "padding": kernel // 2 + extra}
    if kind != "avgpool2d":
        layer["dilation"] = dilation
    body = {"input": [40, 40, 1], "layers": [layer]}
    with pytest.raises(SpecError) as err:
        solve_body(body)
    assert err.value.path == "layers[0].padding"


def test_dilated_pool_window_in_the_padding_is_refused():
    # Size 3, padding 1, kernel 2 dilated by 4: the one window reads cells -1 and 3.
    body = {"input": [3, 3, 1], "layers": [
        {"type": "maxpool2d", "kernel": 2, "padding": 1, "dilation": 4}]}
    with pytest.raises(SpecError) as err:
        solve_body(body)
    assert err.value.path == "layers[0].dilation"


@given(
    kind=st.sampled_from(["maxpool2d", "minpool2d"]), size=st.integers(1, 7),
    kernel=st.integers(2, 4), stride=st.integers(1, 3), dilation=st.integers(2, 6),
    data=st.data(),
)
@settings(max_examples=300)
def test_pool_window_made_only_of_padding_is_refused(kind, size, kernel, stride, dilation, data):
    # Dilated pooling windows on a small input: some fall wholly in the padding (the twin
    # finds them tap by tap) and must be refused; the others give the twin's size.
    p = data.draw(st.integers(0, kernel // 2))
    ceil_mode = data.draw(st.booleans())
    layer = {"type": kind, "kernel": [kernel, 1], "stride": [stride, 1], "padding": [p, 0],
             "dilation": [dilation, 1], "ceil_mode": ceil_mode}
    body = {"input": [size, 3, 1], "layers": [layer]}
    axis = twin_axis(size, kernel, stride, p, dilation, ceil_mode)
    if not axis.starts or axis.all_padding_window():
        with pytest.raises(SpecError) as err:
            solve_body(body)
        assert err.value.path == ("layers[0].kernel" if not axis.starts else "layers[0].dilation")
    else:
        assert solve_body(body).layers[0].output_shape == (len(axis.starts), 3, 1)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_ceil_mode_with_a_string_padding_is_refused(padding):
    body = {"input": [8, 8, 1], "layers": [
        {"type": "maxpool2d", "kernel": 2, "padding": padding, "ceil_mode": False}]}
    with pytest.raises(SpecError) as err:
        solve_body(body)
    assert err.value.path == "layers[0].ceil_mode"


def test_ceil_mode_drops_window_starting_in_right_padding():
    body = {"input": [5, 5, 1], "layers": [
        {"type": "maxpool2d", "kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True}]}
    assert solve_body(body).layers[0].output_shape == (3, 3, 1)


def test_ceil_mode_gives_one_output_for_a_kernel_larger_than_the_input():
    body = {"input": [2, 2, 1], "layers": [
        {"type": "avgpool2d", "kernel": 3, "ceil_mode": True}]}
    assert solve_body(body).layers[0].output_shape == (1, 1, 1)
    body["layers"][0]["ceil_mode"] = False
    with pytest.raises(SpecError) as err:
        solve_body(body)
    assert err.value.path == "layers[0].kernel"


# ---------------------------------------------------------------- receptive fields


def interval_twin(axes: list[Axis]):
    """`hull(level, unit)`: first and last input coordinate unit `unit` of layer `level`
    (0 = the input) depends on, treating every layer as extending infinitely into its
    padding (a padded position covers what a unit there would cover)."""

    @cache
    def hull(level: int, unit: int) -> tuple[int, int]:
        if level == 0:
            return unit, unit
        spans = [hull(level - 1, q) for q in axes[level - 1].taps(unit)]
        return min(s[0] for s in spans), max(s[1] for s in spans)

    return hull


def dependency_twin(axes: list[Axis]):
    """`depends(level, unit)`: the set of real input cells a real unit depends on, and
    whether any padding (or ceil-mode overhang) took part, built cell by cell."""

    @cache
    def depends(level: int, unit: int) -> tuple[frozenset[int], bool]:
        if level == 0:
            return frozenset({unit}), False
        layer = axes[level - 1]
        cells: set[int] = set()
        padded = False
        for q in layer.taps(unit):
            if 0 <= q < layer.size:
                sub, sub_padded = depends(level - 1, q)
                cells |= sub
                padded |= sub_padded
            else:
                padded = True
        return frozenset(cells), padded

    return depends


@st.composite
def windowed_stack(draw) -> dict:
    layout = draw(layouts)
    h, w = draw(st.integers(8, 24)), draw(st.integers(8, 24))
    layers: list[dict] = []
    for _ in range(draw(st.integers(1, 4))):
        layers.append(draw(windowed_layer(kinds=("conv2d", "maxpool2d"), max_kernel=5)))
        if draw(st.integers(0, 3)) == 0:
            layers.append({"type": draw(st.sampled_from(["relu", "batchnorm", "tanh"]))})
    return {"layout": layout, "input": spatial_input(h, w, 2, layout), "layers": layers}


def stack_axes(body: dict) -> tuple[list[list[Axis]], str | None]:
    """Per axis, the twin's windows of each windowed layer; or the refusal path."""
    shape = hwc(body["input"], body["layout"])[:2]
    per_axis: list[list[Axis]] = [[], []]
    for i, layer in enumerate(body["layers"]):
        if layer["type"] not in ("conv2d", "maxpool2d"):
            continue
        axes = layer_axes(layer, shape)
        reasons = refusal_reasons(layer, axes)
        if reasons:
            return per_axis, f"layers[{i}].{reasons.pop()}"
        for n in range(2):
            per_axis[n].append(axes[n])
        shape = (len(axes[0].starts), len(axes[1].starts))
    return per_axis, None


@given(body=windowed_stack())
@settings(max_examples=250)
def test_receptive_fields_match_the_interval_twin(body):
    per_axis, refusal = stack_axes(body)
    if refusal is not None:
        with pytest.raises(SpecError) as err:
            solve_body(body)
        assert err.value.path.split(".")[0] == refusal.split(".")[0]
        return
    solution = solve_body(body)
    hulls = [interval_twin(per_axis[n]) for n in range(2)]
    level = 0
    for layer, result in zip(body["layers"], solution.layers, strict=True):
        if layer["type"] in ("conv2d", "maxpool2d"):
            level += 1
        field = result.receptive_field
        assert field is not None
        units = hwc(list(result.output_shape), body["layout"])[:2]
        for n in range(2):
            lo0, hi0 = hulls[n](level, 0)
            lo1, _ = hulls[n](level, 1)
            assert (field.size[n], field.jump[n], field.start[n]) == (hi0 - lo0 + 1, lo1 - lo0, lo0)
            for unit in range(units[n]):
                assert field.rows(unit, n) == hulls[n](level, unit)


@given(body=windowed_stack())
@settings(max_examples=250)
def test_real_dependencies_lie_in_the_clipped_receptive_field(body):
    # The spec: unit i sees rows start'+i*j' .. start'+i*j'+r'-1, clipped to the image.
    # Literally: every real input cell it depends on is in that range; when no padding
    # took part the range's ends are reached; and with no dilation and no stride larger
    # than its kernel (no holes) it is every cell of the range.
    per_axis, refusal = stack_axes(body)
    if refusal is not None:
        return
    solution = solve_body(body)
    field = solution.layers[-1].receptive_field
    image = hwc(body["input"], body["layout"])[:2]
    units = hwc(list(solution.layers[-1].output_shape), body["layout"])[:2]
    for n in range(2):
        depends = dependency_twin(per_axis[n])
        holes = any(a.dilation > 1 or a.stride > a.kernel for a in per_axis[n])
        for unit in range(units[n]):
            first, last = field.rows(unit, n)
            clipped = set(range(max(first, 0), min(last, image[n] - 1) + 1))
            cells, padded = depends(len(per_axis[n]), unit)
            assert cells <= clipped
            if not padded:
                assert (min(cells), max(cells)) == (first, last)
                if not holes:
                    assert cells == clipped


def test_pointwise_layers_keep_the_receptive_field_and_heads_drop_it():
    body = {"input": [16, 16, 3], "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2},
        {"type": "batchnorm"}, {"type": "relu"},
        {"type": "global_maxpool2d"}, {"type": "sigmoid"},
    ]}
    fields = [layer.receptive_field for layer in solve_body(body).layers]
    assert fields[0] == fields[1] == fields[2]
    assert fields[0].size == (3, 3) and fields[0].jump == (2, 2)
    assert fields[3] is None and fields[4] is None
    flat = {"input": [6, 6, 1], "layers": [{"type": "flatten"}, {"type": "dense", "units": 2}]}
    assert [layer.receptive_field for layer in solve_body(flat).layers] == [None, None]


def test_same_padding_moves_the_start_into_the_padding():
    body = {"input": [9, 9, 1], "layers": [
        {"type": "conv2d", "filters": 1, "kernel": 5, "padding": "same"},
        {"type": "maxpool2d", "kernel": 3, "stride": 2, "padding": 1},
    ]}
    first, second = (layer.receptive_field for layer in solve_body(body).layers)
    assert (first.size, first.jump, first.start) == ((5, 5), (1, 1), (-2, -2))
    assert (second.size, second.jump, second.start) == ((7, 7), (2, 2), (-3, -3))


# ---------------------------------------------------------------- params and MACs


@st.composite
def full_stack(draw) -> dict:
    """A stack of windowed and pointwise layers, maybe a head, then dense layers."""
    layout = draw(layouts)
    c = draw(st.sampled_from([1, 2, 3, 4, 6]))
    body_layers: list[dict] = []
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.sampled_from(["conv2d", "conv2d", "pool", "batchnorm", "act"]))
        if choice == "conv2d":
            layer = draw(windowed_layer(kinds=("conv2d",), max_kernel=5))
            groups = draw(st.sampled_from([1, 1, 2, 3]))
            if groups > 1:
                layer["groups"] = groups
                layer["filters"] = groups * draw(st.integers(1, 3))
            if draw(st.booleans()):
                layer["bias"] = draw(st.booleans())
        elif choice == "pool":
            layer = draw(windowed_layer(kinds=POOLS, max_kernel=4))
        elif choice == "batchnorm":
            layer = {"type": "batchnorm"}
        else:
            layer = {"type": draw(st.sampled_from(ACTIVATIONS))}
        body_layers.append(layer)
    head = draw(st.sampled_from([None, "flatten", "global_avgpool2d", "global_maxpool2d",
                                 "global_minpool2d"]))
    if head:
        body_layers.append({"type": head})
        for _ in range(draw(st.integers(0, 3))):
            choice = draw(st.sampled_from(["dense", "dense", "batchnorm", "act", "flatten"]))
            if choice == "dense":
                layer = {"type": "dense", "units": draw(st.integers(1, 20))}
                if draw(st.booleans()):
                    layer["bias"] = draw(st.booleans())
            elif choice == "act":
                layer = {"type": draw(st.sampled_from(ACTIVATIONS))}
            else:
                layer = {"type": choice}
            body_layers.append(layer)
    elif draw(st.integers(0, 5)) == 0:
        body_layers.append({"type": "dense", "units": 3})  # on a spatial input: refused
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    return {"layout": layout, "input": spatial_input(h, w, c, layout), "layers": body_layers}


def check_against_twin(body: dict) -> None:
    expected, refusal = twin_stack(body)
    if refusal is not None:
        with pytest.raises(SpecError) as err:
            solve_body(body)
        prefix = refusal.rsplit(".", 1)[0]
        assert err.value.path.startswith(prefix + "."), (err.value.path, refusal)
        if not refusal.endswith((".kernel", ".dilation")):
            assert err.value.path == refusal
        assert err.value.message
        return
    solution = solve_body(body)
    assert len(solution.layers) == len(expected)
    for i, (got, want) in enumerate(zip(solution.layers, expected, strict=True)):
        assert got.index == i
        assert got.type == body["layers"][i]["type"]
        assert got.output_shape == want.shape
        assert (got.params, got.trainable_params, got.macs) == (want.params, want.trainable, want.macs)
        assert got.non_trainable_params == want.params - want.trainable
        n = 1
        for d in want.shape:
            n *= d
        assert got.activations == n
    answer = solution.to_json()
    assert answer["total_params"] == sum(e.params for e in expected)
    assert answer["trainable_params"] == sum(e.trainable for e in expected)
    assert answer["non_trainable_params"] == sum(e.params - e.trainable for e in expected)
    assert answer["total_macs"] == sum(e.macs for e in expected)


@given(body=full_stack())
@settings(max_examples=300)
def test_shapes_params_and_macs_match_the_spec_table(body):
    check_against_twin(body)


@given(n=st.integers(1, 50), layers=st.lists(st.sampled_from(
    [{"type": "dense", "units": 4}, {"type": "dense", "units": 7, "bias": False},
     {"type": "batchnorm"}, {"type": "flatten"}, {"type": "relu"}, {"type": "softmax"}]),
    max_size=5))
def test_one_dimensional_stacks_match_the_spec_table(n, layers):
    check_against_twin({"input": [n], "layers": layers})


# ---------------------------------------------------------------- seed fixtures


def seed_model(layout: str) -> dict:
    return {
        "layout": layout,
        "input": spatial_input(28, 28, 1, layout),
        "layers": [{"type": "conv2d", "filters": f, "kernel": 3} for f in (32, 64, 64)],
    }


def spec_example(layout: str) -> dict:
    return {
        "layout": layout,
        "input": spatial_input(28, 28, 1, layout),
        "layers": [
            {"type": "conv2d", "filters": 32, "kernel": 3},
            {"type": "conv2d", "filters": 64, "kernel": 3},
            {"type": "maxpool2d", "kernel": 2},
            {"type": "conv2d", "filters": 64, "kernel": [3, 3], "stride": 2, "padding": "same"},
            {"type": "global_avgpool2d"},
            {"type": "dense", "units": 10},
        ],
    }


@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_seed_model_shapes_params_and_third_layer_field(layout):
    solution = solve_body(seed_model(layout))
    shapes = [in_layout(s, layout) for s in [(26, 26, 32), (24, 24, 64), (22, 22, 64)]]
    assert [layer.output_shape for layer in solution.layers] == shapes
    assert [layer.params for layer in solution.layers] == [320, 18_496, 36_928]
    assert solution.total_params == solution.trainable_params == 55_744
    assert solution.total_macs == 28_653_696
    assert solution.layers[0].to_json()["macs"] == 194_688
    assert solution.layers[0].activations == 21_632
    assert solution.layers[2].receptive_field.size == (7, 7)
    check_against_twin(seed_model(layout))


def test_two_stride_two_convolutions_see_seven_by_seven():
    body = {"input": [28, 28, 1], "layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 2},
        {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 2},
    ]}
    fields = [layer.receptive_field for layer in solve_body(body).layers]
    assert (fields[0].size, fields[0].jump) == ((3, 3), (2, 2))
    assert (fields[1].size, fields[1].jump, fields[1].start) == ((7, 7), (4, 4), (0, 0))


@pytest.mark.parametrize("layout", ["HWC", "CHW"])
def test_spec_example_end_to_end(layout):
    solution = solve_body(spec_example(layout))
    shapes = [(26, 26, 32), (24, 24, 64), (12, 12, 64), (6, 6, 64), (64,), (10,)]
    assert [layer.output_shape for layer in solution.layers] == [in_layout(s, layout) for s in shapes]
    assert [layer.params for layer in solution.layers] == [320, 18_496, 0, 36_928, 0, 650]
    assert [layer.macs for layer in solution.layers] == [
        194_688, 10_616_832, 0, 1_327_104, 0, 640]
    sizes = [f.receptive_field and (f.receptive_field.size, f.receptive_field.jump,
                                    f.receptive_field.start) for f in solution.layers]
    assert sizes == [
        ((3, 3), (1, 1), (0, 0)), ((5, 5), (1, 1), (0, 0)), ((6, 6), (2, 2), (0, 0)),
        ((10, 10), (4, 4), (0, 0)), None, None,
    ]
    assert solution.total_params == 56_394
    assert solution.total_macs == 12_139_264
    check_against_twin(spec_example(layout))
