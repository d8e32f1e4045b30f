"""The registry of problem kinds: a new kind is one module and one line in `_MODULES`.

A problem is `(kind, difficulty, seed)`: `generate` rebuilds the same problem from the same
triple on any machine (numpy's PCG64 is fixed by the seed, see `draws`; nothing else is
random).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from problems.errors import SpecError

# One import and one _MODULES entry per kind, in the order they are listed to users.
from problems.kinds import output_shape
from problems.kinds import param_count
from problems.kinds import pooling_cost
from problems.kinds import pool_vs_strided_conv
from problems.kinds import pooling_grid
from problems.kinds import global_pooling
from problems.kinds import maxpool_gradient
from problems.kinds import receptive_field
from problems.kinds import shift_invariance
from problems.kinds.base import GradeResult, Problem, SelfTest, Step, grade_parts, self_test_answers
from problems.kinds.draws import generator

_MODULES: tuple[ModuleType, ...] = (
    output_shape,
    param_count,
    pooling_cost,
    pool_vs_strided_conv,
    pooling_grid,
    global_pooling,
    maxpool_gradient,
    receptive_field,
    shift_invariance,
)

KINDS: dict[str, ModuleType] = {m.NAME: m for m in _MODULES}
DIFFICULTIES = (1, 2, 3)
MAX_SEED = 2**63 - 1


def get(kind: str) -> ModuleType:
    """The module of a kind, refusing an unknown name with the list of known ones."""
    try:
        return KINDS[kind]
    except KeyError:
        raise SpecError("kind", f"unknown problem kind {kind!r} (known: {', '.join(KINDS)})") from None


def _hook(module: ModuleType, name: str) -> Any:
    """A kind's optional function, or None. Looked up in the module's namespace: a kind
    without it then costs no AttributeError, which is dearer than the lookup itself."""
    return vars(module).get(name)


def generate(kind: str, difficulty: int, seed: int) -> Problem:
    """The problem `(kind, difficulty, seed)`."""
    module = get(kind)
    if type(difficulty) is not int or difficulty not in DIFFICULTIES:
        raise SpecError("difficulty", f"expected 1, 2 or 3, got {difficulty!r}")
    if type(seed) is not int or not 0 <= seed <= MAX_SEED:
        raise SpecError("seed", f"expected an integer from 0 to 2**63-1, got {seed!r}")
    draft = module.generate(generator(seed), difficulty)
    return Problem(kind, difficulty, seed, draft.title, draft.statement, draft.parts, draft.answers,
                   draft.params)


def grade(problem: Problem, answers: Mapping[str, str], *, follow_through: bool = True) -> GradeResult:
    """Per-part scores, feedback and misconceptions for a student's typed answers."""
    module = get(problem.kind)
    return grade_parts(
        problem, answers,
        wrong_models=_hook(module, "wrong_models"),
        follow_through=_hook(module, "follow_through"),
        allow_follow_through=follow_through,
        chained=getattr(module, "CHAINED", False),
    )


def worked_solution(problem: Problem) -> list[Step]:
    """The step-by-step solution, for after the attempts end."""
    return list(get(problem.kind).worked(problem))


def self_test(problem: Problem) -> SelfTest:
    """Correct, wrong and unparseable answers the kind makes for its own problem."""
    module = get(problem.kind)
    custom = _hook(module, "self_test")
    return custom(problem) if custom else self_test_answers(problem)


def cell_windows(problem: Problem, part_id: str) -> list[list[list[list[int]]]] | None:
    """For a grid part: the input cells `[row, col]` each answer cell pools over (to
    highlight a wrong cell's window), or None where that does not apply."""
    func = _hook(get(problem.kind), "cell_windows")
    return func(problem, part_id) if func else None


def catalogue() -> list[dict[str, Any]]:
    """Name, title and summary of every kind."""
    return [{"name": m.NAME, "title": m.TITLE, "summary": m.SUMMARY} for m in _MODULES]
