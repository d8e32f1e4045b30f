"""Vectorized pooling of grids (spec section 2): max, average and min pooling with the
winning cell of each window, and global pooling.

Two implementations with the same results (the tests hold both to a brute-force twin):

- Small grids (quiz sizes, up to SMALL_CELLS window cells), where numpy's per-call
  overhead is what counts: a padded copy (where the windows reach past the grid), the
  cells of every window copied out through a strided view, and one reduction along them
  (an argmax for the winners).
- Large grids: no Python loop over output cells and no padded copy. The windows are
  separable, so one axis is folded after the other, and along an axis each kernel offset
  `t` picks one strided run of input lines for all windows at once (window `i` reads line
  `i*stride - before + t*dilation`). When a line holds exactly `stride` cells per output,
  the lines of all channels are read end to end as a single run; the few windows at the
  borders, which would read padding or the neighbouring channel that way, are then
  redone on their own. A padding cell is simply skipped by the windows it belongs to,
  which is what "padded cells never win" means. Channels go through in cache-sized
  chunks with reused scratch buffers. The winners are tracked as a uint8 code per window
  (columns first, then rows, so that ties go to the first cell in row-major order) with
  whole-array integer arithmetic, and turned into `[row, col]` pairs at the end in one
  arithmetic pass and one cast (`_extreme_with_argmax`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from problems.errors import SpecError
from problems.frozen import cheap_init
from problems.windows import AxisWindows, PaddingMode, axis_windows

PoolOp = Literal["max", "avg", "min"]

# Input bytes per chunk of channels: small enough for a chunk and its scratch buffers to
# stay in a core's L2 cache between passes, large enough to amortize numpy's call overhead.
CHUNK_BYTES = 1 << 20
# Grids with at most this many window cells (C*Ho*Wo*kh*kw) are pooled through a view of
# all windows instead: fewer numpy calls, which is what counts at quiz sizes.
SMALL_CELLS = 16384


@cheap_init
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

    `with_argmax=False` skips the winning cells of max and min pooling (the cheaper
    half of the work); average pooling never has them.
    """
    x = _as_grid(x)
    if op not in ("max", "avg", "min"):
        raise SpecError("op", f"unknown pooling op {op!r}: expected max, avg or min")
    if op == "avg" and tuple(dilation) != (1, 1):
        raise SpecError("dilation", "average pooling has no dilation")
    rows, cols = pool_windows(x.shape[1:], kernel, stride, padding, dilation, ceil_mode)
    include_pad = count_include_pad and padding != "same"
    if x.shape[0] * rows.out * cols.out * rows.kernel * cols.kernel <= SMALL_CELLS:
        return _small(x, rows, cols, op, include_pad, with_argmax)
    if op == "avg":
        return Pooled(_average(x, rows, cols, include_pad), None)
    if not with_argmax:
        return Pooled(_extreme(x, rows, cols, _FOLDS[op]), None)
    output, argmax = _extreme_with_argmax(x, rows, cols, _FOLDS[op])
    return Pooled(output, argmax)


def pool_windows(
    shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] | PaddingMode,
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
) -> tuple[AxisWindows, AxisWindows]:
    """The windows along the rows and the columns of an `(H, W)` grid as `pool2d` lays
    them out, refusing (SpecError) what `pool2d` refuses for them: ceil_mode with
    "valid"/"same", an empty output, a window with no real cell."""
    if ceil_mode and isinstance(padding, str):
        raise SpecError("ceil_mode", f"ceil_mode needs integer padding, not {padding!r}")
    pads = (padding, padding) if isinstance(padding, str) else tuple(padding)
    rows = _axis(0, shape[0], kernel[0], stride[0], pads[0], dilation[0], ceil_mode)
    cols = _axis(1, shape[1], kernel[1], stride[1], pads[1], dilation[1], ceil_mode)
    return rows, cols


def global_pool(x: np.ndarray, op: PoolOp, *, with_argmax: bool = True) -> Pooled:
    """Pool each channel of `x` `(C, H, W)` whole: output `(C,)`, argmax `(C, 2)` int64
    (`[row, col]`, the first in row-major order on ties; None for avg).

    `with_argmax=False` skips the winning cells of max and min pooling, as `pool2d` does
    (the values are reduced as there: of a 0.0 and a -0.0 tied for the maximum, either may
    be kept)."""
    x = _as_grid(x)
    flat = x.reshape(x.shape[0], -1)
    if op == "avg":
        return Pooled(flat.sum(axis=1) / flat.shape[1], None)
    if op not in ("max", "min"):
        raise SpecError("op", f"unknown pooling op {op!r}: expected max, avg or min")
    if not with_argmax:
        return Pooled(flat.max(axis=1) if op == "max" else flat.min(axis=1), None)
    # np.argmax/argmin return the first occurrence: row-major order on a C-ordered grid.
    index = flat.argmax(axis=1) if op == "max" else flat.argmin(axis=1)
    output = flat[np.arange(flat.shape[0]), index]
    argmax = np.empty((flat.shape[0], 2), np.int64)
    np.divmod(index, x.shape[2], out=(argmax[:, 0], argmax[:, 1]))
    return Pooled(output, argmax)


