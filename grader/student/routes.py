"""Student routes: thin; the rules live in `grader.services.attempts`."""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from grader.auth.access import login_required_role
from grader.services import attempts
from grader.services.attempts import AttemptRefused, DraftRejected
from grader.student import bp, rendering
from problems import kinds
from problems.kinds.base import GradeResult, format_number


def _user() -> Any:
    return current_user._get_current_object()


def score_text(value: float | None) -> str:
    """A score for people: at most two decimals, no trailing zeros."""
    return format_number(round(float(value or 0.0), 2))


def kind_title(kind: str) -> str:
    """The title of a problem kind (the kind's name if it is no longer known)."""
    module = kinds.KINDS.get(kind)
    return module.TITLE if module else kind


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"score_text": score_text, "kind_title": kind_title, "format_time": attempts.format_time,
            "graded_points": attempts.graded_points}


@bp.after_request
def _no_store(response: Any) -> Any:
    # Attempt pages hold a student's work and grades: never kept by a browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


# ---------------------------------------------------------------- pages


@bp.get("/")
def my_sets() -> Any:
    """Every published set of the student's courses, with status, score and due date."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.is_instructor:
        return redirect("/teach/")
    return render_template("student/sets.html", summaries=attempts.set_summaries(_user()))


@bp.get("/sets/<set_id>")
@login_required_role("student")
def problem_set(set_id: str) -> Any:
    """A set's items with the student's status and score on each."""
    user = _user()
    found = attempts.student_set(user, set_id)
    return render_template("student/set.html", summary=attempts.set_view(user, found))


def _item_page(
    user: Any,
    item: Any,
    *,
    answers: dict[str, str] | None = None,
    result: dict[str, Any] | None = None,
    status: int = 200,
    review: Any = None,
    notice: str | None = None,
    invalid_cells: dict[str, Any] | None = None,
) -> Any:
    """The item page: the problem with the student's answers, the feedback of the latest
    attempt (or of `review`), attempts, and the worked solution when the policy allows.

    `answers`/`result` override what is shown after a refused or unreadable submit; marks
    of the shown attempt appear only on boxes that still hold the answer it graded."""
    view = attempts.student_view(user, item)
    problem = view.pop("_problem")
    state = view["progress"]
    shown = review or state.latest
    if shown is not None and attempts.seeds_differ(user, item, shown):
        shown_result = None  # made on an older version of the item: its marks don't fit
    else:
        shown_result = attempts.current_result(shown) if shown is not None else None
    if answers is None:
        if review is not None:
            answers = dict(review.answers)
        else:
            answers = view["draft"] or (dict(shown.answers) if shown is not None else {})
    graded = result is None and shown_result is not None
    if result is None:
        result = shown_result
    windows = rendering.grading_windows(problem, result) if graded else {}
    # A field drawing shows the region the unit sees only after grading, and only when the
    # worked solution may be shown.
    regions = (
        rendering.solution_regions(view["solution"])
        if view["solution_visible"] and shown_result is not None
        else []
    )
    readonly = review is not None or not view["can_submit"]
    not_open = view["closed"] is not None and view["closed"].reason == "not_open"
    ctx = (
        None
        if not_open
        else rendering.problem_context(
            view["problem"],
            answers,
            result,
            windows=windows,
            regions=regions,
            readonly=readonly,
            points_scale=rendering.item_points_scale(item.points, view["problem"]),
            graded_answers=dict(shown.answers) if graded and shown is not None else None,
            graded_attempt=shown.attempt if graded and shown is not None else None,
            invalid_cells=invalid_cells,
        )
    )
    items = item.problem_set.items
    position = items.index(item)
    body = render_template(
        "student/item.html",
        item=item,
        problem_set=item.problem_set,
        course=item.problem_set.course,
        view=view,
        ctx=ctx,
        steps=rendering.solution_context(view["solution"]),
        review=review,
        shown=shown,
        shown_result=shown_result if shown is not None else None,
        position=position,
        count=len(items),
        previous_item=items[position - 1] if position > 0 else None,
        next_item=items[position + 1] if position + 1 < len(items) else None,
        notice=notice,
        draft_saved_at=view["draft_saved_at"],
        # a closed item showing answers typed and never submitted says so
        unsent=(attempts.unsubmitted(view["draft"], view["draft_saved_at"], state.latest,
                                     item.problem_set)
                if readonly and review is None and answers == view["draft"] else None),
    )
    return body, status


@bp.get("/sets/<set_id>/items/<item_id>")
@login_required_role("student")
def item_page(set_id: str, item_id: str) -> Any:
    """The problem to answer, with the latest feedback."""
    user = _user()
    return _item_page(user, attempts.student_item(user, set_id, item_id))


# ---------------------------------------------------------------- a set or item gone meanwhile

UNPUBLISHED = "This set is no longer open: your instructor unpublished it."
REMOVED = "This item is no longer in the set: your instructor removed it."
NOT_OPEN = ("This set is not open: your instructor has not published it, or has unpublished "
            "it. It appears under My sets when it is open again.")


def _gone_message(status: int) -> str:
    return UNPUBLISHED if status == 409 else REMOVED


@bp.errorhandler(attempts.SetNotOpen)
def _not_open_page(closed: attempts.SetNotOpen) -> Any:
    """A page of a set of the student's course that is not open (never published, or
    unpublished): 409, saying so without the set's title (a draft may not want it shown)."""
    return render_template("student/not_open.html", message=NOT_OPEN), 409


