"""The instructor's views: parse the request, call a service, then render, or redirect after
a change (POST-redirect-GET)."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from grader.auth.access import record_audit
from grader.instructor import bp
from grader.instructor import forms as f
from grader.instructor.access import course_student, own_course, own_item, own_set
from grader.instructor.preview import preview_item, student_seed, submission_views
from grader.models import Course, ProblemSet
from grader.services import attempts, courses, gradebook, problem_sets, regrade, stats
from problems import exports, kinds
from problems.errors import SpecError

ROSTER_REPORT_KEY = "roster_report"
# A question-bank download from the set page holds at most this many variants per item.
EXPORT_MAX_VARIANTS = 200
EXPORT_FORMATS = (("moodle", "Moodle XML"), ("qti", "QTI 1.2 (Canvas, a zip)"), ("gift", "GIFT"))
# The report rides in the (signed, size-limited) session cookie until the next page view.
MAX_REPORTED_ERRORS = 25
MAX_REPORTED_MESSAGE = 160


@bp.after_request
def _no_store(response: WerkzeugResponse) -> WerkzeugResponse:
    """Grades and rosters are personal data: never cached by the browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "when": when,
        "late_by": attempts.late_by,
        "num": gradebook.format_number,
        "catalogue": kinds.catalogue(),
        "kind_titles": {k["name"]: k["title"] for k in kinds.catalogue()},
    }