# ---------------------------------------------------------------------------------------
# Checking the arguments


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
    if (
        type(kernel) is int and type(stride) is int and type(dilation) is int
        and kernel >= 1 and stride >= 1 and dilation >= 1
        and (padding in ("valid", "same") or (type(padding) is int and padding >= 0))
    ):
        # Plain Python ints, as callers mostly pass them: nothing to check or convert.
        return _windows(axis, size, kernel, stride, padding, dilation, bool(ceil_mode))
    for name, value in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise SpecError(name, f"must be a positive integer, got {value!r}")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise SpecError("padding", f"unknown padding {padding!r}")
    elif isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
        raise SpecError("padding", f"must be a non-negative integer, got {padding!r}")
    else:
        padding = int(padding)
    return _windows(axis, size, int(kernel), int(stride), padding, int(dilation), bool(ceil_mode))


@lru_cache(maxsize=1024)
def _windows(
    axis: int,
    size: int,
    kernel: int,
    stride: int,
    padding: int | PaddingMode,
    dilation: int,
    ceil_mode: bool,
) -> AxisWindows:
    """`_axis` once its arguments are checked (pure, so cached: grids repeat sizes)."""
    windows = axis_windows(size, kernel, stride, padding, dilation, ceil_mode)
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


# ---------------------------------------------------------------------------------------
# Where the windows of one axis fall


@dataclass(frozen=True)
class _Offset:
    """Kernel offset `t` is a real cell for windows `lo <= i < hi`, which read `cells`."""

    t: int
    lo: int
    hi: int
    cells: slice

    def clip(self, lo: int, hi: int) -> _Offset | None:
        """The same offset restricted to windows `lo <= i < hi` (None if none are left)."""
        a, b = max(self.lo, lo), min(self.hi, hi)
        if a >= b:
            return None
        step = self.cells.step
        start = self.cells.start + (a - self.lo) * step
        return _Offset(self.t, a, b, slice(start, start + (b - a - 1) * step + 1, step))


