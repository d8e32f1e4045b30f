"""Pooling of grids (spec section 2) against a brute-force twin, PyTorch and examples."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from problems import pooling
from problems.errors import SpecError
from problems.pooling import Pooled, global_pool, pool2d

SPEC_GRID = [[1, 3, 1, 0], [2, 8, 2, 4], [1, 3, 1, 5], [0, 0, 6, 2]]


# ---------------------------------------------------------------------------------------
# The brute-force twin: the spec's rules written out directly, one output cell at a time.
# It shares no code with problems/ (not even windows.py).


def twin_axis(
    size: int, kernel: int, stride: int, padding: int | str, dilation: int, ceil_mode: bool
) -> tuple[int, int, int]:
    """(outputs, padding before, padding after) along one axis, from spec section 1."""
    k_eff = dilation * (kernel - 1) + 1
    if padding == "same":
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + k_eff - size, 0)
        return out, total // 2, total - total // 2
    p = 0 if padding == "valid" else int(padding)
    ratio = (size + 2 * p - k_eff) / stride
    if ceil_mode:
        out = math.ceil(ratio) + 1
        if (out - 1) * stride >= size + p:  # the last window would start in the padding
            out -= 1
    else:
        out = math.floor(ratio) + 1
    return out, p, p


class AllPadding(Exception):
    """The twin found a window with no real cell."""


def twin_pool(
    grid: np.ndarray,
    op: str,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] | str,
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Pool `grid` (C, H, W) with plain loops; argmax None for avg."""
    channels, height, width = grid.shape
    pads = (padding, padding) if isinstance(padding, str) else padding
    ho, top, bottom = twin_axis(height, kernel[0], stride[0], pads[0], dilation[0], ceil_mode)
    wo, left, right = twin_axis(width, kernel[1], stride[1], pads[1], dilation[1], ceil_mode)
    if ho < 1 or wo < 1:
        raise ValueError("empty output")
    output = np.zeros((channels, ho, wo))
    argmax = np.zeros((channels, ho, wo, 2), np.int64)
    for c in range(channels):
        for i in range(ho):
            for j in range(wo):
                r0, c0 = i * stride[0] - top, j * stride[1] - left
                cells = [
                    (r0 + a * dilation[0], c0 + b * dilation[1])
                    for a in range(kernel[0])
                    for b in range(kernel[1])
                ]  # row-major order within the window
                real = [(r, q) for r, q in cells if 0 <= r < height and 0 <= q < width]
                if not real:
                    raise AllPadding
                values = [float(grid[c, r, q]) for r, q in real]
                if op == "avg":
                    if padding == "same":
                        divisor = len(real)
                    elif count_include_pad:
                        # PyTorch: the window clipped to the padded input, padding counted.
                        rows = min(r0 + kernel[0], height + top) - r0
                        cols = min(c0 + kernel[1], width + left) - c0
                        divisor = rows * cols
                    else:
                        divisor = len(real)
                    output[c, i, j] = sum(values) / divisor
                    continue
                sign = 1.0 if op == "max" else -1.0  # min is max of the negated map
                best = 0
                for n in range(1, len(values)):
                    if sign * values[n] > sign * values[best]:
                        best = n
                output[c, i, j] = values[best]
                argmax[c, i, j] = real[best]
    return output, (None if op == "avg" else argmax)


