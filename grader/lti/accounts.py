"""What a valid launch makes on our side, in one transaction: the course of the LMS
context (created on the first instructor launch), the user of `sub` (created on first
launch), the enrollment with the role the LMS gives, and the resource link with its problem
set and grade service endpoint (stored from every launch).

`member_user` and `enroll` are the same steps for a member of the LMS roster
(grader.lti.roster), so that an imported student is the user their first launch finds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader import db
from grader.lti.launch import RESOURCE_LINK, Launch, LaunchError, url_scheme
from grader.lti.models import (
    LtiContext,
    LtiLinkUser,
    LtiPlatform,
    LtiResourceLink,
    LtiUser,
)
from grader.lti.sql import insert_ignore
from grader.models import Course, Enrollment, ProblemSet, User, utcnow
from grader.services.courses import email_problem, normalize_email

# Context (membership) roles, by the name after '#' in the role URI (or the short name).
INSTRUCTOR_ROLES = {"Instructor", "Administrator", "ContentDeveloper", "TeachingAssistant"}
LEARNER_ROLES = {"Learner"}
SYNTHETIC_DOMAIN = "lti.invalid"


def course_role(roles: list[str]) -> str | None:
    """"instructor", "student" or None, from the roles claim.

    Membership roles count (Instructor, Administrator, ContentDeveloper, TeachingAssistant
    → instructor; Learner → student); of institution and system roles only Administrator
    does (a faculty member who is a Learner in this course is a student here)."""
    names: set[str] = set()
    for role in roles:
        if "#" in role:
            base, name = role.rsplit("#", 1)
            if "/membership" not in base and name != "Administrator":
                continue
        else:
            name = role.rsplit("/", 1)[-1]
        names.add(name)
    if names & INSTRUCTOR_ROLES:
        return "instructor"
    if names & LEARNER_ROLES:
        return "student"
    return None


@dataclass
class Provisioned:
    """The result of a launch on our side."""

    user: User
    course: Course
    role: str
    context: LtiContext
    link: LtiResourceLink | None
    problem_set: ProblemSet | None


def _claim_text(claims: dict[str, Any], name: str, limit: int = 255) -> str:
    value = claims.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _name(claims: dict[str, Any]) -> str:
    name = _claim_text(claims, "name")
    if not name:
        name = " ".join(p for p in (_claim_text(claims, "given_name"),
                                    _claim_text(claims, "family_name")) if p)[:255]
    return name


def _synthetic_email(platform: LtiPlatform, sub: str) -> str:
    digest = hashlib.sha256(f"{platform.public_id}\n{sub}".encode()).hexdigest()[:24]
    return f"lti-{digest}@{SYNTHETIC_DOMAIN}"


def _free_email(s: Session, claims: dict[str, Any]) -> str | None:
    """The email claim when it is valid and no account has it yet. An existing account is
    never taken over by an email a platform asserts: the LTI user gets its own account."""
    email = normalize_email(_claim_text(claims, "email"))
    if not email or email_problem(email):
        return None
    if s.scalar(select(User.id).where(User.email == email)) is not None:
        return None
    return email


def member_user(s: Session, platform: LtiPlatform, sub: str, claims: dict[str, Any],
                role: str, launched: bool = True) -> LtiUser:
    """The LTI user of `sub` on the platform, made with its user on first sight; the name,
    a real email in place of a synthetic one, and the instructor flag follow `claims` (an
    id_token's, or a roster member's: the same names). `launched`: this is a launch (and
    not a roster import), so the user's last launch moves to now."""
    now = utcnow()
    lti_user = s.scalar(select(LtiUser).where(LtiUser.platform_id == platform.id,
                                             LtiUser.sub == sub))
    name = _name(claims)
    if lti_user is None:
        email = _free_email(s, claims) or _synthetic_email(platform, sub)
        user = User(email=email, name=name or f"LMS user {sub[:24]}",
                    is_instructor=role == "instructor", password_hash=None)
        s.add(user)
        s.flush()
        lti_user = LtiUser(platform_id=platform.id, sub=sub, user_id=user.id,
                           created_at=now, last_launch_at=now)
        s.add(lti_user)
        s.flush()
        return lti_user
    user = lti_user.user
    if name and user.name != name:
        user.name = name
    if user.email.endswith("@" + SYNTHETIC_DOMAIN) and (free := _free_email(s, claims)):
        user.email = free
    if role == "instructor" and not user.is_instructor:
        user.is_instructor = True
    if launched:
        lti_user.last_launch_at = now
    return lti_user


def _user(s: Session, platform: LtiPlatform, launch: Launch, role: str) -> LtiUser:
    return member_user(s, platform, launch.sub, launch.claims, role)


