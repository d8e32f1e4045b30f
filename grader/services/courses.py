"""Users, courses, enrollments and roster imports; every lookup scoped by the asking user."""

from __future__ import annotations

import codecs
import csv
import io
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader import db
from grader.auth.access import deny
from grader.models import Course, Enrollment, User
from grader.passwords import hash_password, password_problem
from problems.contract import line_problem
from problems.errors import SpecError

ROLES = ("instructor", "student")
# Deliberately loose: one @, no spaces, a dot in the domain. Delivery is the real test.
_EMAIL = re.compile(r"^[^@\s,;<>\"'\x00-\x1f\x7f]+@[^@\s,;<>\"'\x00-\x1f\x7f]+"
                    r"\.[^@\s,;<>\"'\x00-\x1f\x7f]+$")
_ROSTER_COLUMNS = ("email", "name", "password")


@dataclass
class RosterReport:
    """What a roster import did: emails added (new users), emails already known (now
    enrolled if they were not; those that already were are also in `already_enrolled`),
    and the lines refused as (line number, message)."""

    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    already_enrolled: list[str] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# ---------------------------------------------------------------- users


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively: stored trimmed and lower-case."""
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    """Why `email` (normalized) is not usable, or None."""
    if not email:
        return "is required"
    if len(email) > 255:
        return "is longer than 255 characters"
    if not _EMAIL.match(email):
        return f"{email!r} is not an email address"
    return None


def user_by_email(email: str) -> User | None:
    """The user with this email (any case), or None."""
    return db.session().scalar(select(User).where(User.email == normalize_email(email)))


def create_user(email: str, name: str, password: str | None = None,
                is_instructor: bool = False) -> User:
    """A new user; a user without a password cannot sign in until one is set.

    Raises SpecError("email" | "name" | "password", message)."""
    with db.transaction() as s:
        return _create_user(s, email, name, password, is_instructor)


def set_password(user: User, password: str, *, must_change: bool = True) -> None:
    """Set a user's password (a reset by an instructor or an admin) and sign out all their
    sessions. Unless `must_change` is False, the user chooses their own password right
    after signing in with this one: whoever set it knows it."""
    problem = password_problem(password)
    if problem:
        raise SpecError("password", problem)
    with db.transaction():
        user.password_hash = hash_password(password)
        user.session_epoch = user.session_epoch + 1
        user.must_change_password = must_change


# No 0/O, 1/l/I: a password read aloud or copied from a screen is typed right.
_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def generate_password() -> str:
    """A random password to hand to a student: 16 letters and digits in groups of four
    (80 bits), easy to read out and type."""
    chars = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(16))
    return "-".join(chars[i:i + 4] for i in range(0, 16, 4))


def _create_user(s: Session, email: str, name: str, password: str | None,
                 is_instructor: bool, *, must_change_password: bool = False) -> User:
    email = normalize_email(email)
    name = name.strip()
    problem = email_problem(email)
    if problem:
        raise SpecError("email", problem)
    if not name:
        raise SpecError("name", "is required")
    if len(name) > 255:
        raise SpecError("name", "is longer than 255 characters")
    if problem := line_problem(name):
        raise SpecError("name", problem)
    if password is not None and (problem := password_problem(password)):
        raise SpecError("password", problem)
    if s.scalar(select(User.id).where(User.email == email)) is not None:
        raise SpecError("email", f"a user with the email {email} already exists")
    user = User(email=email, name=name, is_instructor=is_instructor,
                password_hash=hash_password(password) if password else None,
                must_change_password=bool(password) and must_change_password)
    s.add(user)
    s.flush()
    return user


# ---------------------------------------------------------------- courses


def create_course(code: str, title: str, instructor: User) -> Course:
    """A new course taught by `instructor` (enrolled as its instructor)."""
    code, title = code.strip(), title.strip()
    if not code:
        raise SpecError("code", "is required")
    if len(code) > 64:
        raise SpecError("code", "is longer than 64 characters")
    if not title:
        raise SpecError("title", "is required")
    if len(title) > 255:
        raise SpecError("title", "is longer than 255 characters")
    for path, text in (("code", code), ("title", title)):
        if problem := line_problem(text):
            raise SpecError(path, problem)
    if not instructor.is_instructor:
        raise SpecError("instructor", f"{instructor.email} is not an instructor account")
    with db.transaction() as s:
        # One course per code (any case), as an LMS's course short names: commands and the
        # instructor find a course by its code. LMS launches make their own courses.
        if s.scalar(select(Course.id).where(func.lower(Course.code) == code.lower())):
            raise SpecError("code", f"the code “{code}” is already used by a course (codes "
                                    "are compared ignoring case): give this one its own, "
                                    f"e.g. with the term or section, “{code} spring”")
        course = Course(code=code, title=title)
        s.add(course)
        s.flush()
        _enroll(s, course, instructor, "instructor")
        return course


def enroll(course: Course, user: User, role: str) -> Enrollment:
    """Enroll `user` in `course` as `role`; enrolling twice returns the first enrollment."""
    with db.transaction() as s:
        return _enroll(s, course, user, role)


def unenroll(course: Course, user: User) -> bool:
    """Remove `user` from `course` (their submissions stay); False if they were not in it."""
    with db.transaction() as s:
        enrollment = s.scalar(select(Enrollment).where(
            Enrollment.course_id == course.id, Enrollment.user_id == user.id))
        if enrollment is None:
            return False
        s.delete(enrollment)
        return True


def _enroll(s: Session, course: Course, user: User, role: str) -> Enrollment:
    if role not in ROLES:
        raise SpecError("role", f"must be 'instructor' or 'student', got {role!r}")
    if role == "instructor" and not user.is_instructor:
        raise SpecError("role", f"{user.email} is not an instructor account")
    existing = s.scalar(select(Enrollment).where(
        Enrollment.course_id == course.id, Enrollment.user_id == user.id))
    if existing is not None:
        return existing
    enrollment = Enrollment(course_id=course.id, user_id=user.id, role=role)
    s.add(enrollment)
    s.flush()
    return enrollment


def find_course(code_or_id: str) -> Course | None:
    """A course by public id or by code, in any case as codes are unique so (admin and CLI
    use only: not scoped by user)."""
    s = db.session()
    course = s.scalar(select(Course).where(Course.public_id == code_or_id))
    if course is None:
        code = code_or_id.strip()
        matches = s.scalars(select(Course).where(Course.code == code)).all() or s.scalars(
            select(Course).where(func.lower(Course.code) == code.lower())).all()
        if len(matches) > 1:
            shown = "; ".join(f"{c.title} (id {c.public_id})" for c in matches[:5])
            more = f"; and {len(matches) - 5} more" if len(matches) > 5 else ""
            raise SpecError("course", f"several courses have the code {matches[0].code!r}: {shown}{more}. "
                                      "Give the id of the one you mean instead of the code.")
        course = matches[0] if matches else None
    if course is None and code_or_id.isdigit():
        course = s.get(Course, int(code_or_id))
    return course


def courses_for(user: User) -> list[Course]:
    """The courses `user` is enrolled in (any role), by code."""
    return list(db.session().scalars(
        select(Course).join(Enrollment, Enrollment.course_id == Course.id)
        .where(Enrollment.user_id == user.id)
        .order_by(Course.code, Course.title, Course.id)
    ))


def role_in(user: User, course: Course) -> str | None:
    """`user`'s role in `course`, or None if not enrolled."""
    return db.session().scalar(select(Enrollment.role).where(
        Enrollment.course_id == course.id, Enrollment.user_id == user.id))


