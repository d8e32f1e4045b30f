"""Random draws for generating problems: numpy's PCG64 generator seeded from a variant's
seed, and uniform numbers from it taken a block at a time.

A call into numpy's Generator costs about a microsecond whatever it returns, and a problem
makes dozens of small draws (a kernel size, a coin flip). One `rng.random(BLOCK)` call
serves BLOCK of them, so drawing costs a list pop. Seeding goes through SplitMix64 rather
than numpy's SeedSequence, which costs more than all of a small problem's draws. Either
way the numbers are fixed by the seed, on any machine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.random.bit_generator import ISeedSequence

T = TypeVar("T")

BLOCK = 64
_MASK64 = (1 << 64) - 1


class SplitMixSeed(ISeedSequence):
    """The seed words a bit generator asks for, from one integer by SplitMix64 (Steele,
    Lea and Flood; the seeding Vigna recommends): distinct integers below 2**64 give
    distinct words."""

    __slots__ = ("seed",)

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray:
        """`n_words` words of `dtype` (uint32 or uint64)."""
        wide = dtype is np.uint64  # what PCG64 asks for: the words as they are made
        if not wide:
            dtype = np.dtype(dtype)
        count = n_words if wide else -(-n_words * dtype.itemsize // 8)
        x, words = self.seed & _MASK64, []
        for _ in range(count):
            x = (x + 0x9E3779B97F4A7C15) & _MASK64
            z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
            words.append(z ^ (z >> 31))
        state = np.array(words, dtype=np.uint64)
        return state if wide else state.view(dtype)[:n_words]


def generator(seed: int) -> np.random.Generator:
    """numpy's PCG64 generator for a seed in [0, 2**64)."""
    # numpy's stubs name SeedSequence, but a bit generator takes any ISeedSequence.
    return np.random.Generator(np.random.PCG64(SplitMixSeed(seed)))  # type: ignore[arg-type]


class Draws:
    """Uniform draws from `rng` (which stays usable for array draws, such as whole grids)."""

    __slots__ = ("rng", "_block")

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._block: list[float] = []

    def _refill(self) -> None:
        block = self._block
        block.extend(self.rng.random(BLOCK).tolist())
        block.reverse()  # popped from the end: the block is used in the order drawn

    def random(self) -> float:
        """A float in [0, 1)."""
        if not self._block:
            self._refill()
        return self._block.pop()

    # The methods below take their float as `random` does, inline: they run dozens of
    # times per variant. u < 1 is at most 1 - 2**-53, and (1 - 2**-53) * n rounds to
    # below n for every n < 2**52, so int(u * n) never reaches n.

    def below(self, n: int) -> int:
        """An integer in [0, n), uniformly (n >= 1)."""
        if not self._block:
            self._refill()
        return int(self._block.pop() * n)

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high), uniformly, like `rng.integers(low, high)`."""
        if not self._block:
            self._refill()
        return low + int(self._block.pop() * (high - low))

    def pick(self, options: Sequence[T]) -> T:
        """One of `options`, uniformly."""
        if not self._block:
            self._refill()
        return options[int(self._block.pop() * len(options))]

    def shuffled(self, items: Sequence[T]) -> list[T]:
        """`items` in a uniformly random order (Fisher-Yates)."""
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def integer_rows(self, low: int, high: int, rows: int, cols: int) -> list[list[int]]:
        """`integers(low, high, (rows, cols)).tolist()`: the same draws, floored the same
        way (the same float product, truncated), in Python, which on a small grid costs
        less than numpy's calls."""
        n = high - low
        return [[low + int(u * n) for u in row] for row in self.rng.random((rows, cols)).tolist()]

    def integers(self, low: int, high: int, shape: tuple[int, ...]) -> np.ndarray:
        """An int64 array of `shape` uniform integers in [low, high): one numpy call for
        the floats (much cheaper than `rng.integers`), floored as `below` floors."""
        grid = (self.rng.random(shape) * (high - low)).astype(np.int64)
        grid += low
        return grid


def draw_until(
    draws: Draws,
    draw: Callable[[Draws], dict[str, Any]],
    tried: Callable[[dict[str, Any]], T | None],
    fallback: Mapping[str, Any],
    tries: int = 50,
) -> tuple[dict[str, Any], T]:
    """The first draw that fits, with what `tried` made of it (None where it does not fit:
    the solver's steps, say, which the caller then need not work out again); or a copy of
    `fallback`, which fits, after `tries` misses (which keeps `generate` total)."""
    for _attempt in range(tries):
        candidate = draw(draws)
        made = tried(candidate)
        if made is not None:
            return candidate, made
    candidate = dict(fallback)
    made = tried(candidate)
    if made is None:
        raise ValueError("draw_until: the fallback does not fit")
    return candidate, made