@contextmanager
def pooling_settings(**values: int) -> Iterator[None]:
    """Change module constants of problems.pooling for a while."""
    saved = {name: getattr(pooling, name) for name in values}
    for name, value in values.items():
        setattr(pooling, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(pooling, name, value)


# The two implementations: strided passes (large grids) and a view of all windows (small).
PATHS = {"strided passes": {"SMALL_CELLS": 0}, "window view": {"SMALL_CELLS": 10**12}}


def pooled_both_ways(case: dict[str, Any], **options: Any) -> list[Pooled]:
    results = []
    for path in PATHS.values():
        with pooling_settings(**path):
            results.append(pool2d(**case, **options))
    return results


# ---------------------------------------------------------------------------------------
# Examples


def test_spec_example_max_pool() -> None:
    pooled = pool2d(np.array([SPEC_GRID], float), "max", (2, 2), (2, 2), (0, 0))
    assert pooled.output.tolist() == [[[8, 4], [3, 6]]]
    assert pooled.argmax is not None
    assert pooled.argmax.tolist() == [[[[1, 1], [1, 3]], [[2, 1], [3, 2]]]]
    assert pooled.output.dtype == np.float64 and pooled.argmax.dtype == np.int64


@pytest.mark.parametrize("row", range(3))
@pytest.mark.parametrize("col", range(3))
def test_max_is_found_wherever_it_sits_in_the_window(row: int, col: int) -> None:
    grid = np.array([[1, 3, 1], [2, 0, 2], [1, 3, 1]], float)
    grid[row, col] = 8
    pooled = pool2d(grid[None], "max", (3, 3), (1, 1), (0, 0))
    assert pooled.output.tolist() == [[[8]]]
    assert pooled.argmax is not None and pooled.argmax.tolist() == [[[[row, col]]]]


def test_ties_go_to_the_first_cell_in_row_major_order() -> None:
    # (0, 1) and (1, 0) tie: row-major order puts (0, 1) first, although its column is later.
    pooled = pool2d(np.array([[[1, 5], [5, 1]]], float), "max", (2, 2), (2, 2), (0, 0))
    assert pooled.argmax is not None and pooled.argmax.tolist() == [[[[0, 1]]]]
    # Same with a dilated window: cells (0,0) (0,2) (2,0) (2,2); the tie is (0,2) vs (2,0).
    grid = np.zeros((1, 3, 3))
    grid[0, 0, 2] = grid[0, 2, 0] = 7
    pooled = pool2d(grid, "max", (2, 2), (1, 1), (0, 0), dilation=(2, 2))
    assert pooled.argmax is not None and pooled.argmax.tolist() == [[[[0, 2]]]]


def test_a_flat_grid_points_each_window_at_its_first_real_cell() -> None:
    pooled = pool2d(np.ones((2, 4, 5)), "min", (3, 3), (2, 2), (1, 1))
    assert pooled.argmax is not None
    assert pooled.argmax[0].tolist() == [[[0, 0], [0, 1], [0, 3]], [[1, 0], [1, 1], [1, 3]]]
    assert np.array_equal(pooled.argmax[0], pooled.argmax[1])


def test_padded_cells_never_win() -> None:
    grid = -np.arange(1, 10, dtype=float).reshape(1, 3, 3)
    pooled = pool2d(grid, "max", (3, 3), (1, 1), (1, 1))
    assert pooled.output.max() < 0
    flipped = pool2d(-grid, "min", (3, 3), (1, 1), (1, 1))
    assert flipped.output.min() > 0
    assert np.array_equal(flipped.output, -pooled.output)
    assert pooled.argmax is not None and flipped.argmax is not None
    assert np.array_equal(flipped.argmax, pooled.argmax)


def test_min_pooling_is_max_pooling_of_the_negated_map() -> None:
    rng = np.random.default_rng(7)
    grid = rng.integers(-3, 4, (3, 9, 8)).astype(float)
    low = pool2d(grid, "min", (3, 2), (2, 3), (1, 1), dilation=(1, 2), ceil_mode=True)
    high = pool2d(-grid, "max", (3, 2), (2, 3), (1, 1), dilation=(1, 2), ceil_mode=True)
    assert np.array_equal(low.output, -high.output)
    assert low.argmax is not None and high.argmax is not None
    assert np.array_equal(low.argmax, high.argmax)


def test_avg_divisor_counts_padding_but_not_the_ceil_mode_overhang() -> None:
    # 6 wide, kernel 3, stride 2, padding 1, ceil mode: 4 windows; the last starts at 5 and
    # covers the real cell 5, the padding cell 6 (counted) and the overhang 7 (not counted).
    ones = np.ones((1, 1, 6))
    with_pad = pool2d(ones, "avg", (1, 3), (1, 2), (0, 1), ceil_mode=True)
    # windows: [-1,0,1] -> 2/3, [1,2,3] -> 1, [3,4,5] -> 1, [5,6,(7)] -> 1/2 (7 is overhang)
    assert with_pad.output[0, 0].tolist() == pytest.approx([2 / 3, 1, 1, 1 / 2])
    real_only = pool2d(ones, "avg", (1, 3), (1, 2), (0, 1), ceil_mode=True, count_include_pad=False)
    assert real_only.output[0, 0].tolist() == [1, 1, 1, 1]
    assert real_only.argmax is None


def test_same_padding_averages_over_real_cells_only() -> None:
    pooled = pool2d(np.ones((1, 5, 5)), "avg", (3, 3), (2, 2), "same")
    assert pooled.output.shape == (1, 3, 3)
    assert np.all(pooled.output == 1)


def test_valid_padding_is_integer_zero() -> None:
    grid = np.arange(2 * 7 * 6, dtype=float).reshape(2, 7, 6)
    for op in ("max", "avg", "min"):
        by_name = pool2d(grid, op, (3, 2), (2, 2), "valid")  # type: ignore[arg-type]
        by_zero = pool2d(grid, op, (3, 2), (2, 2), (0, 0))  # type: ignore[arg-type]
        assert np.array_equal(by_name.output, by_zero.output)


def test_ceil_mode_keeps_a_kernel_larger_than_the_input() -> None:
    # PyTorch: 2 wide, kernel 3, stride 2, padding 1, ceil mode -> 2 outputs.
    pooled = pool2d(np.array([[[1.0, 2.0]]]), "max", (1, 3), (1, 2), (0, 1), ceil_mode=True)
    assert pooled.output.tolist() == [[[2, 2]]]


@pytest.mark.parametrize("path", PATHS)
def test_values_alone_match_values_with_argmax(path: str) -> None:
    rng = np.random.default_rng(3)
    grid = rng.integers(-2, 3, (4, 13, 11)).astype(float)
    with pooling_settings(**PATHS[path]):
        for op in ("max", "min"):
            both = pool2d(grid, op, (3, 3), (2, 2), (1, 1))  # type: ignore[arg-type]
            alone = pool2d(grid, op, (3, 3), (2, 2), (1, 1), with_argmax=False)  # type: ignore[arg-type]
            assert alone.argmax is None
            assert np.array_equal(both.output, alone.output)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_float32_input_is_pooled_in_float32_with_the_same_result(path: str, op: str) -> None:
    rng = np.random.default_rng(5)
    grid = rng.standard_normal((3, 10, 9))
    wide = grid.astype(np.float32).astype(np.float64)
    with pooling_settings(**PATHS[path]):
        narrow = pool2d(grid.astype(np.float32), op, (3, 3), (2, 2), (1, 1))  # type: ignore[arg-type]
        exact = pool2d(wide, op, (3, 3), (2, 2), (1, 1))  # type: ignore[arg-type]
    assert narrow.output.dtype == np.float32
    if op == "avg":
        assert np.allclose(narrow.output, exact.output, rtol=1e-5, atol=1e-6)
    else:
        assert np.array_equal(narrow.output, exact.output)
        assert narrow.argmax is not None and exact.argmax is not None
        assert np.array_equal(narrow.argmax, exact.argmax)


def test_integer_input_is_pooled_as_float64() -> None:
    pooled = pool2d(np.array([SPEC_GRID]), "avg", (2, 2), (2, 2), (0, 0))
    assert pooled.output.dtype == np.float64
    assert pooled.output.tolist() == [[[3.5, 1.75], [1.0, 3.5]]]


def test_global_pooling_reduces_each_channel_whole() -> None:
    grid = np.array([SPEC_GRID, [[5, 1, 5, 0], [0, 0, 0, 0], [0, 5, 0, 0], [0, 0, 0, 0]]], float)
    highest = global_pool(grid, "max")
    assert highest.output.tolist() == [8, 5]
    assert highest.argmax is not None and highest.argmax.tolist() == [[1, 1], [0, 0]]
    assert highest.argmax.dtype == np.int64
    lowest = global_pool(grid, "min")
    assert lowest.output.tolist() == [0, 0]
    assert lowest.argmax is not None and lowest.argmax.tolist() == [[0, 3], [0, 3]]
    mean = global_pool(grid, "avg")
    assert mean.output.tolist() == [39 / 16, 16 / 16]
    assert mean.argmax is None


def test_global_pooling_equals_a_window_covering_the_grid() -> None:
    rng = np.random.default_rng(11)
    grid = rng.integers(-2, 3, (3, 5, 7)).astype(float)
    for op in ("max", "avg", "min"):
        whole = global_pool(grid, op)  # type: ignore[arg-type]
        window = pool2d(grid, op, (5, 7), (5, 7), (0, 0))  # type: ignore[arg-type]
        assert np.allclose(whole.output, window.output[:, 0, 0])
        if window.argmax is not None:
            assert whole.argmax is not None
            assert np.array_equal(whole.argmax, window.argmax[:, 0, 0])


# ---------------------------------------------------------------------------------------
# Refusals


def test_refuses_a_window_larger_than_the_padded_input() -> None:
    with pytest.raises(SpecError) as caught:
        pool2d(np.ones((1, 4, 4)), "max", (5, 2), (1, 1), (0, 0))
    assert caught.value.path == "kernel"


def test_refuses_a_window_of_padding_only() -> None:
    # 2 wide, kernel 2 dilated by 3, padding 1: the window reads cells -1 and 2.
    with pytest.raises(SpecError) as caught:
        pool2d(np.ones((1, 1, 2)), "max", (1, 2), (1, 1), (0, 1), dilation=(1, 3))
    assert caught.value.path == "dilation"


@pytest.mark.parametrize(
    ("arguments", "path"),
    [
        ({"op": "median"}, "op"),
        ({"op": "avg", "dilation": (2, 1)}, "dilation"),
        ({"padding": "same", "ceil_mode": True}, "ceil_mode"),
        ({"stride": (0, 1)}, "stride"),
        ({"kernel": (2.0, 2)}, "kernel"),
        ({"padding": (-1, 0)}, "padding"),
        ({"padding": "full"}, "padding"),
        ({"x": np.ones((4, 4))}, "input"),
    ],
)
def test_refuses_bad_arguments_with_their_path(arguments: dict[str, Any], path: str) -> None:
    call: dict[str, Any] = {
        "x": np.ones((1, 4, 4)),
        "op": "max",
        "kernel": (2, 2),
        "stride": (2, 2),
        "padding": (0, 0),
    }
    call.update(arguments)
    with pytest.raises(SpecError) as caught:
        pool2d(**call)
    assert caught.value.path == path


# ---------------------------------------------------------------------------------------
# Properties against the twin


@st.composite
def pooling_cases(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(["max", "avg", "min"]))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (1, 1) if op == "avg" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding: tuple[int, int] | str = draw(
        st.one_of(
            st.sampled_from(["valid", "same"]),
            st.tuples(st.integers(0, kernel[0] // 2), st.integers(0, kernel[1] // 2)),
        )
    )
    ceil_mode = not isinstance(padding, str) and draw(st.booleans())
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 10)), draw(st.integers(1, 10)))
    # A small range of integers: ties everywhere, and exact averages to compare.
    grid = draw(arrays(np.int8, shape, elements=st.integers(-2, 2))).astype(np.float64)
    return {
        "x": grid,
        "op": op,
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "ceil_mode": ceil_mode,
        "count_include_pad": draw(st.booleans()),
    }