def when(moment: datetime | None) -> str:
    """A stored time for people: UTC, to the minute."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "grades"


def _csv_response(text: str, name: str) -> Response:
    # A byte-order mark: Excel on Windows reads the file as UTF-8 only with one.
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(name)}.csv"',
        },
    )


# ---------------------------------------------------------------- courses


@bp.get("/")
def courses_list() -> Any:
    return _courses_page(f.CourseForm())


def _courses_page(form: f.CourseForm, status: int = 200) -> Any:
    mine = [
        c
        for c in courses.courses_for(current_user)
        if courses.role_in(current_user, c) == "instructor"
    ]
    counts = {c.id: len(courses.members(c, "student")) for c in mine}
    sets = {c.id: problem_sets.sets_for_course(c) for c in mine}
    return render_template(
        "instructor/courses.html", courses=mine, counts=counts, sets=sets, form=form
    ), status


@bp.post("/courses")
def create_course() -> Any:
    form = f.CourseForm.from_post(request.form)
    if not form.validate():
        return _courses_page(form, 422)
    try:
        course = courses.create_course(form.code, form.title, current_user)
    except SpecError as err:
        form.errors[err.path if err.path in ("code", "title") else "code"] = _sentence(err)
        return _courses_page(form, 422)
    record_audit("course_created", f"{course.public_id} {course.code}")
    flash(f"Course {course.code} created. Add students, then build a problem set.", "success")
    return redirect(url_for("instructor.course", course_id=course.public_id))


@bp.get("/courses/<course_id>")
def course(course_id: str) -> Any:
    return _course_page(own_course(course_id), f.StudentForm())


def _course_page(
    course: Course, student_form: f.StudentForm, roster_error: str = "", status: int = 200
) -> Any:
    report = session.pop(ROSTER_REPORT_KEY, None)
    if report and report.get("course") != course.public_id:
        report = None
    return render_template(
        "instructor/course.html",
        course=course,
        students=courses.members(course, "student"),
        sets=problem_sets.sets_for_course(course),
        student_form=student_form,
        roster_error=roster_error,
        report=report,
    ), status


@bp.post("/courses/<course_id>/students")
def add_student(course_id: str) -> Any:
    course = own_course(course_id)
    form = f.StudentForm.from_post(request.form)
    password = request.form.get("password", "")
    # Every problem at once, in the form's order (not one per submit).
    problems = courses.student_problems(course, form.email, form.name, password)
    if not form.email:
        problems["email"] = "Enter the student's email address."
    form.errors.update(
        (key, _sentence_text(problems[key])) for key in f.StudentForm.FIELDS if key in problems
    )
    if form.errors:
        return _course_page(course, form, status=422)
    # A roster of one line: the same checks and the same single transaction as an upload.
    report = courses.import_roster(course, _one_line_roster(form.email, form.name, password))
    if report.errors:
        _line, message = report.errors[0]
        key = (
            "password"
            if message.startswith("password")
            else ("name" if message.startswith("name") else "email")
        )
        form.errors[key] = _sentence_text(message)
        return _course_page(course, form, status=422)
    if report.added:
        flash(f"{report.added[0]} added to the course (new account).", "success")
    else:
        email = report.existing[0] if report.existing else form.email
        if report.already_enrolled:
            message = f"{email} is already enrolled in this course; nothing changed."
        else:
            message = f"{email} already had an account and is now enrolled."
        if password:
            message += (" The initial password you gave was not applied: an existing account"
                        " keeps its own (use Set password in the roster to replace it).")
        flash(message, "success")
    return redirect(url_for("instructor.course", course_id=course.public_id) + "#roster")


def _one_line_roster(email: str, name: str, password: str) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if password:
        writer.writerows([["email", "name", "password"], [email, name, password]])
    else:
        writer.writerows([["email", "name"], [email, name]])
    return out.getvalue()


@bp.post("/courses/<course_id>/roster")
def upload_roster(course_id: str) -> Any:
    course = own_course(course_id)
    upload = request.files.get("roster")
    if upload is None or not upload.filename:
        return _course_page(
            course, f.StudentForm(), roster_error="Choose a CSV file to upload.", status=422
        )
    try:
        # UTF-8 (BOM or not) or UTF-16 with a BOM, as `flask import-roster` reads it.
        text = courses.decode_roster(upload.read(), upload.filename[:80])
    except SpecError as err:
        return _course_page(
            course, f.StudentForm(), roster_error=f"{err.path}: {err.message}.", status=422
        )
    report = courses.import_roster(course, text)
    record_audit(
        "roster_import",
        f"{course.public_id}: {len(report.added)} added, "
        f"{len(report.existing)} existing, {len(report.errors)} errors",
    )
    session[ROSTER_REPORT_KEY] = {
        "course": course.public_id,
        "filename": upload.filename[:80],
        "added": len(report.added),
        "existing": len(report.existing) - len(report.already_enrolled),
        "already_enrolled": len(report.already_enrolled),
        "added_emails": report.added[:10],
        "errors": [
            [line, message[:MAX_REPORTED_MESSAGE]]
            for line, message in report.errors[:MAX_REPORTED_ERRORS]
        ],
        "more_errors": max(0, len(report.errors) - MAX_REPORTED_ERRORS),
    }
    return redirect(url_for("instructor.course", course_id=course.public_id) + "#roster-report")


@bp.route("/courses/<course_id>/students/<user_id>/password", methods=["GET", "POST"])
def student_password(course_id: str, user_id: str) -> Any:
    """Set a new password for a student of one's course: typed by the instructor, or
    generated and shown once. The student's sessions are signed out."""
    course = own_course(course_id)
    student = course_student(course, user_id)
    page = "instructor/student_password.html"
    if request.method == "GET":
        return render_template(page, course=course, student=student, error="", generated="")
    typed = request.form.get("password", "")
    password = typed if typed else courses.generate_password()
    try:
        courses.set_password(student, password)
    except SpecError as err:
        error = f"The password {err.message}."
        return render_template(page, course=course, student=student, error=error, generated=""), 422
    record_audit("password_reset", f"{student.public_id} in {course.public_id}")
    if typed:
        flash(f"{student.email} has a new password: the one you typed. After signing in with "
              "it, they choose their own.", "success")
        return redirect(url_for("instructor.course", course_id=course.public_id) + "#roster")
    # Shown in this response only (never stored, never put in the session cookie).
    return render_template(page, course=course, student=student, error="", generated=password)


# ---------------------------------------------------------------- the problem-set builder


