"""What a regrade counts as a change: the points, the fraction, or a part's credit; the same
points out of another total, or by other parts, are a new grade too."""

from __future__ import annotations

import pytest
from conftest import login

from grader import db
from grader.models import Item, ProblemSet, Submission, User
from grader.services import attempts, problem_sets, regrade
from grader.variants import variant_seed
from problems import kinds
from problems.kinds import output_shape
from problems.kinds.base import format_answer


def _follow_through_answers(user: User, item: Item) -> dict[str, str]:
    """Layer 0 wrong, layer 1 right given the wrong layer 0 (follow-through), layer 2 right."""
    problem = kinds.generate(item.kind, item.difficulty,
                             variant_seed(item.problem_set.secret, user.public_id, item.public_id))
    texts = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
    first = list(problem.answers["shape_0"])
    for bump in range(1, 6):
        wrong = [first[0], first[1] + bump, first[2] + bump]
        expected = output_shape.follow_through(problem, "shape_1", {"shape_0": wrong})
        if expected is not None and expected != problem.answers["shape_1"]:
            texts["shape_0"] = format_answer(problem.parts[0], wrong)
            texts["shape_1"] = format_answer(problem.parts[1], expected)
            return texts
    raise AssertionError("no follow-through case for this variant")  # pragma: no cover


def test_the_same_points_out_of_another_total_are_a_change(app, client, instructor, course,
                                                            student):
    """With n layers, (n-1)/n of 12 points with follow-through credit; then follow-through
    off and the item worth 12(n-1)/(n-2): (n-2)/n of it is the same points (8 of 12, then
    8 of 24, for 3 layers). Same points, another grade: the student's parts and the
    gradebook's percentage change, so the regrade records it."""
    with app.app_context():
        ps = problem_sets.publish(problem_sets.create_set(
            course, "Regrade", [{"kind": "output_shape", "difficulty": 2, "points": 12}],
            follow_through=True))
        item = db.session().get(ProblemSet, ps.id).items[0]
        user = db.session().get(User, student.id)
        answers = _follow_through_answers(user, item)
        n = len(answers)
        assert n >= 3
        outcome = attempts.submit(user, item, answers, 1)
        assert outcome.submission.grade.score == pytest.approx(12 * (n - 1) / n)
        ps = db.session().get(ProblemSet, ps.id)
        problem_sets.update_set(ps, follow_through=False)
        problem_sets.update_item(db.session().get(Item, item.id), points=12 * (n - 1) // (n - 2))
        report = regrade.dry_run(db.session().get(ProblemSet, ps.id))
        assert len(report.changed) == 1
        change = report.changed[0]
        assert change.old_score == pytest.approx(change.new_score)
        assert (change.old_fraction, change.new_fraction) == (
            pytest.approx((n - 1) / n), pytest.approx((n - 2) / n))
    login(client, instructor.email)
    page = client.get(f"/teach/sets/{ps.public_id}/regrade").get_data(as_text=True)
    old, new = round(100 * (n - 1) / n), round(100 * (n - 2) / n)
    assert "would get a new grade" in page and f"same points, {old}% &rarr; {new}%" in page
    assert change.old_points == pytest.approx(12) and "/ 12</span>" in page
    with app.app_context():
        regrade.apply(db.session().get(ProblemSet, ps.id), expected_digest=report.digest)
        db.session().expire_all()
        grade = db.session().get(Submission, outcome.submission.id).grade
        assert grade.reason == "regrade" and grade.fraction == pytest.approx((n - 2) / n)
        assert not any(p["follow_through"] for p in grade.result["parts"])
        assert regrade.dry_run(db.session().get(ProblemSet, ps.id)).changes == ()
