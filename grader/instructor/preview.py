"""What the preview and the submission pages draw: a variant with its answers and worked
solution, or a student's recorded attempt with its feedback, through the student renderer
(`_problem.html`), so the instructor sees exactly what the student sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.models import Grade, Item, ProblemSet, Submission, User
from grader.services.gradebook import submissions_of
from grader.student.rendering import (
    grading_windows,
    item_points_scale,
    problem_context,
    solution_context,
    solution_regions,
)
from grader.variants import variant_seed
from problems import kinds
from problems.errors import SpecError
from problems.kinds.base import Problem, format_answer


@dataclass
class ItemPreview:
    """One item's variant for a student (or a chosen seed), ready to draw."""

    item: Item
    seed: int
    problem: Problem | None = None
    ctx: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[str, str]] = field(default_factory=list)  # (prompt, answer text)
    error: str = ""


def preview_item(
    problem_set: ProblemSet,
    item: Item,
    *,
    student: User | None = None,
    seed: int | None = None,
    show_answers: bool = True,
) -> ItemPreview:
    """The variant `student` gets for `item` (or the variant of `seed`), with the answers
    filled in and the worked solution when `show_answers`."""
    if seed is None:
        if student is None:
            raise ValueError("a student or a seed is needed")
        seed = variant_seed(problem_set.secret, student.public_id, item.public_id)
    view = ItemPreview(item, seed)
    try:
        problem = kinds.generate(item.kind, item.difficulty, seed)
    except SpecError as err:
        view.error = f"This item cannot be generated: {err.message}"
        return view
    view.problem = problem
    public = problem.public()
    typed = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
    view.answers = [(p.prompt, typed[p.id]) for p in problem.parts]
    if show_answers:
        steps = [s.to_json() for s in kinds.worked_solution(problem)]
        view.ctx = problem_context(
            public,
            typed,
            readonly=True,
            regions=solution_regions(steps),
            points_scale=item_points_scale(item.points, public),
        )
        view.steps = solution_context(steps)
    else:
        view.ctx = problem_context(
            public, {}, readonly=True, points_scale=item_points_scale(item.points, public)
        )
    return view


@dataclass
class AttemptView:
    """A recorded attempt: the submission, its grades (oldest first) and, for the attempt
    drawn in full, the render context with the student's answers and feedback."""

    submission: Submission
    grades: tuple[Grade, ...]
    ctx: dict[str, Any] | None = None
    error: str = ""

    @property
    def current(self) -> Grade:
        return self.grades[-1]


def submission_views(problem_set: ProblemSet, item: Item, student: User) -> list[AttemptView]:
    """The student's attempts at the item, each drawn as they saw its current grade."""
    views = []
    for entry in submissions_of(student, item):
        sub = entry.submission
        view = AttemptView(sub, entry.grades)
        try:
            problem = kinds.generate(sub.kind, sub.difficulty, int(sub.seed))
        except SpecError as err:
            view.error = f"The variant cannot be rebuilt: {err.message}"
        else:
            result = dict(view.current.result or {})
            answers = {k: str(v) for k, v in (sub.answers or {}).items() if v is not None}
            public = problem.public()
            # The item's points now, as on the student's own page.
            view.ctx = problem_context(
                public,
                answers,
                result,
                windows=grading_windows(problem, result),
                readonly=True,
                points_scale=item_points_scale(item.points, public),
            )
        views.append(view)
    return views


def student_seed(problem_set: ProblemSet, item: Item, student: User) -> int:
    """The seed of the student's current variant of the item."""
    return variant_seed(problem_set.secret, student.public_id, item.public_id)