@bp.route("/courses/<course_id>/sets/new", methods=["GET", "POST"])
def new_set(course_id: str) -> Any:
    course = own_course(course_id)
    if request.method == "GET":
        return _builder(course, None, f.SetForm.blank())
    form = f.SetForm.from_post(request.form)
    if form.apply_action(request.form.get("action", "save")):
        return _builder(course, None, form)
    cleaned = form.validate()
    if cleaned is None:
        _title_too(form, course, None)
        return _builder(course, None, form, 422)
    items = [{k: v for k, v in item.items() if k != "public_id"} for item in cleaned.pop("items")]
    try:
        problem_set = problem_sets.create_set(course, items=items, **cleaned)
    except SpecError as err:
        form.errors[f.field_key(err.path)] = _sentence(err)
        return _builder(course, None, form, 422)
    record_audit("set_created", f"{problem_set.public_id} in {course.public_id}")
    flash(f"“{problem_set.title}” saved as a draft. Preview it, then publish it.", "success")
    _warn_if_past_due(problem_set)
    return redirect(url_for("instructor.edit_set", set_id=problem_set.public_id))


def _title_too(form: f.SetForm, course: Course, problem_set: ProblemSet | None) -> None:
    """With the form's own errors, a title another set of the course has (which saving
    would refuse next): every problem at once."""
    renamed = problem_set is None or form.title.casefold() != problem_set.title.strip().casefold()
    if "title" not in form.errors and form.title and renamed:
        problem = problem_sets.used_title(course.id, form.title,
                                          problem_set.id if problem_set else None)
        if problem is not None:
            form.errors["title"] = _sentence_text(problem)


@bp.route("/sets/<set_id>", methods=["GET", "POST"])
def edit_set(set_id: str) -> Any:
    problem_set = own_set(set_id)
    course = problem_set.course
    if request.method == "GET":
        return _builder(course, problem_set, f.SetForm.from_set(problem_set))
    form = f.SetForm.from_post(request.form)
    if form.apply_action(request.form.get("action", "save")):
        return _builder(course, problem_set, form)
    cleaned = form.validate()
    if cleaned is None:
        _title_too(form, course, problem_set)
        return _builder(course, problem_set, form, 422)
    rows = cleaned.pop("items")
    existing = sorted(problem_set.items, key=lambda i: i.position)
    same_items = [(r["public_id"], r["kind"], r["difficulty"]) for r in rows] == [
        (i.public_id, i.kind, i.difficulty) for i in existing
    ]
    points_changed = False
    follow_through_changed = cleaned["follow_through"] != problem_set.follow_through
    try:
        if same_items:
            # Only points (or nothing) changed: keep the items, and so every student's variant.
            problem_sets.update_set(problem_set, **cleaned)
            for item, row in zip(existing, rows, strict=True):
                if abs(float(item.points) - row["points"]) > 1e-9:
                    problem_sets.update_item(item, points=row["points"])
                    points_changed = True
        else:
            items = [{k: v for k, v in r.items() if k != "public_id"} for r in rows]
            problem_sets.update_set(problem_set, items=items, **cleaned)
    except SpecError as err:
        form.errors[f.field_key(err.path)] = _sentence(err)
        return _builder(course, problem_set, form, 422)
    flash("Problem set saved.", "success")
    _warn_if_past_due(problem_set)
    if (points_changed or follow_through_changed) and problem_sets.has_submissions(problem_set):
        what = " and the ".join(name for name, changed in (
            ("points", points_changed), ("follow-through setting", follow_through_changed))
            if changed)
        flash(
            f"The {what} changed after students submitted: their grades keep the old scoring "
            "until you regrade the set (Regrade tab).",
            "warning",
        )
    return redirect(url_for("instructor.edit_set", set_id=problem_set.public_id))


def _warn_if_past_due(problem_set: ProblemSet) -> None:
    """A warning when the set's due date has passed: students can no longer submit."""
    due = problem_sets.utc(problem_set.due_at)
    if due is not None and due <= datetime.now(UTC):
        flash(
            f"The due date ({when(due)}) is in the past: students can no longer submit "
            "answers to this set. Move the due date to reopen it.",
            "warning",
        )