def _not_recorded_page(user: Any, closed: attempts.SetNotOpen) -> Any:
    """A submission that could not be recorded because the set or item is gone: says so, and
    shows back the answers typed (from the form) so that the student can keep a copy."""
    item, problem_set, status = closed.item, closed.problem_set, closed.status
    parts = attempts.problem_for(user, item).parts if item is not None else None
    return render_template(
        "student/not_recorded.html",
        message=_gone_message(status),
        problem_set=problem_set,
        item=item,
        answers=rendering.typed_answers(request.form, parts),
    ), status


def _format_errors_only(invalid: GradeResult) -> dict[str, Any]:
    """An unreadable submission's result with only its format errors: the other parts were
    graded too, but showing whether they are right would be a free attempt."""
    parts = [p.to_json() for p in invalid.parts if p.format_error is not None]
    return {"valid": False, "parts": parts, "misconceptions": []}


@bp.post("/sets/<set_id>/items/<item_id>")
@login_required_role("student")
def submit(set_id: str, item_id: str) -> Any:
    """Grade and record an attempt, then back to the item page (post/redirect/get)."""
    user = _user()
    try:
        item = attempts.student_item(user, set_id, item_id, removed_is_gone=True)
    except attempts.SetNotOpen as closed:
        return _not_recorded_page(user, closed)
    problem = attempts.problem_for(user, item)
    texts = rendering.form_answers(request.form, problem.parts)
    here = url_for("student.item_page", set_id=set_id, item_id=item_id)
    try:
        attempt = int(request.form.get("attempt", "").strip())
    except ValueError:
        flash("The form had no attempt number: reload the page and submit again.", "error")
        return _item_page(user, item, answers=texts, status=400)
    cell_errors = rendering.grid_cell_errors(request.form, problem.parts)
    # A grid with empty or unreadable cells is sent to grading as no answer, so it is surely
    # refused as unreadable; its message names the cells (from 0, as the problem counts).
    graded_texts = {pid: ("" if pid in cell_errors else text) for pid, text in texts.items()}
    try:
        outcome = attempts.submit(user, item, graded_texts, attempt)
    except AttemptRefused as refusal:
        if refusal.reason == "not_published":  # unpublished while this was being graded
            return _not_recorded_page(user, attempts.SetNotOpen(409, item.problem_set, item))
        if refusal.reason == "past_due":  # not graded, but kept where the instructor sees it
            attempts.keep_late_answers(user, item, texts)
        flash(refusal.message, "error")
        return _item_page(user, item, answers=texts, status=409)
    if outcome.invalid is not None:
        try:  # keep what was typed, so a reload does not lose it
            attempts.save_draft(user, item, texts)
        except (AttemptRefused, DraftRejected):
            pass
        flash(outcome.message, "warning")
        shown = _format_errors_only(outcome.invalid)
        for part in shown["parts"]:
            if part["id"] in cell_errors:
                part["format_error"] = cell_errors[part["id"]][0]
        return _item_page(
            user,
            item,
            answers=texts,
            result=shown,
            status=422,
            invalid_cells={pid: cells for pid, (_, cells) in cell_errors.items()},
        )
    assert outcome.submission is not None and outcome.result is not None
    if outcome.replayed and not _same_answers(problem, texts, outcome.submission.answers):
        return _stale_page(user, item, texts, outcome.submission.attempt)
    if outcome.replayed:
        flash(outcome.message, "warning")
        latest = attempts.progress(user, [item])[item.id].latest
        if latest is not None and latest.id != outcome.submission.id:
            # a stale tab: show that first submission itself, not the newest one
            return redirect(
                url_for(
                    "student.submission",
                    set_id=set_id,
                    item_id=item_id,
                    submission_id=outcome.submission.public_id,
                ),
                code=303,
            )
    else:
        flash(
            f"Attempt {outcome.submission.attempt} recorded: "
            f"{score_text(outcome.submission.grade.score)} of {score_text(item.points)} points.",
            "success",
        )
    return redirect(here, code=303)


