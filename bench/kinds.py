"""Benchmark: problem variants generated and self-checked per second, and grades per second.

Run: .venv/bin/python bench/kinds.py [--seconds S]
"Self-checked" means the kind's own correct answers are produced and graded 100%: the
check a variant must pass before a student sees it. Targets (issue 3): >= 10,000 variants
per second per core; grades per second are reported alongside. Rates are per second of
this process's CPU time; the self-checked variants have seeds the generate/s pass did not
use, as a new student's would be (caches keyed by layers and shapes are shared, as in the
service).
"""

from __future__ import annotations

import argparse
import time

from problems import kinds

TARGET = 10_000
FRESH_SEEDS = 1_000_000


def rate(func, seconds: float) -> float:
    """Calls of `func(i)` per second of this process's CPU time (so "per core", and other
    processes on the machine do not count), over about `seconds` of it."""
    count = 0
    start = time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(50):
            func(count)
            count += 1
        now = time.process_time()
        if now >= deadline:
            return count / (now - start)


def measure(name: str, difficulty: int, seconds: float) -> tuple[float, float, float]:
    """Generated, generated-and-self-checked, and graded (a wrong answer) per second."""
    gen = rate(lambda i: kinds.generate(name, difficulty, i), seconds)

    def generate_and_check(i: int) -> None:
        # Seeds the generate/s pass did not use: nothing of a variant is already known.
        problem = kinds.generate(name, difficulty, FRESH_SEEDS + i)
        result = kinds.grade(problem, kinds.self_test(problem).correct)
        assert result.fraction == 1.0

    checked = rate(generate_and_check, seconds)
    problems = [kinds.generate(name, difficulty, i) for i in range(200)]
    answers = [kinds.self_test(p).wrong[p.parts[0].id] for p in problems]
    grades = rate(lambda i: kinds.grade(problems[i % 200], answers[i % 200]), seconds)
    return gen, checked, grades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()
    print(f"{'kind':24} {'diff':>4} {'generate/s':>11} {'gen+check/s':>12} {'grades/s':>10}")
    worst = float("inf")
    for name in kinds.KINDS:
        for difficulty in kinds.DIFFICULTIES:
            gen, checked, grades = measure(name, difficulty, args.seconds)
            worst = min(worst, checked)
            print(f"{name:24} {difficulty:>4} {gen:>11,.0f} {checked:>12,.0f} {grades:>10,.0f}")
    verdict = "PASS" if worst >= TARGET else "FAIL"
    print(f"\nslowest generate+self-check: {worst:,.0f}/s per core (target >= {TARGET:,}/s): {verdict}")


if __name__ == "__main__":
    main()