@bp.get("/sets/<set_id>/export")
def export_set(set_id: str) -> Any:
    """The set's items as a question bank (Moodle XML, QTI 1.2 or GIFT) of N variants each,
    through `problems.exports`; a bad format or count is a field error on the set page."""
    problem_set = own_set(set_id)
    fmt = request.args.get("format", "")
    count = request.args.get("variants", "").strip()
    errors: dict[str, str] = {}
    if fmt not in exports.FORMATS:
        errors["export_format"] = "Format: choose Moodle XML, QTI 1.2 or GIFT."
    variants = int(count) if re.fullmatch(r"[0-9]{1,6}", count) else 0
    if not 1 <= variants <= EXPORT_MAX_VARIANTS:
        errors["export_variants"] = (
            f"Variants per item: a whole number from 1 to {EXPORT_MAX_VARIANTS}."
        )
    items = [
        {
            "kind": i.kind,
            "difficulty": i.difficulty,
            "points": float(i.points),
            "title": f"{problem_set.title}: Q{i.position + 1}",
        }
        for i in sorted(problem_set.items, key=lambda i: i.position)
    ]
    if not items:
        errors["export_format"] = "The set has no items to export."
    if errors:
        export = {"format": fmt, "variants": count, "errors": errors}
        return _builder(
            problem_set.course, problem_set, f.SetForm.from_set(problem_set), 422, export
        )
    # Stable per set, and not the set's secret itself (from which students' seeds derive).
    seed = int(hashlib.sha256(f"export:{problem_set.secret}".encode()).hexdigest()[:12], 16)
    category = f"{problem_set.course.code} {problem_set.title}".replace("/", "-")
    data = exports.export(fmt, items, variants, seed, category=category)
    record_audit("set_exported", f"{problem_set.public_id} {fmt} x{variants}")
    extension, content_type = exports.FORMATS[fmt]
    name = _filename(f"{problem_set.course.code}-{problem_set.title}-{fmt}-{variants}")
    return Response(
        data,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}{extension}"'},
    )


def _builder(
    course: Course,
    problem_set: ProblemSet | None,
    form: f.SetForm,
    status: int = 200,
    export: dict[str, Any] | None = None,
) -> Any:
    locked = problem_set is not None and problem_sets.has_submissions(problem_set)
    # Only points the server would accept add up (a refused 1e308 is no total).
    points = [f.to_float(r.points) for r in form.items]
    valid = [p for p in points if f.valid_points(p)]
    return render_template(
        "instructor/set_builder.html",
        course=course,
        problem_set=problem_set,
        form=form,
        locked=locked,
        solutions=f.SOLUTIONS,
        difficulties=f.DIFFICULTIES,
        total=sum(valid),
        total_skipped=len(points) - len(valid),
        max_points=f.MAX_POINTS,
        export=export or {"format": "moodle", "variants": "20", "errors": {}},
        export_formats=EXPORT_FORMATS,
        export_max=EXPORT_MAX_VARIANTS,
    ), status


@bp.post("/sets/<set_id>/publish")
def publish_set(set_id: str) -> Any:
    problem_set = own_set(set_id)
    try:
        problem_sets.publish(problem_set)
    except SpecError as err:
        flash(f"Not published: {_sentence_text(err.message)}", "error")
    else:
        record_audit("set_published", problem_set.public_id)
        flash(f"“{problem_set.title}” is published: its students can see it.", "success")
        _warn_if_past_due(problem_set)
    return redirect(url_for("instructor.edit_set", set_id=problem_set.public_id))


@bp.post("/sets/<set_id>/unpublish")
def unpublish_set(set_id: str) -> Any:
    problem_set = own_set(set_id)
    problem_sets.unpublish(problem_set)
    record_audit("set_unpublished", problem_set.public_id)
    kept = _kept("its", problem_sets.submission_count(problem_set))
    flash(f"“{problem_set.title}” is hidden from students again{kept}.", "success")
    return redirect(url_for("instructor.edit_set", set_id=problem_set.public_id))


