"""Vectorized pooling of grids (spec section 2): max, average and min pooling with the
winning cell of each window, and global pooling.

Two implementations with the same results (the tests hold both to a brute-force twin):

- Small grids (quiz sizes, up to SMALL_CELLS window cells), where numpy's per-call
  overhead is what counts: a padded copy, a strided view of all windows, and one ufunc
  call per kernel offset (for the winners, one argmax over the flattened windows).
- Large grids: no Python loop over output cells and no padded copy. The windows are
  separable, so one axis is folded after the other, and along an axis each kernel offset
  `t` picks one strided run of input lines for all windows at once (window `i` reads line
  `i*stride - before + t*dilation`). When a line holds exactly `stride` cells per output,
  the lines of all channels are read end to end as a single run; the few windows at the
  borders, which would read padding or the neighbouring channel that way, are then
  redone on their own. A padding cell is simply skipped by the windows it belongs to,
  which is what "padded cells never win" means. Channels go through in cache-sized
  chunks with reused scratch buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import as_strided

from problems.errors import SpecError
from problems.windows import AxisWindows, PaddingMode, axis_windows

PoolOp = Literal["max", "avg", "min"]

# Input bytes per chunk of channels: small enough for a chunk and its scratch buffers to
# stay in a core's L2 cache between passes, large enough to amortize numpy's call overhead.
CHUNK_BYTES = 1 << 20
# Grids with at most this many window cells (C*Ho*Wo*kh*kw) are pooled through a view of
# all windows instead: fewer numpy calls, which is what counts at quiz sizes.
SMALL_CELLS = 16384


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
    include_pad = count_include_pad and padding != "same"
    if x.shape[0] * rows.out * cols.out * rows.kernel * cols.kernel <= SMALL_CELLS:
        return _small(x, rows, cols, op, include_pad, with_argmax)
    if op == "avg":
        return Pooled(_average(x, rows, cols, include_pad), None)
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


# Tracking the winner along one axis. Each window's winning offset `t` is recorded as a
# code `t*scale + carry[cell]`, where `carry` holds the code of an earlier pass (the
# column winners, for the row pass). Codes grow with `t`, so as offsets are scanned in
# increasing order a win always raises the code: `code = max(code, won * candidate)` is
# the whole bookkeeping, far cheaper than masked copies (`np.copyto(where=)`, `np.where`).


def _track(
    src: np.ndarray,
    best: np.ndarray,
    code: np.ndarray,
    plan: _Pass,
    fold: _Fold,
    carry: np.ndarray | None = None,
    scale: int = 1,
) -> None:
    """`_reduce` for max or min that also records which offset won each window; only a
    strictly better value wins, so ties keep the earliest offset."""
    runs = plan.runs(src.shape[0])
    flat = [_lines(a) for a in (src, best, code) + (() if carry is None else (carry,))]
    if runs is None or any(f is None for f in flat):
        _track_range(src, best, code, plan.everything, fold, carry, scale)
        return
    cells, lines = runs
    flat_src, flat_best, flat_code, *flat_carry = flat
    assert flat_src is not None and flat_best is not None and flat_code is not None
    from_carry = flat_carry[0] if flat_carry else None
    candidates = [
        (o.t * scale, flat_src[c], None if from_carry is None else from_carry[c])
        for o, c in zip(plan.everything.parts, cells, strict=True)
    ]
    _track_whole(candidates, flat_best[lines], flat_code[lines], fold)
    for border in plan.border:
        _track_range(src, best, code, border, fold, carry, scale)


def _track_whole(
    candidates: list[tuple[int, np.ndarray, np.ndarray | None]],
    best: np.ndarray,
    code: np.ndarray,
    fold: _Fold,
) -> None:
    """Fold candidates `(code, values, carry)` that all cover the whole target."""
    assert fold.better is not None
    (c0, first, carry0), *rest = candidates
    if not rest:
        np.copyto(best, first)
        _candidate(c0, carry0, code)
        return
    (c1, second, carry1), *rest = rest
    won = fold.better(second, first)
    fold.combine(first, second, out=best)
    scratch = np.empty(code.shape, code.dtype)
    if carry0 is None and c0 == 0:
        np.multiply(won, code.dtype.type(c1), out=code)
    else:
        _candidate(c0, carry0, code)
        _raise(code, c1, carry1, won, scratch)
    for c, source, carry in rest:
        fold.better(source, best, out=won)
        fold.combine(best, source, out=best)
        _raise(code, c, carry, won, scratch)


def _track_range(
    src: np.ndarray,
    best: np.ndarray,
    code: np.ndarray,
    windows: _Range,
    fold: _Fold,
    carry: np.ndarray | None,
    scale: int,
) -> None:
    """`_track` for one range of windows, one strided slice per offset."""
    assert fold.better is not None
    a, b = windows.a, windows.b
    first, *rest = windows.parts
    if (first.lo, first.hi) != (a, b):
        # Padding for some windows: it holds the place and loses to any real cell.
        best[:, a:b] = fold.fill
        code[:, a:b] = 0
    part = slice(first.lo, first.hi)
    np.copyto(best[:, part], src[:, first.cells])
    _candidate(first.t * scale, None if carry is None else carry[:, first.cells], code[:, part])
    won = np.empty(best[:, a:b].shape, bool)
    scratch = np.empty(won.shape, code.dtype)
    for c in rest:
        part, local = slice(c.lo, c.hi), slice(c.lo - a, c.hi - a)
        fold.better(src[:, c.cells], best[:, part], out=won[:, local])
        fold.combine(best[:, part], src[:, c.cells], out=best[:, part])
        _raise(
            code[:, part],
            c.t * scale,
            None if carry is None else carry[:, c.cells],
            won[:, local],
            scratch[:, local],
        )


def _candidate(base: int, carry: np.ndarray | None, out: np.ndarray) -> None:
    """`out = base + carry` (or `base` without a carry)."""
    if carry is None:
        out.fill(base)
    else:
        np.add(carry, out.dtype.type(base), out=out)


def _raise(
    code: np.ndarray, base: int, carry: np.ndarray | None, won: np.ndarray, scratch: np.ndarray
) -> None:
    """`code = base + carry` where `won`, else unchanged (candidates only grow)."""
    if carry is None:
        np.multiply(won, code.dtype.type(base), out=scratch)
    else:
        np.add(carry, code.dtype.type(base), out=scratch)
        np.multiply(scratch, won, out=scratch)
    np.maximum(code, scratch, out=code)


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
    """
    c_total, h, w = x.shape
    ho, wo = rows.out, cols.out
    # A window's winner is coded `row offset * kw + column offset`.
    code_type = np.min_scalar_type(rows.kernel * cols.kernel - 1)
    m_cols, m_rows = _per_line(w, cols), _per_line(h, rows)
    col_pass, row_pass = _plan(cols, w, m_cols), _plan(rows, h, m_rows)
    size, chunks = _chunks(c_total, x[0].nbytes)
    by_col = np.zeros((size, h, m_cols), x.dtype)
    col_code = np.zeros((size, h, m_cols), code_type)
    direct = (m_rows, m_cols) == (ho, wo)
    if not direct:
        best = np.zeros((size, m_rows, m_cols), x.dtype)
        best_code = np.zeros((size, m_rows, m_cols), code_type)
    output = np.empty((c_total, ho, wo), x.dtype)
    code = np.empty((c_total, ho, wo), code_type)
    for chunk in chunks:
        n = chunk.stop - chunk.start
        _track(
            x[chunk].reshape(n * h, w, 1),
            by_col[:n].reshape(n * h, m_cols, 1),
            col_code[:n].reshape(n * h, m_cols, 1),
            col_pass,
            fold,
        )
        into = (output[chunk], code[chunk]) if direct else (best[:n], best_code[:n])
        _track(by_col[:n], *into, row_pass, fold, carry=col_code[:n], scale=cols.kernel)
        if not direct:
            np.copyto(output[chunk], best[:n, :ho, :wo])
            np.copyto(code[chunk], best_code[:n, :ho, :wo])
    return output, _decode(code, rows, cols)


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
    argmax = np.take(steps, code, axis=0)
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
    """`pool2d` for grids with few window cells."""
    fold = _FOLDS[op]
    windows = _window_view(x, rows, cols, fold.fill)
    if op != "avg" and with_argmax:
        # Flattened windows list their cells in row-major order, and argmax/argmin return
        # the first of equals: the tie rule. Padding (-inf for max, +inf for min) never wins.
        cells = windows.reshape(windows.shape[:3] + (-1,))
        code = cells.argmax(axis=3) if op == "max" else cells.argmin(axis=3)
        output = np.take_along_axis(cells, code[..., None], axis=3)[..., 0]
        return Pooled(output, _decode(code, rows, cols))
    # One ufunc call per kernel offset: numpy reductions over the small window axes loop
    # window by window, which is far slower.
    offsets = [windows[..., i, j] for i in range(rows.kernel) for j in range(cols.kernel)]
    output = np.empty(windows.shape[:3], x.dtype)
    _combine(offsets, output, fold)
    if op == "avg":
        output /= _average_divisor(rows, cols, include_pad, x.dtype)
    return Pooled(output, None)


def _window_view(x: np.ndarray, rows: AxisWindows, cols: AxisWindows, fill: float) -> np.ndarray:
    """All windows `(C, Ho, Wo, kh, kw)` as a view of a copy of `x` padded with `fill`
    (also past the padding, where ceil mode's windows overhang: clipped cells)."""
    c, h, w = x.shape
    height = max(rows.before + h, (rows.out - 1) * rows.stride + rows.k_eff)
    width = max(cols.before + w, (cols.out - 1) * cols.stride + cols.k_eff)
    padded = np.full((c, height, width), fill, x.dtype)
    padded[:, rows.before : rows.before + h, cols.before : cols.before + w] = x
    sc, sh, sw = padded.strides
    return as_strided(
        padded,
        (c, rows.out, cols.out, rows.kernel, cols.kernel),
        (sc, sh * rows.stride, sw * cols.stride, sh * rows.dilation, sw * cols.dilation),
        writeable=False,
    )
