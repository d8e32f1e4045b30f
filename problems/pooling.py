"""Vectorized pooling of grids (spec section 2): max, average and min pooling with the
winning cell of each window, and global pooling.

How it is fast without a Python loop over output cells: the windows are separable, so
one axis is reduced after the other, and along an axis every kernel offset `t` picks one
strided run of input lines for all windows at once (window `i` reads line
`i*stride - before + t*dilation`). When a line's length is `stride * outputs` the
channels' lines can even be laid end to end and read as a single strided run; the few
windows at the borders, which would read padding or the neighbouring channel, are then
recomputed on their own. Padding is never materialized: an offset whose cell is padding
for a window is skipped for it, which is what "padded cells never win" means. Channels
are processed in cache-sized chunks through reused scratch buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from problems.errors import SpecError
from problems.windows import AxisWindows, PaddingMode, axis_windows

PoolOp = Literal["max", "avg", "min"]

# Input bytes per chunk of channels: small enough for a chunk and its scratch buffers to
# stay in a core's L2 cache between passes, large enough to amortize numpy's call overhead.
CHUNK_BYTES = 1 << 20


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
    if ceil_mode and isinstance(padding, str):
        raise SpecError("ceil_mode", f"ceil_mode needs integer padding, not {padding!r}")
    pads = (padding, padding) if isinstance(padding, str) else tuple(padding)
    rows = _axis(0, x.shape[1], kernel[0], stride[0], pads[0], dilation[0], ceil_mode)
    cols = _axis(1, x.shape[2], kernel[1], stride[1], pads[1], dilation[1], ceil_mode)
    if op == "avg":
        return Pooled(_average(x, rows, cols, count_include_pad and padding != "same"), None)
    if not with_argmax:
        return Pooled(_extreme(x, rows, cols, _FOLDS[op]), None)
    output, argmax = _extreme_with_argmax(x, rows, cols, _FOLDS[op])
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
    for name, value in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise SpecError(name, f"must be a positive integer, got {value!r}")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise SpecError("padding", f"unknown padding {padding!r}")
    elif isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
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


def _offsets(windows: AxisWindows) -> list[_Offset]:
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
    return found


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


def _range(offsets: list[_Offset], a: int, b: int) -> _Range:
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


def _plan(windows: AxisWindows, lines_in: int, lines_out: int) -> _Pass:
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


# Tracking the winner along one axis: `offset` receives the kernel offset of each
# window's winning cell and `carried` the entry of `carry` (shaped like `src`) there.


def _track(
    src: np.ndarray,
    best: np.ndarray,
    offset: np.ndarray,
    plan: _Pass,
    fold: _Fold,
    carry: np.ndarray | None = None,
    carried: np.ndarray | None = None,
) -> None:
    """`_reduce` for max or min that also records which offset won each window."""
    runs = plan.runs(src.shape[0])
    flat = [_lines(a) for a in (src, best, offset)]
    if carry is not None and carried is not None:
        flat += [_lines(carry), _lines(carried)]
    if runs is None or any(f is None for f in flat):
        _track_range(src, best, offset, plan.everything, fold, carry, carried)
        return
    cells, lines = runs
    flat_src, flat_best, flat_offset, *flat_carry = flat
    assert flat_src is not None and flat_best is not None and flat_offset is not None
    from_carry, into_carried = flat_carry or (None, None)
    _track_whole(
        [
            (o.t, flat_src[c], None if from_carry is None else from_carry[c])
            for o, c in zip(plan.everything.parts, cells, strict=True)
        ],
        flat_best[lines],
        flat_offset[lines],
        None if into_carried is None else into_carried[lines],
        fold,
    )
    for border in plan.border:
        _track_range(src, best, offset, border, fold, carry, carried)


def _track_whole(
    candidates: list[tuple[int, np.ndarray, np.ndarray | None]],
    best: np.ndarray,
    offset: np.ndarray,
    carried: np.ndarray | None,
    fold: _Fold,
) -> None:
    """Fold candidates `(t, values, carry)` that all cover the whole target, in
    increasing `t`; only a strictly better value wins, so ties keep the earliest."""
    assert fold.better is not None
    t0, first, carry0 = candidates[0]
    if len(candidates) == 1:
        np.copyto(best, first)
        offset.fill(t0)
        if carried is not None:
            np.copyto(carried, carry0)
        return
    t1, second, carry1 = candidates[1]
    won = fold.better(second, first)
    fold.combine(first, second, out=best)
    np.multiply(won, offset.dtype.type(t1 - t0), out=offset)
    if t0:
        offset += offset.dtype.type(t0)
    if carried is not None and carry0 is not None and carry1 is not None:
        _blend(carry0, carry1, won, carried)
    scratch = np.empty(offset.shape, offset.dtype)
    for t, source, carry in candidates[2:]:
        _challenge(source, carry, t, best, offset, carried, won, scratch, fold)


def _track_range(
    src: np.ndarray,
    best: np.ndarray,
    offset: np.ndarray,
    windows: _Range,
    fold: _Fold,
    carry: np.ndarray | None,
    carried: np.ndarray | None,
) -> None:
    """`_track` for one range of windows, one strided slice per offset."""
    a, b = windows.a, windows.b
    first, *rest = windows.parts
    if (first.lo, first.hi) != (a, b):
        # Padding for some windows: it holds the place and loses to any real cell.
        best[:, a:b] = fold.fill
        offset[:, a:b] = first.t
        if carried is not None:
            carried[:, a:b] = 0
    np.copyto(best[:, first.lo : first.hi], src[:, first.cells])
    offset[:, first.lo : first.hi] = first.t
    if carried is not None and carry is not None:
        np.copyto(carried[:, first.lo : first.hi], carry[:, first.cells])
    won = np.empty(best[:, a:b].shape, bool)
    scratch = np.empty(won.shape, offset.dtype)
    for c in rest:
        part, local = slice(c.lo, c.hi), slice(c.lo - a, c.hi - a)
        _challenge(
            src[:, c.cells],
            None if carry is None else carry[:, c.cells],
            c.t,
            best[:, part],
            offset[:, part],
            None if carried is None else carried[:, part],
            won[:, local],
            scratch[:, local],
            fold,
        )


def _challenge(
    source: np.ndarray,
    carry: np.ndarray | None,
    t: int,
    best: np.ndarray,
    offset: np.ndarray,
    carried: np.ndarray | None,
    won: np.ndarray,
    scratch: np.ndarray,
    fold: _Fold,
) -> None:
    """Let offset `t` challenge the current winners. The bookkeeping is arithmetic
    because masked copies (`np.copyto(where=)`, `np.where`) are far slower."""
    assert fold.better is not None
    fold.better(source, best, out=won)
    fold.combine(best, source, out=best)
    # Offsets arrive in increasing order, so a win at t always raises the offset to t.
    np.multiply(won, offset.dtype.type(t), out=scratch)
    np.maximum(offset, scratch, out=offset)
    if carried is not None and carry is not None:
        _blend(carried, carry, won, carried)


def _blend(old: np.ndarray, new: np.ndarray, won: np.ndarray, out: np.ndarray) -> None:
    """`out = new if won else old` for unsigned integers: `old + won*(new - old)` is exact
    in modular arithmetic."""
    diff = np.subtract(new, old)
    np.multiply(diff, won, out=diff)
    np.add(old, diff, out=out)


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
    divisor = np.multiply.outer(_divisor(rows, include_pad), _divisor(cols, include_pad))
    divisor = divisor.astype(x.dtype)

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
    """
    c_total, h, w = x.shape
    ho, wo = rows.out, cols.out
    offset_type = np.min_scalar_type(max(rows.kernel, cols.kernel) - 1)
    m_cols, m_rows = _per_line(w, cols), _per_line(h, rows)
    col_pass, row_pass = _plan(cols, w, m_cols), _plan(rows, h, m_rows)
    size, chunks = _chunks(c_total, x[0].nbytes)
    by_col = np.zeros((size, h, m_cols), x.dtype)
    col_offset = np.zeros((size, h, m_cols), offset_type)
    # Winning offsets per window, [row, col]; as int64 coordinates at the end of a chunk.
    winner = np.zeros((size, ho, wo, 2), offset_type)
    direct = (m_rows, m_cols) == (ho, wo)
    if not direct:
        best = np.zeros((size, m_rows, m_cols), x.dtype)
        found = np.zeros((size, m_rows, m_cols, 2), offset_type)
    output = np.empty((c_total, ho, wo), x.dtype)
    argmax = np.empty((c_total, ho, wo, 2), np.int64)
    first = np.empty((ho, wo, 2), np.int64)  # input coordinates of each window's first cell
    first[..., 0] = (np.arange(ho) * rows.stride - rows.before)[:, None]
    first[..., 1] = np.arange(wo) * cols.stride - cols.before
    step = np.array([rows.dilation, cols.dilation], np.int64)
    for chunk in chunks:
        n = chunk.stop - chunk.start
        _track(
            x[chunk].reshape(n * h, w, 1),
            by_col[:n].reshape(n * h, m_cols, 1),
            col_offset[:n].reshape(n * h, m_cols, 1),
            col_pass,
            fold,
        )
        into, offsets = (output[chunk], winner[:n]) if direct else (best[:n], found[:n])
        _track(
            by_col[:n],
            into,
            offsets[..., 0],
            row_pass,
            fold,
            carry=col_offset[:n],
            carried=offsets[..., 1],
        )
        if not direct:
            np.copyto(output[chunk], best[:n, :ho, :wo])
            np.copyto(winner[:n], found[:n, :ho, :wo])
        coordinates = argmax[chunk]
        if rows.dilation == cols.dilation == 1:
            np.add(winner[:n], first, out=coordinates)
        else:
            np.multiply(winner[:n], step, out=coordinates)
            np.add(coordinates, first, out=coordinates)
    return output, argmax