@bp.route("/sets/<set_id>/delete", methods=["GET", "POST"])
def delete_set(set_id: str) -> Any:
    """Delete a set nobody has submitted to, after a confirmation page; a set with
    submissions is explained on that page and kept."""
    problem_set = own_set(set_id)
    submitted = problem_sets.submission_count(problem_set)
    if request.method == "POST" and request.form.get("confirm") == "yes" and not submitted:
        course_id, title = problem_set.course.public_id, problem_set.title
        try:
            problem_sets.delete_set(problem_set)
        except SpecError as err:
            flash(f"Not deleted: {_sentence(err)}", "error")
            return redirect(url_for("instructor.delete_set", set_id=set_id))
        record_audit("set_deleted", f"{set_id} in {course_id}")
        flash(f"“{title}” deleted.", "success")
        return redirect(url_for("instructor.course", course_id=course_id))
    return render_template(
        "instructor/confirm_delete.html",
        course=problem_set.course,
        problem_set=problem_set,
        student=None,
        submitted=submitted,
    ), (409 if request.method == "POST" and submitted else 200)


def _kept(whose: str, submitted: int) -> str:
    """`; their 2 submissions are kept` for a message, or nothing when there are none."""
    if not submitted:
        return ""
    return f"; {whose} {submitted} submission{'s are' if submitted != 1 else ' is'} kept"


@bp.route("/courses/<course_id>/students/<user_id>/remove", methods=["GET", "POST"])
def remove_student(course_id: str, user_id: str) -> Any:
    """Unenroll a student after a confirmation page: their submissions stay recorded (the
    message says so only when there are some, as the confirmation page does)."""
    course = own_course(course_id)
    student = course_student(course, user_id)
    if request.method == "POST" and request.form.get("confirm") == "yes":
        courses.unenroll(course, student)
        record_audit("student_removed", f"{student.public_id} from {course.public_id}")
        kept = _kept("their", gradebook.submissions_in_course(course, student))
        flash(f"{student.email} removed from {course.code}{kept}.", "success")
        return redirect(url_for("instructor.course", course_id=course.public_id) + "#roster")
    return render_template(
        "instructor/confirm_delete.html",
        course=course,
        problem_set=None,
        student=student,
        submitted=gradebook.submissions_in_course(course, student),
    )


# ---------------------------------------------------------------- preview


@bp.get("/sets/<set_id>/preview")
def preview(set_id: str) -> Any:
    """One item's variant at a time: a roster student's (the default: the first student) or
    a chosen seed's; `random=1` picks a seed and redirects so the URL can be shared."""
    problem_set = own_set(set_id)
    course = problem_set.course
    roster = courses.members(course, "student")
    items = sorted(problem_set.items, key=lambda i: i.position)
    args = request.args
    if args.get("random"):
        query = {k: v for k, v in args.items() if k in ("item", "answers")}
        query["seed"] = str(secrets.randbelow(kinds.MAX_SEED + 1))
        return redirect(url_for("instructor.preview", set_id=set_id, **query))
    item = (
        own_item(problem_set, args["item"]) if args.get("item") else (items[0] if items else None)
    )
    show_answers = args.get("answers", "1") != "0"
    student = None
    seed: int | None = None
    seed_error = ""
    seed_text = args.get("seed", "").strip()
    if seed_text:
        if seed_text.isdigit() and int(seed_text) <= kinds.MAX_SEED:
            seed = int(seed_text)
        else:
            seed_error = f"Seed: a whole number from 0 to {kinds.MAX_SEED}."
    elif args.get("student"):
        student = course_student(course, args["student"])
    elif roster:
        student = roster[0]
    view = None
    if item is not None and (student is not None or seed is not None):
        view = preview_item(
            problem_set, item, student=student, seed=seed, show_answers=show_answers
        )
    return render_template(
        "instructor/preview.html",
        course=course,
        problem_set=problem_set,
        roster=roster,
        items=items,
        item=item,
        student=student,
        seed=seed,
        seed_text=seed_text,
        seed_error=seed_error,
        view=view,
        show_answers=show_answers,
    ), (422 if seed_error else 200)


# ---------------------------------------------------------------- gradebook


@bp.get("/sets/<set_id>/gradebook")
def set_gradebook(set_id: str) -> Any:
    problem_set = own_set(set_id)
    book = gradebook.gradebook(problem_set)
    return render_template(
        "instructor/gradebook.html", course=problem_set.course, problem_set=problem_set, book=book
    )


