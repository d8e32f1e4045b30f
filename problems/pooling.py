"""Vectorized pooling of grids (spec section 2): max, average and min pooling with the
winning cell of each window, and global pooling.

The windows are never materialized. Each axis is reduced in turn by combining, for every
kernel offset `t`, the strided slice of input rows (or columns) that offset picks for
all windows at once: `kh + kw` numpy passes in place of a Python loop over output cells.
Padding is never copied in either: an offset whose cell falls in the padding for some
windows simply skips those windows, which is what "padded cells never win" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from problems.errors import SpecError
from problems.windows import AxisWindows, PaddingMode, axis_windows

PoolOp = Literal["max", "avg", "min"]


@dataclass(frozen=True)
class Pooled:
    """The pooled map and, for max and min pooling, the input cell that won each window.

    `output` is `(C, Ho, Wo)` (`(C,)` for a global pool) in the input's float dtype
    (float64, or float32 if the input is float32). `argmax` is int64 `(C, Ho, Wo, 2)`
    (`(C, 2)` for a global pool) holding `[row, col]` in input coordinates; None for avg.
    """

    output: np.ndarray
    argmax: np.ndarray | None


def pool2d(
    x: np.ndarray,
    op: PoolOp,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] | PaddingMode,
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    *,
    with_argmax: bool = True,
) -> Pooled:
    """Pool each channel of `x` `(C, H, W)` by PyTorch's rules for integer padding and
    TensorFlow's for "valid"/"same"; ties go to the first cell in row-major order.

    `with_argmax=False` skips the winning cells of max and min pooling (about half the
    work); average pooling never has them.
    """
    x = _as_grid(x)
    if op not in ("max", "avg", "min"):
        raise SpecError("op", f"unknown pooling op {op!r}: expected max, avg or min")
    if op == "avg" and tuple(dilation) != (1, 1):
        raise SpecError("dilation", "average pooling has no dilation")
    if ceil_mode and isinstance(padding, str):
        raise SpecError("ceil_mode", f"ceil_mode needs integer padding, not {padding!r}")
    pads = (padding, padding) if isinstance(padding, str) else padding
    rows, cols = (
        _axis(axis, x.shape[1 + axis], kernel[axis], stride[axis], pads[axis],
              dilation[axis], ceil_mode)
        for axis in (0, 1)
    )
    if op == "avg":
        return Pooled(_average(x, rows, cols, count_include_pad and padding != "same"), None)
    fill = -np.inf if op == "max" else np.inf
    if not with_argmax:
        return Pooled(_extreme(x, rows, cols, np.maximum if op == "max" else np.minimum, fill),
                      None)
    better = np.greater if op == "max" else np.less
    # Columns first, then rows: the row pass keeps the first row among tied column
    # winners, and each column winner is already the first column of its row, so together
    # they give the first tied cell in row-major order.
    by_col, col_offset, _ = _track(x, 2, cols, better, fill, carry=None)
    output, row_offset, col_offset = _track(by_col, 1, rows, better, fill, carry=col_offset)
    argmax = np.empty(output.shape + (2,), np.int64)
    _to_coordinates(row_offset, rows, argmax[..., 0], axis=1)
    _to_coordinates(col_offset, cols, argmax[..., 1], axis=2)
    return Pooled(output, argmax)


def global_pool(x: np.ndarray, op: PoolOp) -> Pooled:
    """Pool each channel of `x` `(C, H, W)` whole: output `(C,)`, argmax `(C, 2)` int64
    (`[row, col]`, the first in row-major order on ties; None for avg)."""
    x = _as_grid(x)
    flat = x.reshape(x.shape[0], -1)
    if op == "avg":
        return Pooled(flat.sum(axis=1) / flat.shape[1], None)
    if op not in ("max", "min"):
        raise SpecError("op", f"unknown pooling op {op!r}: expected max, avg or min")
    # np.argmax/argmin return the first occurrence: row-major order on a C-ordered grid.
    index = flat.argmax(axis=1) if op == "max" else flat.argmin(axis=1)
    output = flat[np.arange(flat.shape[0]), index]
    argmax = np.stack(np.divmod(index, x.shape[2]), axis=1).astype(np.int64)
    return Pooled(output, argmax)


def _as_grid(x: np.ndarray) -> np.ndarray:
    """`x` as a C-contiguous float array (float32 kept, anything else float64)."""
    x = np.asarray(x)
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    x = np.ascontiguousarray(x, dtype=dtype)
    if x.ndim != 3 or 0 in x.shape:
        raise SpecError("input", f"expected a non-empty (C, H, W) grid, got shape {x.shape}")
    return x


def _axis(
    axis: int,
    size: int,
    kernel: int,
    stride: int,
    padding: int | PaddingMode,
    dilation: int,
    ceil_mode: bool,
) -> AxisWindows:
    """The windows of one axis, refusing an empty output or a window with no real cell."""
    for name, value in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise SpecError(name, f"must be a positive integer, got {value!r}")
    if not isinstance(padding, str) and (isinstance(padding, bool) or padding < 0):
        raise SpecError("padding", f"must be a non-negative integer, got {padding!r}")
    windows = axis_windows(size, int(kernel), int(stride), padding, int(dilation), ceil_mode)
    if windows.out < 1:
        name = "rows" if axis == 0 else "columns"
        raise SpecError(
            "kernel",
            f"window {windows.k_eff} is larger than the padded input "
            f"{size + windows.before + windows.after} ({name})",
        )
    if not np.all(_real_cells(windows)):
        raise SpecError(
            "dilation" if dilation > 1 else "padding", "a pooling window covers only padding"
        )
    return windows


def _offsets(windows: AxisWindows) -> list[tuple[int, int, int, slice]]:
    """For each kernel offset `t` whose cell is real for some window: `(t, lo, hi, cells)`,
    the windows `lo <= i < hi` whose offset-`t` cell is real, and the input slice of those
    cells (window `i` reads input `i*stride - before + t*dilation`)."""
    s, b, d = windows.stride, windows.before, windows.dilation
    found = []
    for t in range(windows.kernel):
        shift = t * d - b  # input coordinate of offset t in window 0
        lo = max(0, -(shift // s))  # first i with i*s + shift >= 0
        hi = min(windows.out, -((shift - windows.size) // s))  # first i with ... >= size
        if hi > lo:
            start = lo * s + shift
            found.append((t, lo, hi, slice(start, start + (hi - lo - 1) * s + 1, s)))
    return found


def _real_cells(windows: AxisWindows) -> np.ndarray:
    """Number of real (non-padding) cells along this axis in each window."""
    count = np.zeros(windows.out, np.int64)
    for _, lo, hi, _cells in _offsets(windows):
        count[lo:hi] += 1
    return count


def _divisor(windows: AxisWindows, include_pad: bool) -> np.ndarray:
    """PyTorch's per-axis average divisor: the window clipped to the padded input
    `[-before, size + after)` if padding counts, else its real cells."""
    if not include_pad:
        return _real_cells(windows)
    start = np.arange(windows.out) * windows.stride - windows.before
    end = np.minimum(start + windows.kernel, windows.size + windows.after)
    return end - start


def _along(axis: int, index: slice) -> tuple[slice, ...]:
    """An index that applies `index` to `axis` of a (C, H, W) array."""
    return (slice(None),) * axis + (index,)


def _extreme(
    x: np.ndarray, rows: AxisWindows, cols: AxisWindows, ufunc: np.ufunc, fill: float
) -> np.ndarray:
    """Max (or min) pooling values: rows first, since the row pass reads whole contiguous
    rows and leaves less data for the strided column pass."""
    by_row = _combine(x, 1, rows, ufunc, fill)
    return _combine(by_row, 2, cols, ufunc, fill)


def _average(
    x: np.ndarray, rows: AxisWindows, cols: AxisWindows, include_pad: bool
) -> np.ndarray:
    """Average pooling: window sums divided by PyTorch's (or, for "same", TensorFlow's)
    divisor, which factorizes into a per-row count times a per-column count."""
    total = _combine(_combine(x, 1, rows, np.add, 0.0), 2, cols, np.add, 0.0)
    divisor = np.multiply.outer(_divisor(rows, include_pad), _divisor(cols, include_pad))
    np.divide(total, divisor.astype(x.dtype), out=total)
    return total


def _combine(
    a: np.ndarray, axis: int, windows: AxisWindows, ufunc: np.ufunc, fill: float
) -> np.ndarray:
    """Reduce `axis` of `a` over each window with a binary ufunc, in place."""
    shape = list(a.shape)
    shape[axis] = windows.out
    result = np.empty(shape, a.dtype)
    offsets = _offsets(windows)
    whole = [(lo, hi, cells) for _, lo, hi, cells in offsets if lo == 0 and hi == windows.out]
    rest = [(lo, hi, cells) for _, lo, hi, cells in offsets if lo > 0 or hi < windows.out]
    if len(whole) >= 2:
        ufunc(a[_along(axis, whole[0][2])], a[_along(axis, whole[1][2])], out=result)
        rest = whole[2:] + rest
    elif whole:
        np.copyto(result, a[_along(axis, whole[0][2])])
    else:
        result.fill(fill)
    for lo, hi, cells in rest:
        part = result[_along(axis, slice(lo, hi))]
        ufunc(part, a[_along(axis, cells)], out=part)
    return result


def _track(
    a: np.ndarray,
    axis: int,
    windows: AxisWindows,
    better: np.ufunc,
    fill: float,
    carry: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Reduce `axis` of `a` keeping, per window, the best value, the kernel offset it came
    from and the matching entry of `carry`. Offsets are scanned in increasing order and
    only a strictly better value replaces the best, so ties keep the first offset."""
    shape = list(a.shape)
    shape[axis] = windows.out
    best = np.empty(shape, a.dtype)
    offset = np.zeros(shape, np.min_scalar_type(windows.kernel - 1))
    carried = None if carry is None else np.zeros(shape, carry.dtype)
    offsets = _offsets(windows)
    t0, lo, hi, cells = offsets[0]
    if lo > 0 or hi < windows.out:
        best.fill(fill)
    first = _along(axis, slice(lo, hi))
    np.copyto(best[first], a[_along(axis, cells)])
    offset[first] = t0
    if carried is not None and carry is not None:
        np.copyto(carried[first], carry[_along(axis, cells)])
    wins = np.empty(shape, bool)
    for t, lo, hi, cells in offsets[1:]:
        part, src = _along(axis, slice(lo, hi)), _along(axis, cells)
        won = wins[part]
        better(a[src], best[part], out=won)
        np.copyto(best[part], a[src], where=won)
        np.copyto(offset[part], t, where=won)
        if carried is not None and carry is not None:
            np.copyto(carried[part], carry[src], where=won)
    return best, offset, carried


def _to_coordinates(offset: np.ndarray, windows: AxisWindows, out: np.ndarray, axis: int) -> None:
    """Write the input coordinate `i*stride - before + t*dilation` of each winning offset."""
    start = np.arange(windows.out) * windows.stride - windows.before
    start = start.reshape((-1, 1) if axis == 1 else (1, -1))
    np.multiply(offset, windows.dilation, out=out)
    np.add(out, start, out=out)