@lru_cache(maxsize=1024)
def _offsets(windows: AxisWindows) -> tuple[_Offset, ...]:
    """The kernel offsets that are a real cell for some window, in increasing order."""
    s, b, d = windows.stride, windows.before, windows.dilation
    found = []
    for t in range(windows.kernel):
        shift = t * d - b  # window i reads input i*s + shift
        lo = max(0, -(shift // s))  # the first i with i*s + shift >= 0
        hi = min(windows.out, -((shift - windows.size) // s))  # the first past the end
        if hi > lo:
            start = lo * s + shift
            found.append(_Offset(t, lo, hi, slice(start, start + (hi - lo - 1) * s + 1, s)))
    return tuple(found)


def _real_cells(windows: AxisWindows) -> np.ndarray:
    """Number of real (non-padding) cells along this axis in each window."""
    count = np.zeros(windows.out, np.int64)
    for offset in _offsets(windows):
        count[offset.lo : offset.hi] += 1
    return count


def _used(windows: AxisWindows) -> int:
    """How many leading cells of the axis some window reads (floor mode may skip a tail)."""
    last = (windows.out - 1) * windows.stride - windows.before + windows.k_eff
    return min(windows.size, last)


@lru_cache(maxsize=1024)
def _average_divisor(
    rows: AxisWindows, cols: AxisWindows, include_pad: bool, dtype: np.dtype
) -> np.ndarray | np.floating:
    """Each window's divisor, or one scalar when they are all the same (the common case,
    and a scalar divides faster). Cached: read-only."""
    counts = np.multiply.outer(_divisor(rows, include_pad), _divisor(cols, include_pad))
    if np.all(counts == counts.flat[0]):
        return dtype.type(counts.flat[0])
    divisor = counts.astype(dtype)
    divisor.setflags(write=False)
    return divisor


def _divisor(windows: AxisWindows, include_pad: bool) -> np.ndarray:
    """PyTorch's per-axis average divisor: the window clipped to the padded input
    `[-before, size + after)` if padding counts, else its real cells."""
    if not include_pad:
        return _real_cells(windows)
    start = np.arange(windows.out) * windows.stride - windows.before
    end = np.minimum(start + windows.kernel, windows.size + windows.after)
    return end - start


# ---------------------------------------------------------------------------------------
# Folding one axis: `src` lines (P, N, Q) into `dst` (P, M, Q) along axis 1, M >= out


@dataclass(frozen=True)
class _Fold:
    """How windows combine: `combine` is the binary reduction, `fill` its neutral value,
    `better` (max and min only) the strict comparison that lets a later cell win."""

    combine: np.ufunc
    fill: float
    better: np.ufunc | None = None


_FOLDS = {
    "max": _Fold(np.maximum, -np.inf, np.greater),
    "min": _Fold(np.minimum, np.inf, np.less),
    "avg": _Fold(np.add, 0.0),
}


@dataclass(frozen=True)
class _Range:
    """Windows `a <= i < b` and their offsets clipped to them, in increasing order;
    `whole` are those real for every window of the range."""

    a: int
    b: int
    parts: tuple[_Offset, ...]
    whole: tuple[_Offset, ...]
    partial: tuple[_Offset, ...]


def _range(offsets: tuple[_Offset, ...], a: int, b: int) -> _Range:
    parts = tuple(c for c in (o.clip(a, b) for o in offsets) if c is not None)
    whole = tuple(c for c in parts if (c.lo, c.hi) == (a, b))
    partial = tuple(c for c in parts if (c.lo, c.hi) != (a, b))
    return _Range(a, b, parts, whole, partial)


@dataclass(frozen=True)
class _Pass:
    """The plan for folding one axis, made once and applied to each chunk of channels.

    The shortcut: when `N == stride*M`, window `i` of line `p` is output line
    `k = p*M + i` and reads input line `stride*k + shift` for each offset, so the lines
    of all P planes fold as one strided run per offset. The windows that read padding
    (`border`) get garbage from the neighbouring plane that way and are redone apart.
    """

    windows: AxisWindows
    lines_in: int
    lines_out: int
    everything: _Range
    shifts: tuple[int, ...] | None
    border: tuple[_Range, ...]

    def runs(self, planes: int) -> tuple[list[slice], slice] | None:
        """For `planes` planes: per offset, the input lines of the shortcut's run, and
        the output lines they fill; None if the shortcut does not apply."""
        if self.shifts is None:
            return None
        s = self.windows.stride
        k0 = max(0, -(min(self.shifts) // s))
        k1 = min(planes * self.lines_out, (planes * self.lines_in - 1 - max(self.shifts)) // s + 1)
        if k1 <= k0:
            return None
        return [slice(k0 * s + d, (k1 - 1) * s + d + 1, s) for d in self.shifts], slice(k0, k1)


@lru_cache(maxsize=1024)
def _plan(windows: AxisWindows, lines_in: int, lines_out: int) -> _Pass:
    """The plan for folding `lines_in` lines into `lines_out` (pure, so cached)."""
    offsets = _offsets(windows)
    everything = _range(offsets, 0, windows.out)
    lo, hi = max(o.lo for o in offsets), min(o.hi for o in offsets)
    if lines_in != windows.stride * lines_out or lo >= hi:
        return _Pass(windows, lines_in, lines_out, everything, None, ())
    shifts = tuple(o.t * windows.dilation - windows.before for o in offsets)
    border = tuple(_range(offsets, a, b) for a, b in ((0, lo), (hi, windows.out)) if b > a)
    return _Pass(windows, lines_in, lines_out, everything, shifts, border)


def _lines(a: np.ndarray) -> np.ndarray | None:
    """`a` (P, N, Q) as (P*N, Q) without copying, or None if its strides do not allow it."""
    p, n, q = a.shape
    if p > 1 and a.strides[0] != n * a.strides[1]:
        return None
    return a.reshape((p * n, q), copy=False)


def _reduce(src: np.ndarray, dst: np.ndarray, plan: _Pass, fold: _Fold) -> None:
    """`dst[:, i] = fold` of `src[:, cells of window i]` for every window `i`."""
    runs = plan.runs(src.shape[0])
    flat_src, flat_dst = _lines(src), _lines(dst)
    if runs is None or flat_src is None or flat_dst is None:
        _reduce_range(src, dst, plan.everything, fold)
        return
    cells, lines = runs
    _combine([flat_src[c] for c in cells], flat_dst[lines], fold)
    for border in plan.border:
        _reduce_range(src, dst, border, fold)


def _reduce_range(src: np.ndarray, dst: np.ndarray, windows: _Range, fold: _Fold) -> None:
    """`_reduce` for one range of windows, one strided slice per offset."""
    target = dst[:, windows.a : windows.b]
    if windows.whole:
        _combine([src[:, c.cells] for c in windows.whole], target, fold)
    else:
        target.fill(fold.fill)
    for c in windows.partial:
        part = dst[:, c.lo : c.hi]
        fold.combine(part, src[:, c.cells], out=part)


def _combine(sources: list[np.ndarray], target: np.ndarray, fold: _Fold) -> None:
    """`target = fold(sources)`, in place after the first step."""
    if len(sources) == 1:
        np.copyto(target, sources[0])
        return
    fold.combine(sources[0], sources[1], out=target)
    for source in sources[2:]:
        fold.combine(target, source, out=target)


# Tracking the winners (max and min pooling). A window's winner is coded
# `t = row offset * kw + column offset`: row-major order, so among tied cells the first has
# the smallest code. Offsets are folded in increasing order and only a strictly better cell
# wins, so a win always raises the code: `code = max(code, won * candidate)` is the whole
# bookkeeping, far cheaper than masked copies (`np.copyto(where=)`, `np.where`). The codes
# are uint8 up to 256 cells per window, and the comparisons' bools serve as uint8 0 and 1.


def _fold_codes(
    values: Sequence[np.ndarray],
    codes: Sequence[int],
    best: np.ndarray,
    code: np.ndarray,
    fold: _Fold,
    scratch: tuple[np.ndarray, np.ndarray],
    carry: Sequence[np.ndarray] | None = None,
    spare: np.ndarray | None = None,
    won_first: bool = False,
) -> None:
    """`best` = fold of `values` (one array per kernel offset, in increasing order) and
    `code` = the winner's code: `codes[i]`, plus `carry[i]` (a code per cell) if given.

    `scratch` is (bool, code) arrays shaped like `best`. With `won_first`, scratch[0]
    already holds whether values[1] beats values[0]. Values that are strided views are
    compared through their running fold instead (`new != old`, contiguous), which needs a
    `spare` array shaped like `best`.
    """
    assert fold.better is not None
    won, tmp = scratch
    wins = won.view(np.uint8)
    ct = code.dtype.type
    if len(values) == 1:
        np.copyto(best, values[0])
        if carry is None:
            code.fill(codes[0])
        else:
            np.add(carry[0], ct(codes[0]), out=code)
        return
    # Which of the running folds lands in `best`: with `spare`, they alternate backwards.
    last = len(values) - 1
    folds = [best if spare is None or (last - i) % 2 == 0 else spare for i in range(last + 1)]
    if not won_first:
        fold.better(values[1], values[0], out=won)
    fold.combine(values[0], values[1], out=folds[1])
    if carry is None:
        np.multiply(wins, ct(codes[1] - codes[0]), out=code)
        if codes[0]:
            np.add(code, ct(codes[0]), out=code)
    else:
        np.add(carry[1], ct(codes[1]), out=tmp)
        np.multiply(tmp, wins, out=tmp)
        first = carry[0]
        if codes[0]:
            first = np.add(carry[0], ct(codes[0]), out=code)
        np.maximum(first, tmp, out=code)
    for i in range(2, last + 1):
        previous, value = folds[i - 1], values[i]
        if spare is None:
            fold.better(value, previous, out=won)
            fold.combine(previous, value, out=folds[i])
        else:
            fold.combine(previous, value, out=folds[i])
            np.not_equal(folds[i], previous, out=won)
        if carry is None:
            np.multiply(wins, ct(codes[i]), out=tmp)
        else:
            np.add(carry[i], ct(codes[i]), out=tmp)
            np.multiply(tmp, wins, out=tmp)
        np.maximum(code, tmp, out=code)


# A comparison of every cell with the one `gap` cells on, sampled at every `stride`-th cell
# by reading the bools as wider unsigned ints and keeping their low byte (little-endian).
_SAMPLING = {2: np.uint16, 4: np.uint32, 8: np.uint64}


@dataclass(frozen=True)
class _ColumnRun:
    """The column pass as one strided run per kernel offset over all the lines of a chunk
    end to end (`_Pass`'s shortcut), on `x` itself or on a padded copy of it.

    Lines are `width` cells, `windows` outputs each (`width == stride * windows`); window
    `k` (counted over the lines end to end) reads cell `stride*k + shift` for each offset.
    `border` are the windows that would read the neighbouring line that way (none on a
    padded copy), redone apart; `padded` is (cells before, line width) of the copy, if any.
    """

    stride: int
    width: int
    windows: int
    shifts: tuple[int, ...]
    codes: tuple[int, ...]
    border: tuple[_Range, ...]
    padded: tuple[int, int] | None

    def span(self, lines: int) -> tuple[int, int]:
        """The windows `[k0, k1)` of the run over `lines` lines whose cells all exist."""
        s = self.stride
        k0 = max(0, -(min(self.shifts) // s))
        k1 = min(lines * self.windows, (lines * self.width - 1 - max(self.shifts)) // s + 1)
        return k0, k1


@lru_cache(maxsize=1024)
def _column_run(cols: AxisWindows) -> _ColumnRun:
    """The column pass for `cols` (pure, so cached)."""
    offsets = _offsets(cols)
    codes = tuple(o.t for o in offsets)
    windows = _per_line(cols.size, cols)
    plan = _plan(cols, cols.size, windows)
    if plan.shifts is not None:
        return _ColumnRun(cols.stride, cols.size, windows, plan.shifts, codes, plan.border, None)
    # Lines whose length is not a multiple of the stride, or no window clear of the
    # padding: pad a copy of each line so that every window reads inside its own line.
    s, d = cols.stride, cols.dilation
    reach = max(cols.before + cols.size, (cols.out - 1) * s + cols.k_eff)
    windows = -(-reach // s)
    shifts = tuple(o.t * d for o in offsets)
    return _ColumnRun(s, s * windows, windows, shifts, codes, (), (cols.before, s * windows))


# ---------------------------------------------------------------------------------------
# The three poolings


def _chunks(channels: int, channel_bytes: int) -> tuple[int, list[slice]]:
    """Channels per chunk, and the chunks."""
    size = max(1, min(channels, CHUNK_BYTES // max(channel_bytes, 1)))
    return size, [slice(c, min(c + size, channels)) for c in range(0, channels, size)]


def _per_line(period: int, windows: AxisWindows) -> int:
    """Outputs to compute per line of `period` cells: `period / stride` when that is
    whole and covers every window (then the shortcut applies; the extra outputs are
    scratch), else just the windows."""
    s = windows.stride
    if period % s == 0 and period // s >= windows.out:
        return period // s
    return windows.out


def _separable(
    x: np.ndarray,
    rows: AxisWindows,
    cols: AxisWindows,
    fold: _Fold,
    output: np.ndarray,
    finish: Callable[[np.ndarray, slice], None] | None = None,
) -> None:
    """Fold rows, then columns, chunk by chunk, into `output`; `finish(folded, chunk)`
    (if given) writes each chunk's `(c, Ho, Wo)` folded windows into `output` instead."""
    _, h, _ = x.shape
    used = _used(cols)
    m_rows = _per_line(h, rows)
    # Rows of the scratch are `stride * m_cols` long so that the column pass takes the
    # shortcut; their tail past the used cells is padding.
    m_cols = max(cols.out, -(-used // cols.stride))
    width = cols.stride * m_cols
    row_pass, col_pass = _plan(rows, h, m_rows), _plan(cols, width, m_cols)
    size, chunks = _chunks(x.shape[0], x[0].nbytes)
    by_row = np.zeros((size, m_rows, width), x.dtype)
    by_row[:, :, used:] = fold.fill
    direct = finish is None and (m_rows, m_cols) == (rows.out, cols.out)
    folded = None if direct else np.zeros((size, m_rows, m_cols), x.dtype)
    for chunk in chunks:
        n = chunk.stop - chunk.start
        _reduce(x[chunk, :, :used], by_row[:n, :, :used], row_pass, fold)
        into = output[chunk] if folded is None else folded[:n]
        _reduce(
            by_row[:n].reshape(n * m_rows, width, 1),
            into.reshape(n * m_rows, m_cols, 1),
            col_pass,
            fold,
        )
        if folded is not None:
            windows = folded[:n, : rows.out, : cols.out]
            if finish is None:
                np.copyto(output[chunk], windows)
            else:
                finish(windows, chunk)


def _extreme(x: np.ndarray, rows: AxisWindows, cols: AxisWindows, fold: _Fold) -> np.ndarray:
    """Max (or min) pooling values alone."""
    output = np.empty((x.shape[0], rows.out, cols.out), x.dtype)
    _separable(x, rows, cols, fold, output)
    return output


def _average(x: np.ndarray, rows: AxisWindows, cols: AxisWindows, include_pad: bool) -> np.ndarray:
    """Average pooling: window sums divided by PyTorch's (or, for "same", TensorFlow's)
    divisor, which factorizes into a per-row count times a per-column count."""
    output = np.empty((x.shape[0], rows.out, cols.out), x.dtype)
    divisor = _average_divisor(rows, cols, include_pad, x.dtype)

    def finish(sums: np.ndarray, chunk: slice) -> None:
        np.divide(sums, divisor, out=output[chunk])

    _separable(x, rows, cols, _FOLDS["avg"], output, finish)
    return output


def _extreme_with_argmax(
    x: np.ndarray, rows: AxisWindows, cols: AxisWindows, fold: _Fold
) -> tuple[np.ndarray, np.ndarray]:
    """Max (or min) pooling values and winning cells.

    Columns first, then rows: each column pass winner is the first column of its row
    among ties, and the row pass keeps the first row among tied values, carrying that
    row's column along; together that is the first tied cell in row-major order.

    Every pass over a chunk is a handful of whole-array numpy calls on contiguous runs
    (numpy is several times slower on anything it cannot treat as one flat run): the
    column pass as one strided run per offset over all lines end to end, the row pass
    over all lines too (a window every `stride` lines is kept, the others are scratch),
    and only the windows at the borders are redone apart.
    """
    c_total, h, w = x.shape
    ho, wo = rows.out, cols.out
    kernel_cells = rows.kernel * cols.kernel
    code_type = np.dtype(np.min_scalar_type(kernel_cells - 1))
    run, row_run = _column_run(cols), _row_run(rows, cols.kernel)
    s, q = run.stride, run.windows
    # Input, its column pass and the row pass's scratch stay in a core's cache together.
    size = max(1, min(c_total, CHUNK_BYTES // 2 // x[0].nbytes))
    cells = size * h * q
    by_col = np.zeros(cells, x.dtype)
    col_code = np.zeros(cells, code_type)
    scratch = (np.empty(cells, bool), np.empty(cells, code_type))
    values = np.empty(cells, x.dtype)
    row_code = np.empty(cells, code_type)
    # The column pass's spare fold (strided offsets past the second) and the row pass's
    # values are never needed at the same time.
    spare = values if s > 1 and len(run.shifts) > 2 else None
    sampling = _SAMPLING.get(s) if s > 1 and len(run.shifts) > 1 else None
    if sampling is not None:
        compared = np.empty(size * h * run.width + s, bool)
    if run.padded is not None:
        before, width = run.padded
        padded = np.full((size, h, width), fold.fill, x.dtype)
    output = np.empty((c_total, ho, wo), x.dtype)
    code = np.empty((c_total, ho, wo), _pair_types(h, w, kernel_cells)[1])
    for start in range(0, c_total, size):
        n = min(size, c_total - start)
        chunk = slice(start, start + n)
        src = x[chunk]
        if run.padded is not None:
            np.copyto(padded[:n, :, before : before + w], src)
            src = padded[:n]
        flat = src.reshape(-1)
        k0, k1 = run.span(n * h)
        target = slice(k0, k1)
        best, codes = by_col[target], col_code[target]
        cells_of = [flat[k0 * s + d : (k1 - 1) * s + d + 1 : s] for d in run.shifts]
        won_first = False
        if sampling is not None:
            # Whether the second offset beats the first, for every window at once: compare
            # every cell with the one `gap` on (contiguous), keep every s-th comparison.
            gap, first = run.shifts[1] - run.shifts[0], run.shifts[0]
            end = flat.size - gap
            fold.better(flat[gap:], flat[:end], out=compared[:end])
            wide = np.ndarray(n * h * q, sampling, compared, first % s)
            won = scratch[0][target].view(np.uint8)  # uint8 <- the low byte, not != 0
            np.copyto(won, wide[k0 + first // s : k1 + first // s], "unsafe")
            won_first = True
        _fold_codes(
            cells_of,
            run.codes,
            best,
            codes,
            fold,
            (scratch[0][target], scratch[1][target]),
            spare=None if s == 1 or spare is None else spare[target],
            won_first=won_first,
        )
        by_col3 = by_col[: n * h * q].reshape(n, h, q)
        col_code3 = col_code[: n * h * q].reshape(n, h, q)
        for border in run.border:
            _border_columns(src, by_col3, col_code3, border, cols, fold, scratch)
        into = (output[chunk], code[chunk])
        _rows_with_codes(by_col3, col_code3, row_run, fold, into, (values, row_code), scratch)
    return output, _decode_pairs(code, rows, cols, h, w)


def _border_columns(
    src: np.ndarray,
    by_col: np.ndarray,
    col_code: np.ndarray,
    border: _Range,
    cols: AxisWindows,
    fold: _Fold,
    scratch: tuple[np.ndarray, np.ndarray],
) -> None:
    """Redo the column windows of `border` (those reading padding) window by window, from
    their real cells only: `src` (n, h, w) into `by_col`, `col_code` (n, h, q)."""
    n, h, _ = src.shape
    won, tmp = (a[: n * h].reshape(n, h) for a in scratch)
    for j in range(border.a, border.b):
        real = [o for o in border.parts if o.lo <= j < o.hi]
        first = j * cols.stride - cols.before
        cells = [src[:, :, first + o.t * cols.dilation] for o in real]
        _fold_codes(
            cells, [o.t for o in real], by_col[:, :, j], col_code[:, :, j], fold, (won, tmp)
        )


@dataclass(frozen=True)
class _RowRun:
    """The row pass of `_extreme_with_argmax` over a chunk's lines end to end (h lines
    per channel, `kw` columns per window): output line `i` of channel `p` reads line
    `p*h + i*stride - before + t*dilation` for each offset `t`. The output lines `lo <= i <
    hi` clear of the padding fold as one contiguous run per offset, starting at line
    `start + t*dilation` (the lines in between are folded too and dropped: cheaper than
    numpy's slow path for every other line). `border` lists the other output lines with
    the lines they read and their codes."""

    stride: int
    lo: int
    hi: int
    start: int
    shifts: tuple[int, ...]
    codes: tuple[int, ...]
    border: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]

    def size(self, channels: int, h: int) -> int:
        """Lines of the contiguous run over `channels` channels."""
        return (channels - 1) * h + (self.hi - 1 - self.lo) * self.stride + 1


@lru_cache(maxsize=1024)
def _row_run(rows: AxisWindows, kw: int) -> _RowRun:
    """The row pass for `rows` (pure, so cached)."""
    offsets = _offsets(rows)
    s, d, before = rows.stride, rows.dilation, rows.before
    lo, hi = max(o.lo for o in offsets), min(o.hi for o in offsets)
    if hi <= lo:
        lo = hi = 0
    border = tuple(
        (
            i,
            tuple(i * s - before + o.t * d for o in offsets if o.lo <= i < o.hi),
            tuple(o.t * kw for o in offsets if o.lo <= i < o.hi),
        )
        for i in (*range(lo), *range(hi, rows.out))
    )
    shifts = tuple(o.t * d for o in offsets)
    return _RowRun(s, lo, hi, lo * s - before, shifts, tuple(o.t * kw for o in offsets), border)


def _rows_with_codes(
    by_col: np.ndarray,
    col_code: np.ndarray,
    run: _RowRun,
    fold: _Fold,
    into: tuple[np.ndarray, np.ndarray],
    buffers: tuple[np.ndarray, np.ndarray],
    scratch: tuple[np.ndarray, np.ndarray],
) -> None:
    """The row pass (`_RowRun`) for one chunk: `by_col` and `col_code` (n, h, q) into
    `into` = (output, code) (n, Ho, Wo); `buffers` (values, codes) and `scratch` (bools,
    codes) hold `n*h*q` cells."""
    n, h, q = by_col.shape
    output, code = into
    wo = output.shape[2]
    values, row_code = buffers
    if run.hi > run.lo:
        flat, carry = by_col.reshape(-1), col_code.reshape(-1)
        size = run.size(n, h) * q
        starts = [(run.start + shift) * q for shift in run.shifts]
        _fold_codes(
            [flat[i : i + size] for i in starts],
            run.codes,
            values[:size],
            row_code[:size],
            fold,
            (scratch[0][:size], scratch[1][:size]),
            carry=[carry[i : i + size] for i in starts],
        )
        kept = slice(0, (run.hi - 1 - run.lo) * run.stride + 1, run.stride)
        lines = slice(run.lo, run.hi)
        np.copyto(output[:, lines], values[: n * h * q].reshape(n, h, q)[:, kept, :wo])
        np.copyto(code[:, lines], row_code[: n * h * q].reshape(n, h, q)[:, kept, :wo])
    # The lines whose windows read padding, one at a time from their real lines only.
    won, tmp = (a[: n * wo].reshape(n, wo) for a in scratch)
    for i, lines_read, codes in run.border:
        _fold_codes(
            [by_col[:, line, :wo] for line in lines_read],
            codes,
            output[:, i],
            code[:, i],
            fold,
            (won, tmp),
            carry=[col_code[:, line, :wo] for line in lines_read],
        )


def _pair_types(h: int, w: int, kernel_cells: int) -> tuple[type, type] | tuple[None, type]:
    """(half, whole): unsigned ints for one coordinate and for a [row, col] pair, if the
    grid's coordinates (and window codes) fit; else (None, a type for the codes alone)."""
    if max(h, w, kernel_cells) <= 1 << 8:
        return np.uint8, np.uint16
    if max(h, w, kernel_cells) <= 1 << 16:
        return np.uint16, np.uint32
    return None, np.uint32


def _decode_pairs(
    code: np.ndarray, rows: AxisWindows, cols: AxisWindows, h: int, w: int
) -> np.ndarray:
    """`_decode` for the large path: the winners' `[row, col]` int64 `(C, Ho, Wo, 2)` from
    window codes, with a few whole-array integer operations and one cast.

    In an unsigned int of two halves (little-endian: row first), `row + col << bits` of
    each winner is `t*A + (t // kw)*B + first`, with `A = dc << bits`,
    `B = dr - kw*A` and `first` the window's first cell, all modulo 2**(2*bits): exact,
    since the pair itself fits. Then the halves are cast to int64 in one go.
    """
    half, whole = _pair_types(h, w, rows.kernel * cols.kernel)
    if half is None:
        return _decode(code, rows, cols)
    c, ho, wo = code.shape
    bits = 8 * np.dtype(half).itemsize
    whole_t = np.dtype(whole).type
    a = whole_t((cols.dilation << bits) % (1 << 2 * bits))
    b = whole_t((rows.dilation - cols.kernel * int(a)) % (1 << 2 * bits))
    pairs = np.multiply(code, a)
    if cols.kernel > 1:
        offsets = np.floor_divide(code, whole_t(cols.kernel))
        np.multiply(offsets, b, out=offsets)
        pairs += offsets
    else:
        pairs += code * b
    pairs += _first_cells(rows, cols, whole)
    return pairs.view(half).reshape(c, ho, wo, 2).astype(np.int64)


@lru_cache(maxsize=256)
def _first_cells(rows: AxisWindows, cols: AxisWindows, whole: type) -> np.ndarray:
    """Each window's first cell `(Ho, Wo)` as `row + col << bits` modulo the width of
    `whole` (the halves wrap around: a first cell in the padding is negative). Cached:
    read-only."""
    bits = 4 * np.dtype(whole).itemsize
    first_row = np.arange(rows.out) * rows.stride - rows.before
    first_col = np.arange(cols.out) * cols.stride - cols.before
    cells = (first_row[:, None] + (first_col[None, :] << bits)) % (1 << 2 * bits)
    cells = cells.astype(whole)
    cells.setflags(write=False)
    return cells


@lru_cache(maxsize=256)
def _decoding(rows: AxisWindows, cols: AxisWindows) -> tuple[np.ndarray, np.ndarray]:
    """For window codes `row offset * kw + column offset`: each code's `[row, col]` step
    inside a window, and each window's first cell `(Ho, Wo, 2)`. Cached: read-only."""
    row_step, col_step = np.divmod(np.arange(rows.kernel * cols.kernel), cols.kernel)
    steps = np.stack([row_step * rows.dilation, col_step * cols.dilation], axis=1).astype(np.int64)
    first = np.empty((rows.out, cols.out, 2), np.int64)
    first[..., 0] = (np.arange(rows.out) * rows.stride - rows.before)[:, None]
    first[..., 1] = np.arange(cols.out) * cols.stride - cols.before
    steps.setflags(write=False)
    first.setflags(write=False)
    return steps, first


def _decode(code: np.ndarray, rows: AxisWindows, cols: AxisWindows) -> np.ndarray:
    """Input coordinates `(..., 2)` int64 of the cells that window codes point at."""
    steps, first = _decoding(rows, cols)
    argmax = steps.take(code, axis=0)
    argmax += first
    return argmax


# ---------------------------------------------------------------------------------------
# Small grids (quiz-sized): numpy's per-call overhead dominates, so fewer, bigger calls
# over a padded copy and a view of all windows win.


def _small(
    x: np.ndarray,
    rows: AxisWindows,
    cols: AxisWindows,
    op: PoolOp,
    include_pad: bool,
    with_argmax: bool,
) -> Pooled:
    """`pool2d` for grids with few window cells, from a strided view of every window
    `(C, Ho, Wo, kh, kw)` over a padded copy of `x` (or `x` itself if no window reaches
    past it)."""
    fold = _FOLDS[op]
    padded = _padded(x, rows, cols, fold.fill)
    windows = _window_view(padded, rows, cols)
    c, ho, wo, kh, kw = windows.shape
    if op != "avg" and with_argmax:
        # The cells of each window in row-major order, one window per row: argmax/argmin
        # return the first of equals, which is the tie rule. Padding (-inf for max, +inf
        # for min) never wins.
        cells = windows.reshape(c * ho * wo, kh * kw)
        code = cells.argmax(axis=1) if op == "max" else cells.argmin(axis=1)
        output = cells[np.arange(code.size), code].reshape(c, ho, wo)
        return Pooled(output, _decode(code.reshape(c, ho, wo), rows, cols))
    # One row per kernel offset, so that numpy folds whole rows at a time (a reduction along
    # a short last axis goes window by window, which is far slower).
    offsets = windows.transpose(3, 4, 0, 1, 2).reshape(kh * kw, c * ho * wo)
    if op == "avg":
        # Summed one offset after the other in row-major order (a reduction may sum in
        # another order, and round differently).
        sums = offsets[0].copy()
        for row in offsets[1:]:
            np.add(sums, row, out=sums)
        output = sums.reshape(c, ho, wo)
        output /= _average_divisor(rows, cols, include_pad, x.dtype)
        return Pooled(output, None)
    return Pooled(fold.combine.reduce(offsets, axis=0).reshape(c, ho, wo), None)


def _padded(x: np.ndarray, rows: AxisWindows, cols: AxisWindows, fill: float) -> np.ndarray:
    """A copy of `x` padded with `fill` on every side the windows reach (also past the
    padding, where ceil mode's windows overhang: clipped cells); `x` itself where they
    reach no further than its own cells."""
    c, h, w = x.shape
    height = max(rows.before + h, (rows.out - 1) * rows.stride + rows.k_eff)
    width = max(cols.before + w, (cols.out - 1) * cols.stride + cols.k_eff)
    if rows.before == cols.before == 0 and height == h and width == w:
        return x  # no window reaches past the grid: nothing to pad (the view only reads it)
    padded = np.empty((c, height, width), x.dtype)  # np.full, without its Python wrapper
    padded.fill(fill)
    padded[:, rows.before : rows.before + h, cols.before : cols.before + w] = x
    return padded


def _window_view(padded: np.ndarray, rows: AxisWindows, cols: AxisWindows) -> np.ndarray:
    """All windows `(C, Ho, Wo, kh, kw)` as a read-only view of the padded grid."""
    sc, sh, sw = padded.strides
    # np.ndarray over the copy's buffer: numpy's as_strided, without its Python overhead.
    windows = np.ndarray(
        (padded.shape[0], rows.out, cols.out, rows.kernel, cols.kernel),
        padded.dtype,
        padded,
        0,
        (sc, sh * rows.stride, sw * cols.stride, sh * rows.dilation, sw * cols.dilation),
    )
    windows.flags.writeable = False
    return windows