@bp.get("/sets/<set_id>/gradebook.csv")
def set_gradebook_csv(set_id: str) -> Response:
    problem_set = own_set(set_id)
    record_audit("grades_exported", problem_set.public_id)
    return _csv_response(
        gradebook.to_csv(gradebook.gradebook(problem_set)),
        f"{problem_set.course.code}-{problem_set.title}-grades",
    )


@bp.get("/courses/<course_id>/gradebook")
def course_gradebook(course_id: str) -> Any:
    course = own_course(course_id)
    book = gradebook.gradebook(course)
    return render_template("instructor/gradebook.html", course=course, problem_set=None, book=book)


@bp.get("/courses/<course_id>/gradebook.csv")
def course_gradebook_csv(course_id: str) -> Response:
    course = own_course(course_id)
    record_audit("grades_exported", course.public_id)
    return _csv_response(gradebook.to_csv(gradebook.gradebook(course)), f"{course.code}-grades")


@bp.get("/sets/<set_id>/items/<item_id>/students/<user_id>")
def student_item(set_id: str, item_id: str, user_id: str) -> Any:
    """A student's attempts at an item: every grade of every attempt, and one attempt (the
    best by default) drawn with the student's answers and feedback."""
    problem_set = own_set(set_id)
    item = own_item(problem_set, item_id)
    student = course_student(problem_set.course, user_id)
    views = submission_views(problem_set, item, student)
    shown = None
    if views:
        wanted = request.args.get("attempt", "")
        shown = next((v for v in views if str(v.submission.attempt) == wanted), None)
        if shown is None:
            shown = max(views, key=lambda v: (v.current.score, -v.submission.attempt))
    unsubmitted = attempts.unsubmitted_answers(student, item)
    prompts = ({p.id: p.prompt for p in attempts.problem_for(student, item).parts}
               if unsubmitted else {})
    return render_template(
        "instructor/student_item.html",
        course=problem_set.course,
        problem_set=problem_set,
        item=item,
        student=student,
        views=views,
        shown=shown,
        current_seed=student_seed(problem_set, item, student),
        unsubmitted=unsubmitted,
        prompts=prompts,
    )


# ---------------------------------------------------------------- statistics and regrade


@bp.get("/sets/<set_id>/stats")
def set_stats(set_id: str) -> Any:
    problem_set = own_set(set_id)
    result = stats.set_stats(problem_set)
    charts = {
        i.column.item_id: stats.histogram_svg(i.histogram_first, i.histogram_best, i.column.label)
        for i in result.items
    }
    return render_template(
        "instructor/stats.html",
        course=problem_set.course,
        problem_set=problem_set,
        stats=result,
        charts=charts,
        min_students=stats.MIN_STUDENTS,
        flag_gap=stats.FLAG_GAP,
    )


@bp.route("/sets/<set_id>/regrade", methods=["GET", "POST"])
def regrade_set(set_id: str) -> Any:
    problem_set = own_set(set_id)
    if request.method == "POST":
        digest = request.form.get("digest", "")
        if not re.fullmatch(r"[0-9a-f]{16}", digest):
            abort(400, description="The regrade form is incomplete; open the regrade page again.")
        try:
            report = regrade.apply(problem_set, current_user, expected_digest=digest)
        except regrade.StaleRegrade as err:
            flash(str(err), "warning")
        else:
            done = len(report.changed)
            flash(
                f"Regrade applied: {done} submission{'s' if done != 1 else ''} got a new grade "
                "(the old grades are kept in each submission's history).",
                "success",
            )
        return redirect(url_for("instructor.regrade_set", set_id=problem_set.public_id))
    report = regrade.dry_run(problem_set)
    return render_template(
        "instructor/regrade.html", course=problem_set.course, problem_set=problem_set, report=report
    )


# ---------------------------------------------------------------- helpers


def _sentence(err: SpecError) -> str:
    """A service error as a sentence for the field it names."""
    return _sentence_text(err.message)


def _sentence_text(message: str) -> str:
    message = message.strip()
    if not message:
        return "Not valid."
    if "@" not in message.split(" ", 1)[0]:  # an email is quoted as typed, never capitalised
        message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?", ")")) else message + "."
