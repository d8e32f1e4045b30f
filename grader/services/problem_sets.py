"""Problem sets: create, edit, publish, build from a JSON/YAML spec, and find one for a user.

A set's items are `(kind, difficulty, points)`; each student's variant of an item is a
seed derived from the set's secret (grader.variants), so nothing random is stored here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from grader import db
from grader.auth.access import deny
from grader.models import Course, Draft, Enrollment, Item, ProblemSet, Submission, User, utcnow
from problems import kinds
from problems.contract import line_problem
from problems.errors import SpecError

SOLUTIONS = ("never", "after_due", "after_attempts", "always")
SPEC_KEYS = ("title", "attempts", "opens", "due", "solutions", "follow_through", "items")
ITEM_KEYS = ("kind", "difficulty", "points")
MAX_ITEMS = 100
MAX_ATTEMPTS = 100
_UNSET: Any = object()


# ---------------------------------------------------------------- time


def utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime (SQLite hands back naive ones, meaning UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_when(value: Any, path: str) -> datetime | None:
    """An ISO 8601 date-time (naive means UTC; a bare date means its midnight UTC), a
    datetime, or None/empty; anything else is a SpecError at `path`."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):  # YAML turns 2026-12-01 into a date
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    if not isinstance(value, str):
        raise SpecError(path, f"expected an ISO 8601 date-time such as 2026-12-01T17:00:00Z, got {value!r}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise SpecError(path, f"expected an ISO 8601 date-time such as 2026-12-01T17:00:00Z, got {value!r}") from None
    return utc(parsed)


# ---------------------------------------------------------------- validation


def validate_items(items: Any, path: str = "items") -> list[dict[str, Any]]:
    """Items as `[{kind, difficulty, points}]`, checked against the registered kinds."""
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise SpecError(path, "expected a list of items")
    if not items:
        raise SpecError(path, "a problem set needs at least one item")
    if len(items) > MAX_ITEMS:
        raise SpecError(path, f"at most {MAX_ITEMS} items, got {len(items)}")
    return [_validate_item(item, f"{path}[{i}]") for i, item in enumerate(items)]


MAX_ITEM_POINTS = 1_000_000.0  # what the service takes; the builder's form asks for less


def valid_points(points: float | None, maximum: float = MAX_ITEM_POINTS) -> bool:
    """An item's points: from 0.01 to `maximum`, with at most two decimals (scores show two:
    points with more, 0.001 or 2.505, would show as others). NaN is none of these."""
    return points is not None and 0.01 <= points <= maximum and round(points, 2) == points


def _validate_item(item: Any, path: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise SpecError(path, "expected an object with kind, difficulty and points")
    for key in item:
        if key not in ITEM_KEYS:
            raise SpecError(f"{path}.{key}", f"unknown field (expected one of {', '.join(ITEM_KEYS)})")
    kind = item.get("kind")
    if not isinstance(kind, str) or not kind:
        raise SpecError(f"{path}.kind", "is required")
    if kind not in kinds.KINDS:
        raise SpecError(f"{path}.kind", f"unknown problem kind {kind!r} (known: {', '.join(kinds.KINDS)})")
    difficulty = item.get("difficulty", 1)
    if type(difficulty) is not int or difficulty not in (1, 2, 3):
        raise SpecError(f"{path}.difficulty", f"expected 1, 2 or 3, got {difficulty!r}")
    points = item.get("points", 10)
    if isinstance(points, bool) or not isinstance(points, (int, float)) \
            or not valid_points(points, MAX_ITEM_POINTS):
        raise SpecError(f"{path}.points", f"expected a number from 0.01 to {MAX_ITEM_POINTS:.0f} "
                                          f"with at most two decimals, got {points!r}")
    return {"kind": kind, "difficulty": difficulty, "points": float(points)}


def _validate_settings(title: Any, attempts: Any, opens: Any, due: Any, solutions: Any,
                       follow_through: Any, names: Mapping[str, str]) -> dict[str, Any]:
    """Check the set-level fields; `names` maps each to its path (spec vs. keyword names)."""
    if not isinstance(title, str) or not title.strip():
        raise SpecError(names["title"], "is required")
    if len(title.strip()) > 255:
        raise SpecError(names["title"], "is longer than 255 characters")
    if problem := line_problem(title):
        raise SpecError(names["title"], problem)
    if type(attempts) is not int or not 1 <= attempts <= MAX_ATTEMPTS:
        raise SpecError(names["attempts"], f"expected a whole number from 1 to {MAX_ATTEMPTS}, got {attempts!r}")
    opens_at = parse_when(opens, names["opens"])
    due_at = parse_when(due, names["due"])
    if opens_at and due_at and due_at <= opens_at:
        raise SpecError(names["due"], "must be after the opening time")
    if solutions not in SOLUTIONS:
        raise SpecError(names["solutions"], f"expected one of {', '.join(SOLUTIONS)}, got {solutions!r}")
    if not isinstance(follow_through, bool):
        raise SpecError(names["follow_through"], f"expected true or false, got {follow_through!r}")
    return {"title": title.strip(), "attempts_allowed": attempts, "opens_at": opens_at,
            "due_at": due_at, "solutions": solutions, "follow_through": follow_through}


_KEYWORD_NAMES = {"title": "title", "attempts": "attempts_allowed", "opens": "opens_at",
                  "due": "due_at", "solutions": "solutions", "follow_through": "follow_through"}
_SPEC_NAMES = {k: k for k in _KEYWORD_NAMES}


# ---------------------------------------------------------------- create and edit


def create_set(course: Course, title: str, items: list[dict[str, Any]], attempts_allowed: int = 3,
               opens_at: datetime | str | None = None, due_at: datetime | str | None = None,
               solutions: str = "after_attempts", follow_through: bool = True) -> ProblemSet:
    """A new, unpublished problem set. Raises SpecError naming the bad field."""
    settings = _validate_settings(title, attempts_allowed, opens_at, due_at, solutions,
                                  follow_through, _KEYWORD_NAMES)
    checked = validate_items(items)
    with db.transaction() as s:
        _refuse_a_used_title(s, course.id, settings["title"])
        problem_set = ProblemSet(course_id=course.id, **settings)
        s.add(problem_set)
        s.flush()
        _add_items(s, problem_set, checked, start=0)
        s.flush()
        s.refresh(problem_set, ["items"])
        return problem_set


def update_set(problem_set: ProblemSet, *, title: str = _UNSET, attempts_allowed: int = _UNSET,
               opens_at: datetime | str | None = _UNSET, due_at: datetime | str | None = _UNSET,
               solutions: str = _UNSET, follow_through: bool = _UNSET,
               items: list[dict[str, Any]] | None = None) -> ProblemSet:
    """Change the given fields. `items` replaces every item, which is refused once anyone
    has submitted (their variants would vanish); settings can change at any time."""
    current = {
        "title": problem_set.title, "attempts_allowed": problem_set.attempts_allowed,
        "opens_at": utc(problem_set.opens_at), "due_at": utc(problem_set.due_at),
        "solutions": problem_set.solutions, "follow_through": problem_set.follow_through,
    }
    given = {"title": title, "attempts_allowed": attempts_allowed, "opens_at": opens_at,
             "due_at": due_at, "solutions": solutions, "follow_through": follow_through}
    merged = {k: (current[k] if v is _UNSET else v) for k, v in given.items()}
    settings = _validate_settings(merged["title"], merged["attempts_allowed"], merged["opens_at"],
                                  merged["due_at"], merged["solutions"], merged["follow_through"],
                                  _KEYWORD_NAMES)
    checked = validate_items(items) if items is not None else None
    with db.transaction() as s:
        problem_set = s.merge(problem_set, load=True)
        if settings["title"].casefold() != problem_set.title.strip().casefold():
            _refuse_a_used_title(s, problem_set.course_id, settings["title"], problem_set.id)
        for key, value in settings.items():
            setattr(problem_set, key, value)
        if checked is not None:
            if has_submissions(problem_set, s):
                raise SpecError("items", "students have already submitted answers to this set; "
                                "its items can no longer be replaced (add a new set instead)")
            for item in list(problem_set.items):
                s.delete(item)
            s.flush()
            _add_items(s, problem_set, checked, start=0)
        s.flush()
        s.refresh(problem_set, ["items"])
        return problem_set


def used_title(course_id: int, title: str, exclude: int | None = None,
               session: Session | None = None) -> str | None:
    """Why `title` cannot name a set of the course (`exclude`: the set being renamed), or
    None: another set of the course has it, ignoring case and surrounding spaces (its
    students would see two identical entries). Compared here, not by SQL lower(), which
    SQLite applies to ASCII letters only."""
    s = session or db.session()
    wanted = title.strip().casefold()
    query = select(ProblemSet.title).where(ProblemSet.course_id == course_id)
    if exclude is not None:
        query = query.where(ProblemSet.id != exclude)
    if any(other.strip().casefold() == wanted for other in s.scalars(query)):
        return (f"the title “{title.strip()}” is already used by another problem set of this "
                "course (titles are compared ignoring case and surrounding spaces): give this "
                f"one its own, e.g. “{title.strip()} (part 2)”")
    return None


def _refuse_a_used_title(s: Session, course_id: int, title: str, exclude: int | None = None) -> None:
    """SpecError("title") if `used_title` says so."""
    if (problem := used_title(course_id, title, exclude, s)) is not None:
        raise SpecError("title", problem)


def add_item(problem_set: ProblemSet, kind: str, difficulty: int = 1, points: float = 10.0) -> Item:
    """Append an item to the set."""
    checked = _validate_item({"kind": kind, "difficulty": difficulty, "points": points}, "item")
    with db.transaction() as s:
        last = s.scalar(select(func.max(Item.position)).where(Item.problem_set_id == problem_set.id))
        item = _add_items(s, problem_set, [checked], start=(last + 1) if last is not None else 0)[0]
        return item


def update_item(item: Item, *, difficulty: int = _UNSET, points: float = _UNSET) -> Item:
    """Change an item's points, or its difficulty while nobody has submitted to it."""
    checked = _validate_item({
        "kind": item.kind,
        "difficulty": item.difficulty if difficulty is _UNSET else difficulty,
        "points": item.points if points is _UNSET else points,
    }, "item")
    with db.transaction() as s:
        item = s.merge(item, load=True)
        if checked["difficulty"] != item.difficulty and _item_has_submissions(s, item):
            raise SpecError("item.difficulty", "students have already submitted answers to this "
                            "item; its difficulty can no longer change")
        item.difficulty = checked["difficulty"]
        item.points = checked["points"]
        return item


def remove_item(item: Item) -> None:
    """Delete an item nobody has submitted to; the later items move up one place."""
    with db.transaction() as s:
        item = s.merge(item, load=True)
        if _item_has_submissions(s, item):
            raise SpecError("item", "students have already submitted answers to this item; "
                            "it can no longer be removed")
        set_id, position = item.problem_set_id, item.position
        s.delete(item)
        s.flush()
        later = s.scalars(select(Item).where(Item.problem_set_id == set_id, Item.position > position)
                          .order_by(Item.position)).all()
        for other in later:  # one at a time: (set, position) is unique
            other.position -= 1
            s.flush()


def publish(problem_set: ProblemSet) -> ProblemSet:
    """Make the set visible to the course's students (idempotent)."""
    with db.transaction() as s:
        problem_set = s.merge(problem_set, load=True)
        count = s.scalar(select(func.count(Item.id)).where(Item.problem_set_id == problem_set.id))
        if not count:
            raise SpecError("items", "a problem set needs at least one item before it is published")
        if problem_set.published_at is None:
            problem_set.published_at = utcnow()
        return problem_set


def unpublish(problem_set: ProblemSet) -> ProblemSet:
    """Hide the set from students again; what they submitted stays recorded."""
    with db.transaction() as s:
        problem_set = s.merge(problem_set, load=True)
        problem_set.published_at = None
        return problem_set


def delete_set(problem_set: ProblemSet) -> None:
    """Delete a set nobody has submitted to (a draft, a mistake), with its items and the
    students' unsent drafts. A set with submissions raises SpecError: grades are never lost."""
    with db.transaction() as s:
        problem_set = s.merge(problem_set, load=True)
        if has_submissions(problem_set, s):
            raise SpecError("set", "students have already submitted answers to this set, and "
                            "deleting it would delete their grades")
        item_ids = select(Item.id).where(Item.problem_set_id == problem_set.id)
        s.execute(delete(Draft).where(Draft.item_id.in_(item_ids)))
        # Only items without submissions: one sent since the check above keeps its item,
        # and the check below then refuses the whole delete (a submission's FK cascades).
        s.execute(delete(Item).where(
            Item.problem_set_id == problem_set.id, ~exists().where(Submission.item_id == Item.id)))
        if s.scalar(select(func.count(Item.id)).where(Item.problem_set_id == problem_set.id)):
            raise SpecError("set", "a student submitted an answer meanwhile; the set is kept")
        s.execute(delete(ProblemSet).where(ProblemSet.id == problem_set.id))
        s.expunge(problem_set)


def submission_count(problem_set: ProblemSet) -> int:
    """How many submissions the set's items have."""
    return int(db.session().scalar(
        select(func.count(Submission.id)).join(Item, Item.id == Submission.item_id)
        .where(Item.problem_set_id == problem_set.id)) or 0)


def has_submissions(problem_set: ProblemSet, s: Session | None = None) -> bool:
    """True once any student has submitted an answer to any item of the set."""
    s = s or db.session()
    return bool(s.scalar(select(exists().where(
        Submission.item_id == Item.id, Item.problem_set_id == problem_set.id))))


def _item_has_submissions(s: Session, item: Item) -> bool:
    return bool(s.scalar(select(exists().where(Submission.item_id == item.id))))


def _add_items(s: Session, problem_set: ProblemSet, items: list[dict[str, Any]], start: int) -> list[Item]:
    added = [Item(problem_set_id=problem_set.id, position=start + i, **item) for i, item in enumerate(items)]
    s.add_all(added)
    s.flush()
    return added


# ---------------------------------------------------------------- specs


def parse_spec(text: str, filename: str = "spec.json") -> dict[str, Any]:
    """The spec in a JSON or YAML text (chosen by the file name's extension)."""
    if filename.lower().endswith((".yaml", ".yml")):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            raise SpecError("", f"not valid YAML: {where}{getattr(err, 'problem', None) or err}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecError("", f"not valid JSON: line {err.lineno}, column {err.colno}: {err.msg}") from None
    if not isinstance(data, dict):
        raise SpecError("", "expected an object with title and items at the top level")
    return data


def validate_spec(spec: Any) -> dict[str, Any]:
    """The keyword arguments of `create_set` for a spec, or a SpecError with its field path.

    Format: {title, attempts?, opens?, due?, solutions?, follow_through?, items: [{kind,
    difficulty, points}]}."""
    if not isinstance(spec, Mapping):
        raise SpecError("", "expected an object with title and items at the top level")
    for key in spec:
        if key not in SPEC_KEYS:
            raise SpecError(str(key), f"unknown field (expected one of {', '.join(SPEC_KEYS)})")
    if "items" not in spec:
        raise SpecError("items", "is required")
    settings = _validate_settings(
        spec.get("title"), spec.get("attempts", 3), spec.get("opens"), spec.get("due"),
        spec.get("solutions", "after_attempts"), spec.get("follow_through", True), _SPEC_NAMES)
    settings["items"] = validate_items(spec["items"])
    return settings


def set_from_spec(course: Course, spec: dict[str, Any]) -> ProblemSet:
    """A new, unpublished set built from a spec dict (see `validate_spec`)."""
    return create_set(course, **validate_spec(spec))


# ---------------------------------------------------------------- lookups


def sets_for_student(user: User) -> list[ProblemSet]:
    """The published sets of every course `user` is a student in: soonest due first (sets
    without a due date last), then by course and creation."""
    return list(db.session().scalars(
        select(ProblemSet)
        .join(Enrollment, Enrollment.course_id == ProblemSet.course_id)
        .where(Enrollment.user_id == user.id, Enrollment.role == "student",
               ProblemSet.published_at.is_not(None))
        .order_by(ProblemSet.due_at.is_(None), ProblemSet.due_at, ProblemSet.course_id, ProblemSet.id)
    ))


def sets_for_course(course: Course) -> list[ProblemSet]:
    """Every set of a course, published or not, in creation order (instructor views)."""
    return list(db.session().scalars(
        select(ProblemSet).where(ProblemSet.course_id == course.id).order_by(ProblemSet.id)))


def set_for(user: User, public_id: str, role: str = "student") -> ProblemSet:
    """The set `public_id` as `user` may see it: as a student only when published and
    enrolled as a student; as an instructor of its course always. Otherwise a logged 404."""
    row = db.session().execute(
        select(ProblemSet, Enrollment.role)
        .join(Enrollment, Enrollment.course_id == ProblemSet.course_id)
        .where(ProblemSet.public_id == public_id, Enrollment.user_id == user.id)
    ).first()
    if row is None or row[1] != role or (role == "student" and row[0].published_at is None):
        deny(f"problem set {public_id!r} (as {role})", user=user)
    return row[0]


def item_for(problem_set: ProblemSet, public_id: str) -> Item:
    """The item `public_id` of `problem_set` (found through `set_for`), else a logged 404."""
    item = db.session().scalar(select(Item).where(
        Item.public_id == public_id, Item.problem_set_id == problem_set.id))
    if item is None:
        deny(f"item {public_id!r} of set {problem_set.public_id!r}")
    return item


def total_points(problem_set: ProblemSet) -> float:
    """The points of all the set's items."""
    return float(sum(item.points for item in problem_set.items))
