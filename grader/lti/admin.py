"""/teach/lti: the instructor's LTI pages. The tool's URLs to paste into an LMS, the
platforms they registered, the problem set of a resource link, and each course's grade sync
log with resend buttons and the LMS roster import. Instructors only; everything scoped to
what they own or teach."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from grader import db
from grader.auth.access import deny, record_audit
from grader.extensions import login_manager
from grader.lti import admin_bp as bp
from grader.lti import dynamic, keys, launch, registry, roster
from grader.lti.models import LtiContext, LtiPlatform, LtiResourceLink
from grader.models import Course, utcnow
from grader.services import courses, passback
from grader.services.problem_sets import sets_for_course
from problems.errors import SpecError

FIELDS = ("name", "issuer", "client_id", "auth_login_url", "token_url", "key_set_url",
          "token_audience", "deployment_ids")
# How the form's messages name each field (its label, shortened).
FIELD_NAMES = {"name": "Name", "issuer": "Issuer", "client_id": "Client ID",
               "auth_login_url": "Authentication request URL", "token_url": "Access token URL",
               "key_set_url": "Public keyset URL", "token_audience": "Token audience",
               "deployment_ids": "Deployment IDs", "course": "Course"}


@bp.before_request
def _instructors_only() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_instructor:
        deny(f"LTI pages: {request.method} {request.path}")
    return None


@bp.after_request
def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


def _taught() -> list[Course]:
    return [c for c in courses.courses_for(current_user)
            if courses.role_in(current_user, c) == "instructor"]


def _when(moment: Any) -> str:
    from grader.services.attempts import format_time

    return format_time(moment)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    from grader.services.gradebook import format_number

    return {"when": _when, "num": format_number}


# ---------------------------------------------------------------- the tool and platforms


@bp.get("/")
def index() -> Any:
    """The tool's URLs, its key ids, the instructor's platforms and LTI-linked courses."""
    platforms = registry.owned_by(current_user)
    s = db.session()
    with db.transaction() as tx:
        published = [(k.kid, k.retired_at) for k in keys.published(tx)] or [
            (keys.signing_key(tx).kid, None)]
    taught = _taught()
    linked = [c for c in taught if s.scalar(select(LtiContext.id).where(
        LtiContext.course_id == c.id).limit(1)) is not None or passback.has_links(c.id)]
    # LMS courses of this user's platforms whose course here others teach (an instructor's
    # launch made it theirs): counted, so the empty list below is not a puzzle.
    others = s.scalar(select(func.count(func.distinct(LtiContext.course_id))).where(
        LtiContext.platform_id.in_([p.id for p in platforms]),
        LtiContext.course_id.not_in([c.id for c in taught]))) if platforms else 0
    return render_template(
        "lti/index.html", urls=registry.tool_urls(), platforms=platforms,
        usage={p.id: registry.usage(p) for p in platforms}, published=published, linked=linked,
        others=others or 0,
        courses=_taught(), links=dynamic.open_links(current_user),
    )


# ---------------------------------------------------------------- dynamic registration links


@bp.post("/registration-links")
def new_registration_link() -> Any:
    """A single-use LTI Dynamic Registration link, shown once (on this page, never in a
    URL of ours: it is a credential)."""
    try:
        course = _course_choice(request.form.get("course", ""))
    except SpecError as err:
        flash(f"No registration link was made. Course: {err.message}.", "error")
        return redirect(url_for("lti_admin.index"))
    url, link = dynamic.make_link(current_user, course)
    record_audit("lti_registration_link", f"link {link.id}" + (
        f" into course {course.public_id}" if course else ""))
    return render_template("lti/registration_link.html", url=url, link=link, course=course)


@bp.post("/registration-links/<int(max=2147483647):link_id>/cancel")
def cancel_registration_link(link_id: int) -> Any:
    if dynamic.cancel_link(current_user, link_id):
        record_audit("lti_registration_link_cancelled", f"link {link_id}")
        flash("The registration link was cancelled: it no longer registers anything.",
              "success")
    else:
        flash("That registration link is already used, cancelled or not yours.", "error")
    return redirect(url_for("lti_admin.index"))


def _course_choice(value: str) -> Course | None:
    if not value:
        return None
    for course in _taught():
        if course.public_id == value:
            return course
    raise SpecError("course", "choose one of your courses, or a new course per LMS course")


def _form_data() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in FIELDS}


def _field_errors(err: SpecError) -> dict[str, str]:
    """Every bad field of a refused registration (the fields' own, or the one refusal), each
    message a sentence naming its field."""
    if isinstance(err, registry.RegistrationErrors):
        errors = err.errors
    else:
        errors = {err.path.split("[")[0]: err.message}
    return {field: _field_sentence(field, message) for field, message in errors.items()}


def _field_sentence(field: str, message: str) -> str:
    """The registry's `is required` as `Client ID is required.`: the registry's messages
    (shared with the commands, which print the field's name before them) lack the field."""
    label = FIELD_NAMES.get(field, field)
    message = message.strip()
    if field == "deployment_ids" and message.startswith("at least one"):
        sentence = f"{label}: enter at least one"
    elif field == "deployment_ids" and message.startswith("is "):  # said of one of them
        sentence = f"{label}: one {message}"
    elif message.startswith(("is ", "are ", "must ")):
        sentence = f"{label} {message}"
    else:
        sentence = f"{label}: {message}"
    return sentence if sentence.endswith((".", "!", "?")) else sentence + "."


def _platform_form(data: dict[str, Any], errors: dict[str, str], platform: LtiPlatform | None,
                   course_value: str, status: int = 200) -> Any:
    return render_template("lti/platform_form.html", data=data, errors=errors,
                           platform=platform, courses=_taught(), course_value=course_value,
                           urls=registry.tool_urls()), status


@bp.route("/platforms/new", methods=["GET", "POST"])
def new_platform() -> Any:
    if request.method == "GET":
        return _platform_form({}, {}, None, "")
    data = _form_data()
    course_value = request.form.get("course", "")
    try:
        platform = registry.register(data, owner=current_user,
                                     course=_course_choice(course_value))
    except SpecError as err:
        return _platform_form(data, _field_errors(err), None, course_value, 422)
    record_audit("lti_platform_registered", f"{platform.public_id} {platform.issuer} "
                                            f"client {platform.client_id}")
    flash(f"Platform {platform.name} registered. Launch the tool from the LMS to try it.",
          "success")
    return redirect(url_for("lti_admin.index"))


@bp.route("/platforms/<platform_id>", methods=["GET", "POST"])
def edit_platform(platform_id: str) -> Any:
    platform = registry.owned_platform(current_user, platform_id)
    course_value = platform.course.public_id if platform.course else ""
    if request.method == "GET":
        data = registry.describe(platform)
        data["deployment_ids"] = "\n".join(platform.deployment_ids)
        data["token_audience"] = platform.token_audience or ""
        return _platform_form(data, {}, platform, course_value)
    data = _form_data()
    course_value = request.form.get("course", "")
    old_keys_url = platform.key_set_url
    try:
        platform = registry.update(platform, data, course=_course_choice(course_value),
                                   actor=current_user)
    except SpecError as err:
        return _platform_form(data, _field_errors(err), platform, course_value, 422)
    if platform.key_set_url != old_keys_url:
        launch.clear_key_cache()
    record_audit("lti_platform_updated", f"{platform.public_id} {platform.issuer}")
    flash(f"Platform {platform.name} saved.", "success")
    return redirect(url_for("lti_admin.index"))


@bp.post("/platforms/<platform_id>/delete")
def delete_platform(platform_id: str) -> Any:
    platform = registry.owned_platform(current_user, platform_id)
    if request.form.get("confirm") != platform.client_id:
        flash("Type the platform's client id to confirm the deletion.", "error")
        return redirect(url_for("lti_admin.edit_platform", platform_id=platform_id))
    name = platform.name
    registry.remove(platform)
    record_audit("lti_platform_deleted", f"{platform_id} {name}")
    flash(f"Platform {name} deleted: its launches stop working; courses and grades stay.",
          "success")
    return redirect(url_for("lti_admin.index"))


# ---------------------------------------------------------------- resource links


def _own_link(link_id: str) -> LtiResourceLink:
    link = db.session().scalar(select(LtiResourceLink).where(LtiResourceLink.public_id == link_id))
    if link is None:
        deny(f"LTI resource link {link_id[:40]!r}")
    courses.course_for(current_user, link.context.course.public_id, role="instructor")
    return link


@bp.route("/links/<link_id>", methods=["GET", "POST"])
def link(link_id: str) -> Any:
    """Choose the problem set an LMS link opens (links made without deep linking)."""
    found = _own_link(link_id)
    course = found.context.course
    sets = sets_for_course(course)
    error = ""
    if request.method == "POST":
        chosen = next((ps for ps in sets if ps.public_id == request.form.get("set_id")), None)
        if chosen is None:
            error = "Choose one of the course's problem sets."
        else:
            with db.transaction() as s:
                row = s.get(LtiResourceLink, found.id)
                assert row is not None
                if row.problem_set_id != chosen.id:
                    row.problem_set_id = chosen.id
                    row.resolved_lineitem_url = None
                row.updated_at = utcnow()
            record_audit("lti_link_set", f"link {found.public_id} opens set {chosen.public_id}")
            flash(f"This LMS link now opens {chosen.title}.", "success")
            return redirect(url_for("instructor.edit_set", set_id=chosen.public_id))
    return render_template("lti/link.html", link=found, course=course, sets=sets,
                           error=error), 422 if error else 200


# ---------------------------------------------------------------- the grade sync log


@bp.get("/courses/<course_id>/sync")
def sync(course_id: str) -> Any:
    """Every score sent (or to send) to the LMS for the course's sets."""
    course = courses.course_for(current_user, course_id, role="instructor")
    status = request.args.get("status", "")
    if status and status not in passback.STATUSES:
        abort(400, description=f"status must be one of {', '.join(passback.STATUSES)}")
    return render_template("lti/sync.html", course=course,
                           rows=passback.sync_log(course.id, status or None),
                           counts=passback.status_counts(course.id), status=status,
                           statuses=passback.STATUSES,
                           contexts=roster.roster_contexts(course.id))


@bp.post("/courses/<course_id>/sync/<score_id>/resend")
def resend(course_id: str, score_id: str) -> Any:
    course = courses.course_for(current_user, course_id, role="instructor")
    if passback.resend(score_id, course.id) is None:
        deny(f"LTI score {score_id[:40]!r} of course {course_id[:40]!r}")
    record_audit("lti_score_resend", f"course {course.public_id} row {score_id}")
    flash("The student's current score is queued for the LMS again.", "success")
    return redirect(url_for("lti_admin.sync", course_id=course.public_id))


@bp.post("/courses/<course_id>/sync/resend-all")
def resend_all(course_id: str) -> Any:
    course = courses.course_for(current_user, course_id, role="instructor")
    count = passback.resend_all(course.id)
    record_audit("lti_score_resend_all", f"course {course.public_id}: {count} queued")
    flash(f"{count} score{'s' if count != 1 else ''} queued for the LMS." if count else
          "No LTI student has a score to send yet.", "success" if count else "info")
    return redirect(url_for("lti_admin.sync", course_id=course.public_id))



# ---------------------------------------------------------------- the LMS roster


@bp.post("/courses/<course_id>/roster/<int(max=2147483647):context_id>/import")
def import_roster(course_id: str, context_id: int) -> Any:
    """Enroll the LMS course's active students now (Names and Role Provisioning)."""
    course = courses.course_for(current_user, course_id, role="instructor")
    context = db.session().scalar(select(LtiContext).where(LtiContext.id == context_id,
                                                           LtiContext.course_id == course.id))
    if context is None:
        deny(f"LTI context {context_id} of course {course_id[:40]!r}")
    try:
        report = roster.import_roster(context)
    except roster.RosterError as err:
        record_audit("lti_roster_import_failed", f"course {course.public_id} context "
                                                 f"{context_id}: {err.message}")
        flash(f"The LMS roster was not imported: {err.message}", "error")
        return redirect(url_for("lti_admin.sync", course_id=course.public_id))
    record_audit("lti_roster_import", f"course {course.public_id} context {context_id}: "
                                      f"{report.summary()}")
    flash(f"LMS roster of {report.context_title} imported: {report.summary()}.",
          "warning" if report.errors else "success")
    return redirect(url_for("lti_admin.sync", course_id=course.public_id))