def course_for(user: User, public_id: str, role: str | None = None) -> Course:
    """The course `public_id` if `user` is enrolled in it (as `role`, when given); any
    other case is a 404 (logged), never a 403."""
    row = db.session().execute(
        select(Course, Enrollment.role).join(Enrollment, Enrollment.course_id == Course.id)
        .where(Course.public_id == public_id, Enrollment.user_id == user.id)
    ).first()
    if row is None or (role is not None and row[1] != role):
        deny(f"course {public_id!r} (role {role or 'any'})", user=user)
    return row[0]


def members(course: Course, role: str | None = None) -> list[User]:
    """The users enrolled in `course` (optionally only one role), by name then email."""
    query = (select(User).join(Enrollment, Enrollment.user_id == User.id)
             .where(Enrollment.course_id == course.id).order_by(User.name, User.email))
    if role is not None:
        query = query.where(Enrollment.role == role)
    return list(db.session().scalars(query))


# ---------------------------------------------------------------- roster import

# Byte-order marks of the Unicode encodings spreadsheets save CSV in ("CSV UTF-8", and
# "Unicode Text", which is UTF-16 little-endian). UTF-8's is optional; UTF-16 needs one.
_UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
_ROSTER_ENCODING_HINT = "save the file as 'CSV UTF-8' and try again"