def _context(s: Session, platform: LtiPlatform, launch: Launch, role: str) -> LtiContext:
    claim = launch.context
    context_id = str(claim["id"])
    found = s.scalar(select(LtiContext).where(LtiContext.platform_id == platform.id,
                                              LtiContext.context_id == context_id))
    title = _claim_text(claim, "title") or _claim_text(claim, "label")
    if found is not None:
        if title and found.title != title:
            found.title = title
        # From every launch that names one (platforms move them); kept when one does not.
        if launch.memberships_url and found.memberships_url != launch.memberships_url:
            found.memberships_url = launch.memberships_url
        return found
    if role != "instructor":
        raise LaunchError(403, "course_not_set_up", "id_token.context.id",
                          "This LMS course is not set up in CNN Quiz yet: your instructor has "
                          "to open the tool from it once first.")
    course = platform.course
    if course is None:
        label = _claim_text(claim, "label", 64) or title[:64] or "LMS"
        course = Course(code=label, title=title or f"LMS course {context_id[:60]}")
        s.add(course)
        s.flush()
    context = LtiContext(platform_id=platform.id, context_id=context_id, course_id=course.id,
                         title=title, memberships_url=launch.memberships_url)
    s.add(context)
    s.flush()
    return context


def enroll(s: Session, course: Course, user: User, role: str, demote: bool = True) -> bool:
    """The LMS is the source of truth for a linked course: the role follows the launch.
    `demote=False` (a roster import) never turns an instructor into a student: only their
    own launch does. True when the user was not enrolled before."""
    enrollment = s.scalar(select(Enrollment).where(Enrollment.course_id == course.id,
                                                   Enrollment.user_id == user.id))
    if enrollment is None:
        s.add(Enrollment(course_id=course.id, user_id=user.id, role=role))
        s.flush()
        return True
    if enrollment.role != role and (demote or role == "instructor"):
        enrollment.role = role
    return False


def _url(value: Any) -> str | None:
    if isinstance(value, str) and url_scheme(value) in ("http", "https"):
        return value.strip()
    return None


def _link(s: Session, platform: LtiPlatform, context: LtiContext, launch: Launch,
          lti_user: LtiUser, role: str) -> LtiResourceLink:
    claim = launch.resource_link
    link_id = str(claim["id"])
    now = utcnow()
    link = s.scalar(select(LtiResourceLink).where(LtiResourceLink.platform_id == platform.id,
                                                  LtiResourceLink.resource_link_id == link_id))
    if link is None:
        link = LtiResourceLink(platform_id=platform.id, context_id=context.id,
                               resource_link_id=link_id, ags_scopes=[])
        s.add(link)
    link.context_id = context.id
    link.title = _claim_text(claim, "title") or link.title or ""
    link.updated_at = now
    ags = launch.ags
    if ags:  # the endpoint from every launch: platforms move them
        lineitem = _url(ags.get("lineitem"))
        if lineitem != link.lineitem_url:
            link.lineitem_url = lineitem
        link.lineitems_url = _url(ags.get("lineitems"))
        scopes = ags.get("scope")
        link.ags_scopes = [x for x in scopes if isinstance(x, str)] if isinstance(scopes, list) else []
    set_id = launch.custom.get("set_id")
    if isinstance(set_id, str | int) and str(set_id).strip():
        found = s.scalar(select(ProblemSet).where(ProblemSet.public_id == str(set_id).strip(),
                                                  ProblemSet.course_id == context.course_id))
        if found is not None:
            if link.problem_set_id != found.id:
                link.problem_set_id = found.id
                link.resolved_lineitem_url = None  # another set: another line item
        elif link.problem_set_id is None:
            raise LaunchError(404, "set_not_found", "id_token.custom.set_id",
                              "The problem set this link opens is not in this course (was the "
                              "LMS course copied?): the instructor has to pick it again.")
    s.flush()
    s.execute(insert_ignore(s, LtiLinkUser, ["resource_link_id", "lti_user_id"]).values(
        resource_link_id=link.id, lti_user_id=lti_user.id, role=role,
        first_launch_at=now, last_launch_at=now))
    s.execute(update(LtiLinkUser).where(LtiLinkUser.resource_link_id == link.id,
                                        LtiLinkUser.lti_user_id == lti_user.id)
              .values(role=role, last_launch_at=now))
    return link


def provision(launch: Launch) -> Provisioned:
    """Create or update everything the launch names; LaunchError (nothing written) when the
    role is not usable or a student comes before the course exists here."""
    role = course_role(launch.roles)
    if role is None:
        raise LaunchError(403, "role_not_supported", "id_token.roles",
                          "Only instructors, teaching assistants, content developers, "
                          "administrators and learners can open this tool.")
    if not launch.context:
        raise LaunchError(400, "context_missing", "id_token.context",
                          "The launch does not come from a course (no context claim).")
    for attempt in (1, 2):
        try:
            with db.transaction() as s:
                platform = s.get(LtiPlatform, launch.platform.id)
                if platform is None:
                    raise LaunchError(400, "platform_not_registered", "iss",
                                      "The platform is no longer registered.")
                context = _context(s, platform, launch, role)
                lti_user = _user(s, platform, launch, role)
                user = lti_user.user
                enroll(s, context.course, user, role)
                link = None
                if launch.message_type == RESOURCE_LINK:
                    link = _link(s, platform, context, launch, lti_user, role)
                s.flush()
                return Provisioned(user=user, course=context.course, role=role,
                                   context=context, link=link,
                                   problem_set=link.problem_set if link else None)
        except IntegrityError:
            # A concurrent first launch made the same rows: the second pass finds them.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
