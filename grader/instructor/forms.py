"""The instructor's forms: read the posted fields, say what is wrong next to each field.

Hand-written rather than WTForms because the problem-set builder is a list of item rows that
can be added, removed and moved without JavaScript; CSRF is checked globally (CSRFProtect).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from werkzeug.datastructures import MultiDict

from grader.models import ProblemSet
from grader.services import problem_sets
from problems import kinds

SOLUTIONS: tuple[tuple[str, str], ...] = (
    ("after_attempts", "After the student's attempts are used up (or full marks)"),
    ("after_due", "After the due date"),
    ("always", "Always (practice set)"),
    ("never", "Never"),
)
DIFFICULTIES: tuple[tuple[int, str], ...] = ((1, "1 (easy)"), (2, "2 (medium)"), (3, "3 (hard)"))
MAX_ITEMS = 50
MAX_ATTEMPTS = 20
MAX_POINTS = 1000.0

DEFAULT_POINTS = "10"
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"

_ROW_KEY = re.compile(r"^items-(\d{1,3})-(id|kind|difficulty|points)$")
_SPEC_PATH = re.compile(r"^items\[(\d+)\]\.(\w+)$")


def valid_points(points: float | None) -> bool:
    """An item's points as the builder takes them: the service's rule, up to MAX_POINTS."""
    return problem_sets.valid_points(points, MAX_POINTS)


def field_key(path: str) -> str:
    """A service error path (`items[2].points`, `attempts`) as this form's field name."""
    match = _SPEC_PATH.match(path)
    if match:
        index, name = match.groups()
        return f"items-{index}-{name}"
    aliases = {
        "attempts": "attempts_allowed",
        "opens": "opens_at",
        "due": "due_at",
        "opens_at": "opens_at",
        "due_at": "due_at",
    }
    return aliases.get(path, path or "form")


def format_local(moment: datetime | None) -> str:
    """A stored UTC time as the value of a datetime-local input (UTC)."""
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(DATETIME_LOCAL)