def decode_roster(raw: bytes, name: str) -> str:
    """The text of a roster file named `name` (shown in the error): UTF-8 with or without a
    byte-order mark, or UTF-16 with one, the mark removed.

    Anything else is refused, never guessed: Latin-1 or Windows-1252 would decode any bytes
    at all, so a guess would enroll misspelt names without a word. Raises
    SpecError(f"{name} line N", "not UTF-8 text; save the file as 'CSV UTF-8' ...") naming
    the line of the first byte that does not decode (the CLI's and the upload's message)."""
    for bom, encoding in _UTF16_BOMS.items():
        if raw.startswith(bom):
            return _decode_or_refuse(raw[len(bom):], encoding, "UTF-16", name)
    return _decode_or_refuse(raw.removeprefix(codecs.BOM_UTF8), "utf-8", "UTF-8", name)


def _decode_or_refuse(body: bytes, encoding: str, shown: str, name: str) -> str:
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as err:
        # The line the bad byte is on, counted as import_roster counts (\n, \r\n or \r).
        before = body[:err.start].decode(encoding, errors="replace")
        line = len(io.StringIO(before + "x", newline="").readlines())
        raise SpecError(f"{name} line {line}", f"not {shown} text; {_ROSTER_ENCODING_HINT}") from None


def student_problems(course: Course, email: str, name: str, password: str) -> dict[str, str]:
    """Every reason the one student `email, name, password` would be refused by
    `import_roster`, by field ("email", "name", "password"), all at once; each message starts
    with its field's name (or the email). Empty when the line would be imported: a known
    account needs neither name nor password (it keeps its own)."""
    email = normalize_email(email)
    problems: dict[str, str] = {}
    if problem := email_problem(email):
        problems["email"] = f"email {problem}"
    elif (user := user_by_email(email)) is not None:
        if role_in(user, course) == "instructor":
            return {"email": f"{email} is an instructor of this course"}
        return {}
    return problems | _new_student_problems(name.strip(), password)


def _new_student_problems(name: str, password: str) -> dict[str, str]:
    """What keeps `name` (stripped) and `password` (optional) from making a new student
    account, by field, in the form's order."""
    problems: dict[str, str] = {}
    if not name:
        problems["name"] = "name is required for a new user"
    elif len(name) > 255:
        problems["name"] = "name is longer than 255 characters"
    elif problem := line_problem(name):
        problems["name"] = f"name {problem}"
    if password and (problem := password_problem(password)):
        problems["password"] = f"password {problem}"
    return problems


def import_roster(course: Course, csv_text: str,
                  progress: Callable[[int], None] | None = None) -> RosterReport:
    """Enroll the students of a CSV (header `email,name[,password]`) in `course`.

    Good lines are added and bad ones reported with their line numbers; everything is
    committed in one transaction. A known email is enrolled without touching its name or
    password. A broken quote costs only its own line: reading resumes on the next one.
    `progress(n)` is called after each data line (for a progress bar)."""
    report = RosterReport()
    text = csv_text.lstrip("\ufeff")
    # The physical lines as the csv module sees them (\n, \r\n or \r), ends kept.
    lines = io.StringIO(text, newline="").readlines()
    if not any(line.strip() for line in lines):
        report.errors.append((1, "the file is empty: expected a header line email,name[,password]"))
        return report
    delimiter = _delimiter(lines[0])
    header_row, span, error = _read_record(lines, 0, delimiter)
    if error:
        report.errors.append((1, f"the header line is not valid CSV: {error}"))
        return report
    columns = _header_columns([h.strip() for h in header_row], lines[0].rstrip("\r\n"))
    if isinstance(columns, str):
        report.errors.append((1, columns))
        return report

    seen: dict[str, int] = {}
    index = span
    with db.transaction() as s:
        while index < len(lines):
            line = index + 1
            row, span, error = _read_record(lines, index, delimiter)
            if progress:
                progress(sum(1 for physical in lines[index:index + span] if physical.strip()))
            index += span
            if error:
                report.errors.append((line, f"not valid CSV: {error}"))
                continue
            if not any(cell.strip() for cell in row):
                continue
            if span > 1:
                report.errors.append((line, _multiline_problem(row, columns, line, span)))
                continue
            message = _roster_line(s, course, row, columns, line, seen, report)
            if message:
                report.errors.append((line, message))
    return report


