"""Sliding-window arithmetic along one axis: output size and padding, shared by the
solver (shapes, receptive fields) and the pooling of grids (spec section 1)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

from problems.errors import SpecError

PaddingMode = Literal["valid", "same"]


@dataclass(frozen=True)
class AxisWindows:
    """Where the windows of one axis fall.

    Window `i` covers input positions `i*stride - before + t*dilation` for `t < kernel`;
    positions outside `[0, size)` are padding. `after` is the padding after the input that
    the last window can reach (with ceil mode it may overhang it: those cells are clipped).
    """

    size: int
    kernel: int
    stride: int
    dilation: int
    before: int
    after: int
    out: int

    @cached_property  # instances are cached and reused: worked out once each
    def k_eff(self) -> int:
        """The dilated kernel extent, `dilation*(kernel-1) + 1`."""
        return self.dilation * (self.kernel - 1) + 1

    @cached_property
    def _hash(self) -> int:
        return hash((self.size, self.kernel, self.stride, self.dilation, self.before,
                     self.after, self.out))

    def __hash__(self) -> int:
        """The fields' hash (as a frozen dataclass's), worked out once: instances are keys
        of many caches."""
        return self._hash

    def window_start(self, i: int) -> int:
        """Input coordinate of the first cell of window `i` (negative inside the padding)."""
        return i * self.stride - self.before


def effective_kernel(kernel: int, dilation: int) -> int:
    """`dilation*(kernel-1) + 1`."""
    return dilation * (kernel - 1) + 1


# Pure, and called for every layer of every stack tried: cached. `typed` keeps 1 and True
# (or an int and a numpy integer) apart, so every caller gets back the types it passed.
@lru_cache(maxsize=8192, typed=True)
def axis_windows(
    size: int,
    kernel: int,
    stride: int,
    padding: int | PaddingMode,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> AxisWindows:
    """Output size and padding for one axis, by PyTorch's rule for integer padding and
    TensorFlow's for "same". The output may be < 1: callers refuse that with a path."""
    k_eff = effective_kernel(kernel, dilation)
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + k_eff - size, 0)
        before = total // 2
        return AxisWindows(size, kernel, stride, dilation, before, total - before, out)
    p = 0 if padding == "valid" else int(padding)
    span = size + 2 * p - k_eff
    if ceil_mode:
        # Floor division rounds toward minus infinity, as PyTorch's div_rtn does.
        out = (span + stride - 1) // stride + 1
        if out >= 1 and (out - 1) * stride >= size + p:
            out -= 1
    else:
        out = span // stride + 1
    return AxisWindows(size, kernel, stride, dilation, p, p, out)


@lru_cache(maxsize=1024)
def windows_holding(axis: AxisWindows) -> tuple[tuple[int, ...], ...]:
    """For each input coordinate `x < size`: the windows `i` (in increasing order) that
    read `x` as one of their cells. Pure, so cached (read-only tuples)."""
    holding: list[list[int]] = [[] for _ in range(axis.size)]
    for i in range(axis.out):
        start = axis.window_start(i)
        for t in range(axis.kernel):
            x = start + t * axis.dilation
            if 0 <= x < axis.size:
                holding[x].append(i)
    return tuple(map(tuple, holding))


def has_all_padding_window(axis: AxisWindows) -> bool:
    """True if some window of this axis covers only padding cells (possible with dilation)."""
    if axis.dilation == 1:
        # An undilated window starts at or after -before (before <= kernel//2 for pools,
        # which ensures it reaches cell 0) and, after ceil mode's drop rule, before the end.
        return False
    # Taps are `dilation` apart: a window reaching both sides of an input at least that
    # wide has a tap inside it, so only the first and the last window can miss it.
    candidates = (0, axis.out - 1) if axis.size >= axis.dilation else range(axis.out)
    for i in candidates:
        start = axis.window_start(i)
        if not any(0 <= start + t * axis.dilation < axis.size for t in range(axis.kernel)):
            return True
    return False


AXES = ("height", "width")


def windows_2d(
    shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] | PaddingMode,
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
    path: str = "",
    pooling: bool = False,
) -> tuple[AxisWindows, AxisWindows]:
    """The windows along height and width, refusing an empty output and (for pooling) a
    window made only of padding; `path` prefixes the field names in the errors."""
    pads = (padding, padding) if isinstance(padding, str) else padding
    axes = (
        axis_windows(shape[0], kernel[0], stride[0], pads[0], dilation[0], ceil_mode),
        axis_windows(shape[1], kernel[1], stride[1], pads[1], dilation[1], ceil_mode),
    )
    if axes[0].out >= 1 and axes[1].out >= 1 and not pooling:
        return axes  # the common case: nothing to refuse
    for n, a in enumerate(axes):
        if a.out >= 1 and not (pooling and a.dilation > 1):
            continue
        prefix = f"{path}." if path else ""
        if a.out < 1:
            which = "" if kernel[0] == kernel[1] and shape[0] == shape[1] else f" ({AXES[n]})"
            raise SpecError(
                f"{prefix}kernel",
                f"window {a.k_eff} is larger than the padded input {a.size + a.before + a.after}{which}",
            )
        if pooling and has_all_padding_window(a):
            raise SpecError(
                f"{prefix}dilation",
                f"a pooling window with dilation {a.dilation} covers only padding cells ({AXES[n]})",
            )
    return axes
