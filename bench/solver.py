"""Benchmark: pooling of grids (problems.pooling) against a naive loop and PyTorch, and
solving a 1,000-layer stack.

Run: .venv/bin/python bench/solver.py [--rounds N]
Targets: on (1,64,112,112) k2 s2 p0 and (8,64,56,56) k3 s2 p1 (the batch pooled as extra
channels), for max and avg pooling in float32:
  - at most half the time of torch.nn.functional.max_pool2d / avg_pool2d on one thread,
  - at least 50x faster than a naive Python loop over output cells,
  - values + argmax at most 2x the values alone (max pooling; float32 and float64),
and parse + solve of a 1,000-layer stack in under 10 ms.
Times are the best of several interleaved rounds, so that load from other processes
disturbs both sides of each ratio alike. PyTorch is optional: without it those columns
read "torch not installed".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import timeit
from collections.abc import Callable
from functools import partial

import numpy as np

from problems.pooling import PoolOp, pool2d

CASES = [  # label, (N, C, H, W), kernel, stride, padding
    ("(1,64,112,112) k2 s2 p0", (1, 64, 112, 112), 2, 2, 0),
    ("(8,64,56,56) k3 s2 p1", (8, 64, 56, 56), 3, 2, 1),
]
NAIVE_CHANNELS = 4  # the naive loop runs on this many channels, scaled to all of them
TORCH_TARGET = 0.5
NAIVE_TARGET = 50.0
ARGMAX_TARGET = 2.0
STACK_LAYERS = 1_000
STACK_TARGET_MS = 10.0


def best(func: Callable[[], object], number: int = 5) -> float:
    """Seconds per call: the best of a few timeit repeats."""
    return min(timeit.repeat(func, number=number, repeat=3)) / number


def naive_pool(x: np.ndarray, op: str, k: int, s: int, p: int) -> np.ndarray:
    """Pooling the obvious way: a Python loop over output cells, numpy per window
    (PyTorch's rules for these cases: padding counted in averages, never winning max)."""
    c, h, w = x.shape
    fill = -np.inf if op == "max" else 0.0
    padded = np.pad(x, ((0, 0), (p, p), (p, p)), constant_values=fill)
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.empty((c, ho, wo), x.dtype)
    for ch in range(c):
        for i in range(ho):
            for j in range(wo):
                window = padded[ch, i * s : i * s + k, j * s : j * s + k]
                out[ch, i, j] = window.max() if op == "max" else window.sum() / (k * k)
    return out


def load_torch():  # type: ignore[no-untyped-def]
    """torch with one thread, or None."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def interleaved(funcs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best seconds per call of each function over `rounds` rounds that take turns."""
    times = dict.fromkeys(funcs, float("inf"))
    for _ in range(rounds):
        for name, func in funcs.items():
            times[name] = min(times[name], best(func))
    return times


def bench_pooling(rounds: int) -> list[tuple[str, bool]]:
    """Print the pooling table; return the (target, passed) lines."""
    torch = load_torch()
    rng = np.random.default_rng(0)
    checks: list[tuple[str, bool]] = []
    header = (
        f"{'case':26} {'op':3} {'ours ms':>8} {'naive ms':>9} {'naive/ours':>10} "
        f"{'torch ms':>9} {'ours/torch':>10} {'argmax f32':>10} {'argmax f64':>10}"
    )
    print(header)
    print("-" * len(header))
    for label, (n, c, h, w), k, s, p in CASES:
        x4 = rng.standard_normal((n, c, h, w), dtype=np.float32)
        x = x4.reshape(n * c, h, w)  # the batch as extra channels, no copy
        x64 = x.astype(np.float64)
        ops: tuple[PoolOp, ...] = ("max", "avg")
        for op in ops:
            args: tuple[PoolOp, tuple[int, int], tuple[int, int], tuple[int, int]] = (
                op,
                (k, k),
                (s, s),
                (p, p),
            )
            funcs: dict[str, Callable[[], object]] = {
                "ours": partial(pool2d, x, *args, with_argmax=False),
            }
            if torch is not None:
                xt = torch.from_numpy(x4)
                pool = getattr(torch.nn.functional, f"{op}_pool2d")
                funcs["torch"] = partial(pool, xt, k, s, p)
            if op == "max":
                funcs["argmax"] = partial(pool2d, x, *args)
                funcs["ours64"] = partial(pool2d, x64, *args, with_argmax=False)
                funcs["argmax64"] = partial(pool2d, x64, *args)
            t = interleaved(funcs, rounds)
            part = x[:NAIVE_CHANNELS]
            start = time.perf_counter()
            slow = naive_pool(part, op, k, s, p)
            naive = (time.perf_counter() - start) * x.shape[0] / NAIVE_CHANNELS
            assert np.allclose(slow, pool2d(part, *args).output, atol=1e-5)
            ours = t["ours"]
            cols = [f"{label:26} {op:3} {ours * 1e3:8.3f} {naive * 1e3:9.1f} {naive / ours:10.0f}"]
            name = f"{label} {op}"
            checks.append(
                (
                    f"{name}: naive/ours {naive / ours:,.0f}x >= {NAIVE_TARGET:.0f}x",
                    naive / ours >= NAIVE_TARGET,
                )
            )
            if "torch" in t:
                ratio = ours / t["torch"]
                cols.append(f"{t['torch'] * 1e3:9.3f} {ratio:10.2f}")
                checks.append(
                    (f"{name}: ours/torch {ratio:.2f} <= {TORCH_TARGET}", ratio <= TORCH_TARGET)
                )
            else:
                cols.append(f"{'torch not installed':>20}")
            if op == "max":
                cost = {"float32": t["argmax"] / ours, "float64": t["argmax64"] / t["ours64"]}
                cols.append(f"{cost['float32']:10.2f} {cost['float64']:10.2f}")
                for dtype, ratio in cost.items():
                    checks.append(
                        (
                            f"{name}: argmax cost {ratio:.2f}x ({dtype}) <= {ARGMAX_TARGET}x",
                            ratio <= ARGMAX_TARGET,
                        )
                    )
            else:
                cols.append(f"{'-':>10} {'-':>10}")
            print(" ".join(cols))
    print(
        f"\nnaive ms: a Python loop over output cells (numpy per window) timed on "
        f"{NAIVE_CHANNELS} channels and scaled linearly to all of them.\n"
        "argmax f32/f64: time of values + argmax over values alone (max pooling)."
    )
    if torch is None:
        print("torch not installed: the torch comparison was skipped.")
    return checks


def stack_json(layers: int) -> str:
    """A `solve` body: conv2d 3x3 padding 1 (8 filters) / relu / batchnorm, repeated."""
    cycle = [
        {"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "batchnorm"},
    ]
    body = {"layout": "HWC", "input": [64, 64, 3], "layers": [cycle[i % 3] for i in range(layers)]}
    return json.dumps(body)


def bench_stack(rounds: int) -> list[tuple[str, bool]]:
    """Print the 1,000-layer stack timing; return the (target, passed) lines."""
    try:
        from problems.solver import solve
        from problems.spec import parse_stack
    except ImportError as err:
        print(f"\n{STACK_LAYERS:,}-layer stack: problems.solver/problems.spec unavailable ({err})")
        return []
    text = stack_json(STACK_LAYERS)

    def run() -> object:
        return solve(parse_stack(json.loads(text)))

    start = time.perf_counter()
    solution = run()
    first = time.perf_counter() - start
    warm = min(best(run, number=3) for _ in range(rounds))
    layers = len(solution.layers)  # type: ignore[attr-defined]
    print(
        f"\n{STACK_LAYERS:,}-layer stack (json.loads + parse_stack + solve, {layers} layers): "
        f"first call {first * 1e3:.2f} ms, best {warm * 1e3:.2f} ms"
    )
    return [
        (
            f"{STACK_LAYERS:,}-layer stack, first call {first * 1e3:.2f} ms < {STACK_TARGET_MS:.0f} ms",
            first * 1e3 < STACK_TARGET_MS,
        ),
        (
            f"{STACK_LAYERS:,}-layer stack, best {warm * 1e3:.2f} ms < {STACK_TARGET_MS:.0f} ms",
            warm * 1e3 < STACK_TARGET_MS,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    args = parser.parse_args()
    torch = load_torch()
    version = f"{torch.__version__} (1 thread)" if torch else "not installed"
    print(
        f"numpy {np.__version__}, torch {version}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}\n"
    )
    checks = bench_pooling(max(1, args.rounds)) + bench_stack(max(1, args.rounds))
    print()
    for line, ok in checks:
        print(f"{verdict(ok)}  {line}")
    failed = sum(not ok for _, ok in checks)
    print(f"\n{len(checks) - failed} of {len(checks)} targets met")


if __name__ == "__main__":
    main()