# A quoted value may run over this many physical lines before the quote counts as unclosed;
# no roster value holds a line break, so this only bounds the reading of a broken line.
_MAX_RECORD_LINES = 5


def _read_record(lines: list[str], start: int, delimiter: str) -> tuple[list[str], int, str]:
    """The CSV record starting at physical line `start`: (cells, physical lines it took, "")
    or ([], 1, why it is not valid CSV). A broken record costs only its first line."""
    window = lines[start:start + _MAX_RECORD_LINES]
    taken = 0

    def feed() -> Iterator[str]:
        nonlocal taken
        for physical in window:
            taken += 1
            yield physical

    reader = csv.reader(feed(), delimiter=delimiter, strict=True)
    try:
        row = next(reader)
    except StopIteration:
        return [], max(1, taken), ""
    except csv.Error as err:
        if "unexpected end of data" in str(err):
            return [], 1, ("a quote opened on this line is not closed "
                           "(a quote inside a quoted value is written twice: \"\")")
        return [], 1, (f"{err} (a value in quotes must be followed by the separator; "
                       "a quote inside a quoted value is written twice: \"\")")
    return row, max(1, taken), ""


def _multiline_problem(row: list[str], columns: dict[str, int], line: int, span: int) -> str:
    names = [name for name, i in columns.items() if i < len(row) and ("\n" in row[i] or "\r" in row[i])]
    what = names[0] if names else "a value"
    return (f"the {what} runs over lines {line}-{line + span - 1}: a {what} must be one line "
            "of text (check the quotes on these lines)")


def _delimiter(header_line: str) -> str:
    for candidate in (",", ";", "\t"):
        if candidate in header_line:
            return candidate
    return ","


def _header_columns(typed_cells: list[str], typed: str) -> dict[str, int] | str:
    """The index of each column, or why the header is not one (quoting the line as typed)."""
    header = [h.lower() for h in typed_cells]
    unknown = [t for t, h in zip(typed_cells, header, strict=True) if h not in _ROSTER_COLUMNS]
    if "email" not in header or "name" not in header or unknown:
        extra = f" (unknown column {unknown[0]!r})" if unknown else ""
        shown = typed if len(typed) <= 80 else typed[:79] + "…"
        return ("the first line must be the header email,name or email,name,password"
                f"{extra}; got {shown!r}")
    duplicated = [h for h in _ROSTER_COLUMNS if header.count(h) > 1]
    if duplicated:
        return f"the column {duplicated[0]!r} appears twice in the header"
    return {h: header.index(h) for h in _ROSTER_COLUMNS if h in header}


def _roster_line(s: Session, course: Course, row: list[str], columns: dict[str, int],
                 line: int, seen: dict[str, int], report: RosterReport) -> str | None:
    if len(row) > len(columns):
        return f"expected {len(columns)} columns, got {len(row)} (quote names that contain a comma)"
    if any("\x00" in value for value in row):
        return "holds a NUL character (\\0), which no email, name or password can hold"

    def cell(name: str) -> str:
        index = columns.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    email, name = normalize_email(cell("email")), cell("name")
    password = row[columns["password"]] if "password" in columns and columns["password"] < len(row) else ""
    if problem := email_problem(email):
        return f"email {problem}"
    if email in seen:
        return f"{email} already appears on line {seen[email]}"
    seen[email] = line

    user = s.scalar(select(User).where(User.email == email))
    if user is not None:
        role = s.scalar(select(Enrollment.role).where(
            Enrollment.course_id == course.id, Enrollment.user_id == user.id))
        if role == "instructor":
            return f"{email} is an instructor of this course"
        if role == "student":
            report.already_enrolled.append(email)
        else:
            _enroll(s, course, user, "student")
        report.existing.append(email)
        return None
    if problems := _new_student_problems(name, password):
        return next(iter(problems.values()))  # a roster line reports its first problem
    try:
        # The checks above should catch everything; this keeps a missed one a refused line.
        # The instructor's file chose the password: the student chooses their own at first.
        user = _create_user(s, email, name, password or None, False, must_change_password=True)
    except SpecError as err:
        return f"{err.path} {err.message}"
    _enroll(s, course, user, "student")
    report.added.append(email)
    return None