def twin_or_skip(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The twin's answer, or None (after checking pool2d refuses it) if there is none."""
    arguments = dict(case)
    grid = arguments.pop("x")
    try:
        return twin_pool(grid, **arguments)
    except (ValueError, AllPadding):
        with pytest.raises(SpecError):
            pool2d(grid, **arguments)
        return None


def assert_same_pooling(pooled: Pooled, expected: tuple[np.ndarray, np.ndarray | None]) -> None:
    output, argmax = expected
    assert pooled.output.shape == output.shape
    if argmax is None:
        assert pooled.argmax is None
        assert np.allclose(pooled.output, output, rtol=1e-12, atol=1e-12)
    else:
        assert np.array_equal(pooled.output, output)
        assert pooled.argmax is not None
        assert np.array_equal(pooled.argmax, argmax)


@settings(max_examples=300, deadline=None)
@given(pooling_cases())
def test_pool2d_matches_the_brute_force_twin(case: dict[str, Any]) -> None:
    expected = twin_or_skip(case)
    assume(expected is not None)
    assert expected is not None
    grid = case["x"].copy()
    for pooled in pooled_both_ways(case):
        assert_same_pooling(pooled, expected)
    assert np.array_equal(case["x"], grid)  # the input is left alone
    if case["op"] != "avg":
        for alone in pooled_both_ways(case, with_argmax=False):
            assert alone.argmax is None
            assert np.array_equal(alone.output, expected[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pooling_cases(), st.integers(1, 6))  # the winners' pass takes half as many per chunk
def test_chunking_over_channels_changes_nothing(case: dict[str, Any], per_chunk: int) -> None:
    case["x"] = np.concatenate([case["x"]] * 3)  # 3 to 9 channels
    expected = twin_or_skip(case)
    assume(expected is not None)
    assert expected is not None
    with pooling_settings(SMALL_CELLS=0, CHUNK_BYTES=per_chunk * case["x"][0].nbytes):
        assert_same_pooling(pool2d(**case), expected)


@pytest.mark.parametrize("shape", [(2, 12, 12), (3, 11, 13), (2, 16, 9)])
@pytest.mark.parametrize(
    ("kernel", "stride", "padding"),
    [
        ((2, 2), (2, 2), (0, 0)),
        ((3, 3), (2, 2), (1, 1)),
        ((3, 3), (1, 1), "same"),
        ((3, 2), (3, 2), (1, 1)),
        ((4, 4), (2, 2), (2, 2)),
    ],
)
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_common_layers_match_the_twin(
    shape: tuple[int, int, int], kernel: Any, stride: Any, padding: Any, op: str
) -> None:
    # Sizes that divide by the stride take the end-to-end shortcut; the others do not.
    rng = np.random.default_rng(sum(shape))
    grid = rng.integers(-2, 3, shape).astype(float)
    for ceil_mode in (False, True) if not isinstance(padding, str) else (False,):
        case = {
            "x": grid,
            "op": op,
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
            "ceil_mode": ceil_mode,
        }
        expected = twin_or_skip(case)
        assert expected is not None
        for pooled in pooled_both_ways(case):
            assert_same_pooling(pooled, expected)


# ---------------------------------------------------------------------------------------
# The winners on large grids: each way the strided passes read the columns, the rows'
# border lines, codes wider than a byte, coordinates wider than a byte.

LARGE_CASES = [  # shape, kernel, stride, padding, dilation, ceil_mode
    ((12, 40, 40), (2, 2), (2, 2), (0, 0), (1, 1), False),  # bools sampled as uint16
    ((6, 40, 40), (3, 3), (2, 2), (1, 1), (1, 1), False),  # + border windows, spare fold
    ((6, 41, 39), (3, 3), (2, 2), (1, 1), (1, 1), True),  # odd width: padded lines
    ((7, 36, 44), (3, 2), (1, 4), (1, 1), (2, 1), False),  # uint32 sampling, dilated rows
    ((9, 30, 64), (2, 8), (2, 8), (1, 0), (1, 1), True),  # uint64 sampling
    ((14, 40, 45), (2, 3), (3, 3), (1, 1), (2, 1), False),  # stride 3: plain comparisons
    ((6, 40, 40), (3, 3), (1, 1), (1, 1), (1, 1), False),  # stride 1: contiguous runs
    ((2, 24, 26), (17, 17), (1, 1), (3, 3), (1, 1), False),  # 289 cells: uint16 codes
    ((4, 6, 300), (2, 3), (1, 2), (0, 1), (1, 1), False),  # columns past 255
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "kernel", "stride", "padding", "dilation", "ceil"), LARGE_CASES)
def test_large_grids_take_the_strided_passes_and_match_the_twin(
    shape: tuple[int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    ceil: bool,
    dtype: type,
) -> None:
    rng = np.random.default_rng(sum(shape) + kernel[1])
    # A few values only: ties in almost every window, across rows and columns.
    grid = rng.integers(-2, 3, shape).astype(dtype)
    for op in ("max", "min"):
        case = {
            "x": grid,
            "op": op,
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "ceil_mode": ceil,
        }
        expected = twin_or_skip(case)
        assert expected is not None
        ho, wo = expected[0].shape[1:]
        # Large enough that the strided passes are the default: nothing forced.
        assert shape[0] * ho * wo * kernel[0] * kernel[1] > pooling.SMALL_CELLS
        assert_same_pooling(pool2d(**case), expected)
        for pooled in pooled_both_ways(case):
            assert_same_pooling(pooled, expected)
        # Several channels per chunk, and a last chunk with fewer.
        with pooling_settings(SMALL_CELLS=0, CHUNK_BYTES=2 * 2 * grid[0].nbytes):
            assert_same_pooling(pool2d(**case), expected)


def test_the_benchmark_sizes_take_the_strided_passes() -> None:
    # (1,64,112,112) k2 s2 and (8,64,56,56) k3 s2 p1: far above the small-grid threshold.
    assert 64 * 56 * 56 * 4 > pooling.SMALL_CELLS
    assert 8 * 64 * 28 * 28 * 9 > pooling.SMALL_CELLS
    rng = np.random.default_rng(13)
    grid = rng.standard_normal((64, 112, 112)).astype(np.float32)
    pooled = pool2d(grid, "max", (2, 2), (2, 2), (0, 0))
    windows = grid.reshape(64, 56, 2, 56, 2).transpose(0, 1, 3, 2, 4).reshape(64, 56, 56, 4)
    assert np.array_equal(pooled.output, windows.max(axis=3))
    first = windows.argmax(axis=3)  # the first of equals, row-major within the window
    assert pooled.argmax is not None
    rows = 2 * np.arange(56)[:, None] + first // 2
    cols = 2 * np.arange(56)[None, :] + first % 2
    assert np.array_equal(pooled.argmax, np.stack([rows, cols], axis=-1))


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation"),
    [
        ((9, 11), (3, 2), (2, 1), (1, 1), (2, 3)),  # coordinates in a byte
        ((9, 300), (3, 2), (2, 3), (1, 1), (1, 2)),  # uint16 coordinates
        ((20, 20), (17, 16), (1, 1), (8, 8), (1, 1)),  # 272 cells: uint16 codes
        ((3, 70000), (1, 2), (1, 3), (0, 1), (1, 1)),  # too wide: the general decoding
    ],
)
def test_pair_decoding_matches_the_general_decoding(
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    rows, cols = (
        pooling._axis(
            axis, size[axis], kernel[axis], stride[axis], padding[axis], dilation[axis], False
        )
        for axis in (0, 1)
    )
    cells = kernel[0] * kernel[1]
    code_type = pooling._pair_types(*size, cells)[1]
    rng = np.random.default_rng(cells)
    code = rng.integers(0, cells, (2, rows.out, cols.out)).astype(code_type)
    expected = pooling._decode(code, rows, cols)
    # Winners are real cells: compare where the code points at one (the pair decoding
    # assumes it; the others do not occur).
    real = np.all((expected >= 0) & (expected < np.array(size)), axis=-1)
    assert real.mean() > 0.5
    pairs = pooling._decode_pairs(code, rows, cols, *size)
    assert pairs.dtype == np.int64
    assert np.array_equal(pairs[real], expected[real])


# ---------------------------------------------------------------------------------------
# PyTorch cross-checks (skipped when torch is not installed)


@st.composite
def torch_cases(draw: st.DrawFn) -> dict[str, Any]:
    case = draw(pooling_cases())
    if isinstance(case["padding"], str):
        case["padding"] = (0, 0)
    seed = draw(st.integers(0, 2**32 - 1))
    # Random floats: no ties, since PyTorch's tie-breaking is its own.
    case["x"] = np.random.default_rng(seed).standard_normal(case["x"].shape)
    return case


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


@settings(max_examples=150, deadline=None)
@given(case=torch_cases())
def test_pool2d_matches_pytorch(torch: Any, case: dict[str, Any]) -> None:
    functional = torch.nn.functional
    expected = twin_or_skip(case)
    assume(expected is not None)
    grid = torch.from_numpy(case["x"])
    if case["op"] == "avg":
        theirs = functional.avg_pool2d(
            grid,
            case["kernel"],
            case["stride"],
            case["padding"],
            ceil_mode=case["ceil_mode"],
            count_include_pad=case["count_include_pad"],
        ).numpy()
        for ours in pooled_both_ways(case):
            assert np.allclose(ours.output, theirs, rtol=1e-12, atol=1e-12)
        return
    sign = 1.0 if case["op"] == "max" else -1.0
    values, indices = functional.max_pool2d(
        grid * sign,
        case["kernel"],
        case["stride"],
        case["padding"],
        dilation=case["dilation"],
        ceil_mode=case["ceil_mode"],
        return_indices=True,
    )
    width = case["x"].shape[2]
    flat = indices.numpy()
    for ours in pooled_both_ways(case):
        assert np.array_equal(ours.output, sign * values.numpy())
        assert ours.argmax is not None
        assert np.array_equal(ours.argmax, np.stack([flat // width, flat % width], axis=-1))