def parse_local(text: str) -> datetime | None:
    """A datetime-local value read as UTC; ValueError with a message when unreadable."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a date and time: use YYYY-MM-DDTHH:MM (UTC)") from None
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment.replace(tzinfo=UTC)


@dataclass
class ItemRow:
    """One item row of the builder, as typed (strings until validated)."""

    id: str = ""
    kind: str = ""
    difficulty: str = "1"
    points: str = DEFAULT_POINTS


@dataclass
class SetForm:
    """The problem-set builder: the set's settings and its item rows."""

    title: str = ""
    attempts_allowed: str = "3"
    opens_at: str = ""
    due_at: str = ""
    solutions: str = "after_attempts"
    follow_through: bool = True
    items: list[ItemRow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls) -> SetForm:
        first = kinds.catalogue()[0]["name"] if kinds.catalogue() else ""
        return cls(items=[ItemRow(kind=first)])

    @classmethod
    def from_set(cls, problem_set: ProblemSet) -> SetForm:
        return cls(
            title=problem_set.title,
            attempts_allowed=str(problem_set.attempts_allowed),
            opens_at=format_local(problem_set.opens_at),
            due_at=format_local(problem_set.due_at),
            solutions=problem_set.solutions,
            follow_through=bool(problem_set.follow_through),
            items=[
                ItemRow(i.public_id, i.kind, str(i.difficulty), _plain(i.points))
                for i in sorted(problem_set.items, key=lambda i: i.position)
            ],
        )

    @classmethod
    def from_post(cls, form: MultiDict[str, str]) -> SetForm:
        rows: dict[int, ItemRow] = {}
        for key in form:
            match = _ROW_KEY.match(key)
            if match:
                index, name = int(match.group(1)), match.group(2)
                setattr(rows.setdefault(index, ItemRow(points="")), name, form.get(key, "").strip())
        return cls(
            title=form.get("title", "").strip(),
            attempts_allowed=form.get("attempts_allowed", "").strip(),
            opens_at=form.get("opens_at", "").strip(),
            due_at=form.get("due_at", "").strip(),
            solutions=form.get("solutions", "").strip(),
            follow_through=form.get("follow_through") in ("on", "1", "true", "yes"),
            items=[rows[i] for i in sorted(rows)][:MAX_ITEMS],
        )

    # -------------------------------------------------------------- row actions

    def apply_action(self, action: str) -> bool:
        """Add, remove or move an item row ("add", "remove-2", "up-1", "down-0").
        True if it was a row action (the form is shown again, nothing saved)."""
        if action == "add":
            if len(self.items) >= MAX_ITEMS:
                self.errors["items"] = f"A set has at most {MAX_ITEMS} items."
            else:
                last = self.items[-1] if self.items else None
                self.items.append(
                    ItemRow(
                        kind=last.kind
                        if last
                        else (kinds.catalogue()[0]["name"] if kinds.catalogue() else ""),
                        difficulty=last.difficulty if last else "1",
                        points=last.points if last and last.points else DEFAULT_POINTS,
                    )
                )
            return True
        match = re.fullmatch(r"(remove|up|down)-(\d{1,3})", action)
        if not match:
            return False
        verb, index = match.group(1), int(match.group(2))
        if not 0 <= index < len(self.items):
            return True
        if verb == "remove":
            del self.items[index]
        elif verb == "up" and index > 0:
            self.items[index - 1], self.items[index] = self.items[index], self.items[index - 1]
        elif verb == "down" and index < len(self.items) - 1:
            self.items[index + 1], self.items[index] = self.items[index], self.items[index + 1]
        return True

    # -------------------------------------------------------------- validation

    def validate(self) -> dict[str, Any] | None:
        """The cleaned values for the problem-set service, or None with `errors` filled."""
        errors = self.errors
        if not self.title:
            errors["title"] = "Give the set a title."
        elif len(self.title) > 255:
            errors["title"] = "The title is longer than 255 characters."
        attempts = to_int(self.attempts_allowed)
        if attempts is None or not 1 <= attempts <= MAX_ATTEMPTS:
            errors["attempts_allowed"] = (
                f"Attempts allowed: a whole number from 1 to {MAX_ATTEMPTS}."
            )
        opens = due = None
        try:
            opens = parse_local(self.opens_at)
        except ValueError as err:
            errors["opens_at"] = f"Opens {err}."
        try:
            due = parse_local(self.due_at)
        except ValueError as err:
            errors["due_at"] = f"Due {err}."
        if opens and due and due <= opens:
            errors["due_at"] = "The due date must be after the opening date."
        if self.solutions not in dict(SOLUTIONS):
            errors["solutions"] = "Choose when students see the solutions."
        if not self.items:
            errors["items"] = "Add at least one item."
        known = {k["name"] for k in kinds.catalogue()}
        items = []
        for n, row in enumerate(self.items):
            if row.kind not in known:
                errors[f"items-{n}-kind"] = "Choose a problem kind from the list."
            difficulty = to_int(row.difficulty)
            if difficulty not in kinds.DIFFICULTIES:
                errors[f"items-{n}-difficulty"] = "Difficulty is 1, 2 or 3."
            points = to_float(row.points)
            if not valid_points(points):
                errors[f"items-{n}-points"] = (
                    f"Points: a number from 0.01 to {MAX_POINTS:g}, with at most two decimals."
                )
            items.append(
                {
                    "kind": row.kind,
                    "difficulty": difficulty,
                    "points": points,
                    "public_id": row.id or None,
                }
            )
        if errors:
            return None
        return {
            "title": self.title,
            "attempts_allowed": attempts,
            "opens_at": opens,
            "due_at": due,
            "solutions": self.solutions,
            "follow_through": self.follow_through,
            "items": items,
        }


def to_int(text: str) -> int | None:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        return None


def to_float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except (ValueError, AttributeError):
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _plain(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


# ---------------------------------------------------------------- small forms


@dataclass
class CourseForm:
    code: str = ""
    title: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_post(cls, form: MultiDict[str, str]) -> CourseForm:
        return cls(form.get("code", "").strip(), form.get("title", "").strip())

    def validate(self) -> bool:
        if not self.code:
            self.errors["code"] = "Give the course a code, e.g. CNN101."
        elif len(self.code) > 64:
            self.errors["code"] = "The code is longer than 64 characters."
        if not self.title:
            self.errors["title"] = "Give the course a title."
        elif len(self.title) > 255:
            self.errors["title"] = "The title is longer than 255 characters."
        return not self.errors


@dataclass
class StudentForm:
    """Add a student (the password is read apart: it is never shown again)."""

    FIELDS: ClassVar[tuple[str, ...]] = ("email", "name", "password")

    email: str = ""
    name: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_post(cls, form: MultiDict[str, str]) -> StudentForm:
        return cls(form.get("email", "").strip(), form.get("name", "").strip())