def _same_answers(problem: Any, texts: dict[str, str], recorded: dict[str, Any]) -> bool:
    """Whether submitted texts are the recorded attempt's answers (a double click or a retry)
    rather than other answers from a page that was out of date."""
    public = {p["id"]: p for p in attempts.public_problem(problem).get("parts", [])}
    return all(
        rendering.same_answer(public.get(pid, {}), text, str(recorded.get(pid, "") or ""))
        for pid, text in texts.items()
    )


def _stale_page(user: Any, item: Any, texts: dict[str, str], recorded: int) -> Any:
    """Answers sent for an attempt another tab already used: not graded, kept as the draft
    (while attempts remain) and shown in the boxes, with what to do."""
    state = attempts.progress(user, [item])[item.id]
    message = (
        f"This page was out of date: attempt {recorded} had already been submitted from "
        "another tab or window; your answers below were not graded."
    )
    try:
        attempts.save_draft(user, item, texts)
    except (AttemptRefused, DraftRejected) as refusal:
        flash(f"{message} {refusal.message}", "error")
    else:
        flash(f"{message} Submit them again as attempt {state.attempts_used + 1}.", "error")
    return _item_page(user, item, answers=texts, status=409)


@bp.get("/sets/<set_id>/items/<item_id>/submissions/<submission_id>")
@login_required_role("student")
def submission(set_id: str, item_id: str, submission_id: str) -> Any:
    """A past attempt: the answers as submitted, read-only, with their feedback."""
    user = _user()
    item = attempts.student_item(user, set_id, item_id)
    found = attempts.submission_for(user, item, submission_id)
    return _item_page(user, item, review=found)


@bp.post("/sets/<set_id>/items/<item_id>/draft")
@login_required_role("student")
def save_draft(set_id: str, item_id: str) -> Any:
    """Autosave: `{"answers": {part_id: text}}` → `{"saved_at": ...}` (JSON, CSRF header).
    Refused with `{"error": {"message": ...}}`, which the page's autosave line shows."""
    user = _user()
    try:
        item = attempts.student_item(user, set_id, item_id, removed_is_gone=True)
    except attempts.SetNotOpen as closed:
        return _json_error("", _gone_message(closed.status), closed.status)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or "answers" not in payload:
        return _json_error("answers", 'Expected a JSON object {"answers": {part id: text}}.', 400)
    try:
        saved_at = attempts.save_draft(user, item, payload["answers"])
    except DraftRejected as err:
        return _json_error("answers", err.message, 400)
    except AttemptRefused as err:
        return _json_error("", UNPUBLISHED if err.reason == "not_published" else err.message, 409)
    return jsonify({"saved_at": saved_at.isoformat()})


def _json_error(path: str, message: str, status: int) -> Any:
    return jsonify({"error": {"path": path, "message": message, "status": status}}), status
