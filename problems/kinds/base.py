"""What every problem kind shares: the problem and its parts, parsing and scoring of each
answer type, follow-through credit, misconception matching and the self-test.

A kind module provides `NAME`, `TITLE`, `SUMMARY`, `generate(rng, difficulty) -> Draft`,
`worked(problem) -> list[Step]`, and optionally `wrong_models(problem)` (the answers that
named misconceptions give) and `follow_through(problem, part_id, given)` (the answer to a
part that is right given the student's own earlier answers), and `CHAINED = True` when
each part is computed from the parts it depends on (a mistake is then named only where it
agrees with the student's own answers to those). Everything else is here, so the grader
never needs per-kind code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

import numpy as np

from problems import answers as parse
from problems.answers import AnswerFormatError, Tolerance
from problems.frozen import cheap_init
from problems.misconceptions import Misconception
from problems.misconceptions import get as misconception

AnswerType = Literal["int", "number", "shape", "grid", "choice", "choices", "cell", "cells", "range"]
ANSWER_TYPES: tuple[str, ...] = ("int", "number", "shape", "grid", "choice", "choices", "cell", "cells", "range")

FORMAT_HINTS: dict[str, str] = {
    "int": "a whole number, e.g. 18,496",
    "number": "a number or fraction, e.g. 1.75 or 7/4",
    "shape": f"a shape, e.g. {parse.shape_examples()}",
    "grid": "one row per line, cells separated by spaces or commas",
    "choice": "one of the choices",
    "choices": "all choices that apply, separated by commas",
    "cell": "a cell as row, col (counting from 0), e.g. 1, 2",
    "cells": "cells as (row, col) pairs, e.g. (0, 1), (2, 3); or none",
    "range": "an inclusive range, e.g. 3 to 9",
}


# The "choices" hint above is for typed answers (API, exports, command line); the web
# shows checkboxes. Nothing ticked or typed: "none" is the empty answer ("None of these").
TICK_HINT = "tick every choice that applies"
NO_CHOICE_GIVEN = 'No answer given: choose every choice that applies, or "none" if none does.'


def whole_number_hint(example: int) -> str:
    """The hint of an "int" part with an example that fits the quantity (7 for a receptive
    field, not 18,496)."""
    return f"a whole number, e.g. {example:,}"


@cheap_init
@dataclass(frozen=True)
class Part:
    """One answer box: what is asked, how the answer is read, and what it is worth."""

    id: str
    prompt: str
    answer_type: AnswerType
    points: float = 1.0
    choices: tuple[str, ...] = ()
    grid_shape: tuple[int, int] | None = None
    tolerance: Tolerance = Tolerance()
    depends_on: tuple[str, ...] = ()
    # The format hint when the answer type's would mislead (an example that fits the
    # quantity or the layout, the precision accepted); empty for the answer type's own.
    hint_text: str = ""
    # A shape part's axes in order, e.g. ("height", "width", "channels"), where known:
    # how many sizes the answer has, named in the message that refuses `(None, None, 8)`
    # or `(1, 12, 12, 8)` (the batch written as 1: it cannot be told from a fourth size)
    # rather than grading it. Any other count, `(12, 12)` or `(12, 12, 8, 4)`, is read and
    # graded wrong, the feedback naming the count: it is an answer, not a slip of form.
    axes: tuple[str, ...] = ()
    # A cell or cells part's grid as (rows, cols), where known: a cell outside it cannot be
    # meant, and is refused unread (no attempt spent) rather than graded wrong.
    cell_bounds: tuple[int, int] | None = None

    @property
    def hint(self) -> str:
        """How to write the answer, shown beside the box and in "No answer given"."""
        if self.hint_text:
            return self.hint_text
        if self.answer_type == "grid" and self.grid_shape:
            return f"a {self.grid_shape[0]}x{self.grid_shape[1]} grid: one row per line"
        return FORMAT_HINTS[self.answer_type]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "prompt": self.prompt, "answer_type": self.answer_type,
            "points": self.points, "hint": self.hint,
        }
        if self.choices:
            data["choices"] = list(self.choices)
        if self.grid_shape:
            data["grid_shape"] = list(self.grid_shape)
        if self.answer_type == "number":
            data["tolerance"] = {"absolute": self.tolerance.absolute, "relative": self.tolerance.relative}
        if self.depends_on:
            data["depends_on"] = list(self.depends_on)
        return data


@dataclass(frozen=True)
class Step:
    """One step of a worked solution: a title, prose, formulas (LaTeX) and optionally a grid."""

    title: str
    text: str = ""
    math: tuple[str, ...] = ()
    grid: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"title": self.title, "text": self.text, "math": list(self.math)}
        if self.grid is not None:
            data["grid"] = dict(self.grid)
        return data


@dataclass(frozen=True)
class Draft:
    """What a kind's `generate` returns: the problem without its identity."""

    title: str
    statement: tuple[Mapping[str, Any], ...]
    parts: tuple[Part, ...]
    answers: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)


@cheap_init
@dataclass(frozen=True)
class Problem:
    """A variant: `(kind, difficulty, seed)` and what they generate.

    `statement` is a list of JSON blocks for people (text, a layer-stack table, grids);
    `answers` maps each part id to its correct value; `params` holds what the kind needs to
    grade and explain. Only `public()` may reach a student before grading.
    """

    kind: str
    difficulty: int
    seed: int
    title: str
    statement: tuple[Mapping[str, Any], ...]
    parts: tuple[Part, ...]
    answers: Mapping[str, Any]
    params: Mapping[str, Any]

    def part(self, part_id: str) -> Part:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise KeyError(part_id)

    @property
    def max_points(self) -> float:
        return sum(p.points for p in self.parts)

    def public(self) -> dict[str, Any]:
        """The statement and the parts: everything a student may see before grading."""
        return {
            "kind": self.kind, "difficulty": self.difficulty, "seed": self.seed,
            "title": self.title, "statement": [dict(b) for b in self.statement],
            "parts": [p.to_json() for p in self.parts], "max_points": self.max_points,
        }

    def fingerprint(self) -> str:
        """A canonical text of what the student is shown, to compare variants."""
        shown = self.public()
        del shown["seed"]
        return json.dumps(shown, sort_keys=True)


@cheap_init
@dataclass(frozen=True)
class PartResult:
    """The grade of one part. `score` is in [0, 1]; `earned = score * points`."""

    id: str
    score: float
    points: float
    correct: bool
    feedback: str
    given: Any = None
    misconception: Misconception | None = None
    format_error: str | None = None
    follow_through: bool = False
    cells: list[list[bool]] | None = None

    @property
    def earned(self) -> float:
        return self.score * self.points

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "score": self.score, "points": self.points, "earned": self.earned,
            "correct": self.correct, "feedback": self.feedback, "given": self.given,
            "misconception": None if self.misconception is None else self.misconception.to_json(),
            "format_error": self.format_error, "follow_through": self.follow_through,
            "cells": self.cells,
        }


@dataclass(frozen=True)
class GradeResult:
    """A graded submission. Not `valid` if any part could not be read: such a submission
    is shown its format errors and costs no attempt."""

    parts: tuple[PartResult, ...]

    @property
    def valid(self) -> bool:
        return all(p.format_error is None for p in self.parts)

    @property
    def earned(self) -> float:
        return sum([p.score * p.points for p in self.parts])

    @property
    def max_points(self) -> float:
        return sum([p.points for p in self.parts])

    @property
    def fraction(self) -> float:
        total = self.max_points
        return self.earned / total if total else 0.0

    @property
    def misconceptions(self) -> list[str]:
        return [p.misconception.id for p in self.parts if p.misconception is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid, "score": round(self.earned, 6), "max_score": self.max_points,
            "fraction": round(self.fraction, 6), "parts": [p.to_json() for p in self.parts],
            "misconceptions": self.misconceptions,
        }


class Kind(Protocol):
    """The module interface of a problem kind (see the module docstring)."""

    NAME: str
    TITLE: str
    SUMMARY: str

    def generate(self, rng: np.random.Generator, difficulty: int) -> Draft: ...

    def worked(self, problem: Problem) -> list[Step]: ...


WrongModel = tuple[str, Mapping[str, Any]]


# ---------------------------------------------------------------- parsing and formatting

def read_answer(part: Part, text: str) -> Any:
    """The canonical value of a student's text for this part (raises AnswerFormatError)."""
    kind = part.answer_type
    if kind == "int":  # every whole-number part counts something
        return parse.parse_count(text)
    if kind == "shape":
        # Messages end with the hint shown beside the box: its example is in the problem's layout.
        return list(parse.parse_shape(text, part.axes, hint=f"Expected {part.hint}."))
    if kind == "number":
        return parse.parse_number(text)
    if kind == "grid":
        # Rows of floats, as the parsers read every cell.
        return parse.parse_grid_shaped(text, part.grid_shape) if part.grid_shape else parse.parse_grid(text)
    if kind == "choice":
        return parse.parse_choice(text, part.choices)
    if kind == "choices":
        return sorted(parse.parse_choices(text, part.choices, allow_empty=True))
    if kind == "cell":
        return _within_bounds(part, [list(parse.parse_cell(text))])[0]
    if kind == "cells":
        return _within_bounds(part, sorted([list(c) for c in parse.parse_cells(text, allow_empty=True)]))
    if kind == "range":
        return list(parse.parse_range(text))
    raise ValueError(f"part {part.id}: unknown answer type {kind!r}")


def _within_bounds(part: Part, cells: list[list[int]]) -> list[list[int]]:
    """`cells`, unless one lies outside the part's `cell_bounds`: then unreadable, naming it."""
    if part.cell_bounds is not None:
        rows, cols = part.cell_bounds
        for r, c in cells:
            if not (0 <= r < rows and 0 <= c < cols):
                counting = (f"rows and columns count from 0 to {rows - 1}" if rows == cols else
                            f"rows count from 0 to {rows - 1}, columns from 0 to {cols - 1}")
                raise AnswerFormatError(
                    f"({r}, {c}) is outside the {rows}x{cols} grid: {counting}.")
    return cells


def format_number(value: float) -> str:
    """Integers without a decimal point, others with up to 4 decimals."""
    value = float(value)
    if value.is_integer():
        return "%d" % value  # noqa: UP031 - the integer's digits, as str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def format_answer(part: Part, value: Any) -> str:
    """A canonical value written the way a student would type it (for solutions and tests)."""
    kind = part.answer_type
    if kind == "int":
        return f"{int(value):,}"
    if kind == "number":
        return format_number(value)
    if kind == "shape":
        return "x".join(map(str, map(int, value)))
    if kind == "grid":
        return "\n".join(" ".join(["%d" % v if v.is_integer() else format_number(v)  # noqa: UP031
                                    for v in map(float, row)]) for row in value)
    if kind in ("choice",):
        return str(value)
    if kind == "choices":
        return ", ".join(value)
    if kind == "cell":
        return f"{value[0]}, {value[1]}"
    if kind == "cells":
        return ", ".join(f"({r}, {c})" for r, c in value) if value else "none"
    if kind == "range":
        return f"{value[0]} to {value[1]}"
    raise ValueError(f"part {part.id}: unknown answer type {kind!r}")


# ---------------------------------------------------------------- scoring one part

def _same(part: Part, given: Any, correct: Any) -> bool:
    kind = part.answer_type
    if kind == "number":
        return part.tolerance.accepts(float(given), float(correct))
    if kind == "grid":
        if type(given) is list and type(correct) is list:
            return _same_grid(given, correct, part.tolerance)
        score, _ = parse.score_grid(given, np.asarray(correct, dtype=float), part.tolerance)
        return score == 1.0
    if type(given) is type(correct) and given == correct:
        return True  # equal as they are, so equal once canonical
    return _canonical(given) == _canonical(correct)


def _same_grid(given: list[list[float]], correct: list[list[Any]], tol: Tolerance) -> bool:
    """`score_grid(given, correct, tol)` is 1.0, for grids as lists: cell by cell in Python,
    which on quiz-sized grids is faster than numpy's calls (the same float arithmetic)."""
    if len(given) != len(correct):
        return False
    for given_row, correct_row in zip(given, correct, strict=True):
        if type(given_row) is not list or type(correct_row) is not list:
            score, _ = parse.score_grid(given, np.asarray(correct, dtype=float), tol)
            return score == 1.0
        if len(given_row) != len(correct_row):
            return False
        if given_row == correct_row:
            continue  # equal cell by cell, so accepted cell by cell
        for g, c in zip(given_row, correct_row, strict=True):
            if not tol.accepts(float(g), float(c)):
                return False
    return True


_AS_THEY_ARE = frozenset({int, float, str, bool, type(None)})  # canonical already


def _canonical(value: Any) -> Any:
    """A value with lists and tuples as tuples and numpy numbers as Python's, for comparing
    answers however they were built."""
    if type(value) in _AS_THEY_ARE:
        return value
    if isinstance(value, (list, tuple)):
        if _AS_THEY_ARE.issuperset(map(type, value)):  # a cell, a shape: one level
            return tuple(value)
        return tuple(map(_canonical, value))
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _partial(part: Part, given: Any, correct: Any) -> tuple[float, list[list[bool]] | None]:
    """The credit of a not-quite-right answer: per cell for grids, per item for sets."""
    if part.answer_type == "grid":
        score, mask = parse.score_grid(given, np.asarray(correct, dtype=float), part.tolerance)
        return score, (mask.tolist() if mask.shape == np.asarray(correct).shape else None)
    if part.answer_type in ("choices", "cells"):
        want = {_canonical(v) for v in correct}
        got = {_canonical(v) for v in given}
        if not want:
            return (1.0 if not got else 0.0), None
        return max(0.0, (len(want & got) - len(got - want)) / len(want)), None
    return 0.0, None


def _set_feedback(kind: str, given: Any, correct: Any) -> str:
    """How many of a set answer's items are right, stray and missing, without saying which."""
    want = {_canonical(v) for v in correct}
    got = {_canonical(v) for v in given}
    right, stray, missing = len(want & got), len(got - want), len(want - got)
    noun, not_in = ("cell", ("is not in the set", "are not in the set")) if kind == "cells" else (
        "choice", ("does not apply", "do not apply"))
    if not got:
        bits = ["you gave none"]
    elif len(got) == 1:
        bits = [f"your {noun} is right" if right else f"your {noun} {not_in[0]}"]
    else:
        bits = [f"{right} of your {len(got)} {noun}s {'is' if right == 1 else 'are'} right"]
        if stray:
            bits.append(f"{stray} {not_in[stray != 1]}")
    if missing:
        bits.append(f"{missing} {'is' if missing == 1 else 'are'} missing")
    text = "; ".join(bits)
    return text[0].upper() + text[1:] + "."


_ORDINALS = ("first", "second", "third", "fourth", "fifth")


def _shape_feedback(given: list[int], correct: list[int]) -> str:
    """Which numbers of a shape are off, without giving the answer away."""
    if len(given) != len(correct):
        return (f"Not right: this output has {len(correct)} dimension{'s' if len(correct) != 1 else ''} "
                f"(no batch dimension), you gave {len(given)}.")
    wrong = [i for i, (g, c) in enumerate(zip(given, correct, strict=True)) if g != c]
    names = [_ORDINALS[i] if i < len(_ORDINALS) else f"#{i + 1}" for i in wrong]
    if len(names) == len(correct):
        return "Not right: none of the numbers is right."
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Not right: the {listed} number{'s are' if len(names) > 1 else ' is'} wrong."


def _close_feedback(part: Part, correct: float) -> str:
    """The feedback of a number close to the right one but outside the tolerance (4.4 for
    4.444...): how precise it must be, so a student who rounded too coarsely knows why it
    is not right. The score stays 0."""
    return (f"Close, but not within the tolerance: give the value "
            f"{part.tolerance.precision(correct)}.")


def _close_cells_note(part: Part, given: list[list[float]], correct: Any,
                      cells: list[list[bool]]) -> str:
    """For a grid whose wrong cells include some close to the right values (see
    `Tolerance.is_close`), a note of how many and how precise cells must be; else ""."""
    tol = part.tolerance
    close = [(g, c) for g_row, c_row, m_row in zip(given, correct, cells, strict=True)
             for g, c, right in zip(g_row, c_row, m_row, strict=True)
             if not right and tol.is_close(float(g), float(c))]
    if not close:
        return ""
    wrong_count = sum(not c for row in cells for c in row)
    which = ("It is" if wrong_count == 1 else
             "They are all" if len(close) == wrong_count else
             f"{len(close)} of them {'is' if len(close) == 1 else 'are'}")
    # The precision at the largest of those values: with a relative bound, the loosest.
    precision = tol.precision(max(abs(float(c)) for _, c in close))
    return f" {which} close, but not within the tolerance: give values {precision}."


FollowThrough = Callable[[Problem, str, Mapping[str, Any]], Any]


_TELLING = "_telling_wrong_answers"  # where a Problem keeps them once worked out
_WITHIN_TOLERANCE = ("number", "grid")  # the answer types `_same` compares with a tolerance


def _telling_wrong_answers(
    problem: Problem, wrong_models: Callable[[Problem], Iterable[WrongModel]] | None,
) -> dict[str, list[tuple[str, Any, dict[str, Any]]]]:
    """Per part, in the models' order, (misconception id, its answer, its answers to the
    parts this one depends on) for the misconceptions whose answer differs from the right
    one: the answers a wrong answer is compared with. A model that leaves out an earlier
    part has it right. For a part whose answers are compared exactly, the answer is kept
    `_canonical`, as `_same` compares it.

    They depend on the problem alone, so they are kept on the Problem object (not one of its
    fields: equality, the JSON and the public view ignore it): a problem graded many times,
    as the service's are, works its wrong models out once."""
    known = problem.__dict__.get(_TELLING)
    if known is None:
        known = {}
        answers = problem.answers
        for mid, wrong in (wrong_models(problem) if wrong_models else ()):
            for part in problem.parts:
                if part.id in wrong and not _same(part, wrong[part.id], answers[part.id]):
                    answer = wrong[part.id]
                    if part.answer_type not in _WITHIN_TOLERANCE:
                        answer = _canonical(answer)
                    earlier = {d: wrong.get(d, answers[d]) for d in part.depends_on}
                    known.setdefault(part.id, []).append((mid, answer, earlier))
        problem.__dict__[_TELLING] = known
    return known


def _misconception_of(
    problem: Problem, part: Part, value: Any, given: Mapping[str, Any] | None,
    telling: Iterable[tuple[str, Any, dict[str, Any]]],
) -> Misconception | None:
    """The misconception of the first of a part's telling wrong answers that `value` is (as
    `_same` judges it; an exact comparison puts `value` in canonical form once, not once
    per wrong answer: a list of cells takes long to). With `given` (the student's readable
    answers: a kind whose parts are each computed from the ones they depend on), only among
    the mistakes that agree with the student's answers to those parts: a mistake that would
    have changed an earlier answer the student got otherwise is not what they made here
    (26x26 right, then 14x14 from a 2x2 pool: off by one, not "same" padding everywhere)."""

    def consistent(earlier: dict[str, Any]) -> bool:
        return given is None or all(d not in given or _same(problem.part(d), given[d], answer)
                                    for d, answer in earlier.items())

    if part.answer_type in _WITHIN_TOLERANCE:
        return next((misconception(mid) for mid, wrong, earlier in telling
                     if _same(part, value, wrong) and consistent(earlier)), None)
    key = _canonical(value)
    return next((misconception(mid) for mid, wrong, earlier in telling
                 if key == wrong and consistent(earlier)), None)


def grade_parts(
    problem: Problem,
    texts: Mapping[str, str],
    *,
    wrong_models: Callable[[Problem], Iterable[WrongModel]] | None = None,
    follow_through: FollowThrough | None = None,
    allow_follow_through: bool = True,
    chained: bool = False,
) -> GradeResult:
    """Parse every part, score it against the solution, give follow-through credit where a
    part is right given the student's own earlier answers, and name the misconception a
    wrong answer matches (`chained`: a part is computed from the parts it depends on, so a
    mistake is named only where it agrees with the student's answers to those)."""
    given: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for part in problem.parts:
        part_id = part.id
        text = texts.get(part_id)
        if text is not None and type(text) is not str:
            text = str(text)
        if not text or text.isspace():  # none, or nothing but whitespace
            errors[part_id] = (NO_CHOICE_GIVEN if part.answer_type == "choices"
                               else f"No answer given: expected {part.hint}.")
            continue
        try:
            given[part_id] = read_answer(part, text)
        except AnswerFormatError as err:
            errors[part_id] = err.message
    models: dict[str, list[tuple[str, Any, dict[str, Any]]]] | None = None
    results = []
    answers = problem.answers
    for part in problem.parts:
        if errors and part.id in errors:
            results.append(PartResult(part.id, 0.0, part.points, False, errors[part.id],
                                      format_error=errors[part.id]))
            continue
        value, correct = given[part.id], answers[part.id]
        if _same(part, value, correct):
            results.append(PartResult(part.id, 1.0, part.points, True, "Correct.", value))
            continue
        if allow_follow_through and follow_through and part.depends_on and all(d in given for d in part.depends_on):
            wrong_earlier = [d for d in part.depends_on if not _same(problem.part(d), given[d], problem.answers[d])]
            if wrong_earlier:
                expected = follow_through(problem, part.id, given)
                if expected is not None and _same(part, value, expected):
                    names = "; ".join(problem.part(d).prompt for d in wrong_earlier)
                    earlier = "answer" if len(wrong_earlier) == 1 else "answers"
                    verb = "was" if len(wrong_earlier) == 1 else "were"
                    results.append(PartResult(
                        part.id, 1.0, part.points, True,
                        f"Correct given your earlier {earlier} ({names}), which {verb} wrong: "
                        "full credit by follow-through.",
                        given=value, follow_through=True,
                    ))
                    continue
        score, cells = _partial(part, value, correct)
        if models is None:
            models = _telling_wrong_answers(problem, wrong_models)
        named = _misconception_of(problem, part, value, given if chained else None,
                                  models.get(part.id, ()))
        if named is not None:
            feedback = f"Not right: this is what you get with the mistake \u201c{named.name}\u201d. {named.explanation}"
        elif part.answer_type == "grid" and cells is None:
            rows, cols = np.asarray(correct).shape
            feedback = f"Not right: the answer is a {rows}x{cols} grid."
        elif cells is not None:
            wrong_count = sum(not c for row in cells for c in row)
            feedback = f"{wrong_count} cell{'s' if wrong_count != 1 else ''} not right (marked)."
            feedback += _close_cells_note(part, value, correct, cells)
        elif part.answer_type == "shape":
            feedback = _shape_feedback(value, correct)
        elif part.answer_type in ("choices", "cells"):
            feedback = _set_feedback(part.answer_type, value, correct)
        elif score > 0:
            feedback = "Partly right."
        elif part.answer_type == "number" and part.tolerance.is_close(float(value), float(correct)):
            feedback = _close_feedback(part, float(correct))
        else:
            feedback = "Not right."
        results.append(PartResult(part.id, score, part.points, False, feedback, given=value,
                                  misconception=named, cells=cells))
    return GradeResult(tuple(results))


# ---------------------------------------------------------------- the self-test

def perturbed(part: Part, value: Any) -> Any:
    """A value for this part that is certainly wrong (for the self-test)."""
    kind = part.answer_type
    if kind == "int":
        return int(value) + 1
    if kind == "number":
        return float(value) + 1 + 10 * (part.tolerance.absolute + part.tolerance.relative * abs(float(value)))
    if kind == "shape":
        return [int(value[0]) + 1, *value[1:]]
    if kind == "grid":
        grid = [list(row) for row in value]
        grid[0][0] = float(grid[0][0]) + 1 + 10 * (part.tolerance.absolute + part.tolerance.relative * abs(grid[0][0]))
        return grid
    if kind == "choice":
        return next(c for c in part.choices if c != value)
    if kind == "choices":
        # "none" (a choice that means no choice) cannot be chosen with others: an answer
        # naming both is unreadable, not wrong. So "none" is swapped for a real choice,
        # and a real choice is never joined by "none".
        others = [c for c in part.choices if c not in value and not parse.means_nothing(c)]
        if any(map(parse.means_nothing, value)):
            return others[:1]
        return sorted([*value, others[0]]) if others else list(value)[1:]
    if kind in ("cell", "cells") and part.cell_bounds is not None:  # wrong, yet inside
        rows, cols = part.cell_bounds
        cells = [value] if kind == "cell" else value
        extra = next([r, c] for r in range(rows) for c in range(cols) if [r, c] not in cells)
        return extra if kind == "cell" else sorted([*value, extra])
    if kind == "cell":
        return [value[0] + 1, value[1]]
    if kind == "cells":
        return [*value, [10_000, 10_000]] if value else [[10_000, 10_000]]
    if kind == "range":
        return [value[0] - 1, value[1]]
    raise ValueError(kind)


UNPARSEABLE = {
    "int": "twelve", "number": "about four", "shape": "26 by 26 pixels", "grid": "1 2\n3",
    "choice": "none of these, really", "choices": "???", "cell": "row five", "cells": "((",
    "range": "3 up 9",
}


@cheap_init
@dataclass(frozen=True)
class SelfTest:
    """Answers a kind makes for itself: correct, wrong part by part, and unparseable
    (`unreadable`: the unreadable text per answer type, UNPARSEABLE if None).

    `wrong` and `unparseable` are made when first read: the check a variant passes before
    a student sees it grades only `correct`.
    """

    correct: dict[str, str]
    problem: Problem = field(repr=False, compare=False)
    unreadable: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def wrong(self) -> dict[str, dict[str, str]]:
        """Per part: the correct answers with that part's answer certainly wrong."""
        answers = self.problem.answers
        return {p.id: {**self.correct, p.id: format_answer(p, perturbed(p, answers[p.id]))}
                for p in self.problem.parts}

    @cached_property
    def unparseable(self) -> dict[str, dict[str, str]]:
        """Per part: the correct answers with that part's answer unreadable."""
        texts = UNPARSEABLE if self.unreadable is None else self.unreadable
        return {p.id: {**self.correct, p.id: texts[p.answer_type]} for p in self.problem.parts}


def self_test_answers(problem: Problem, unreadable: Mapping[str, str] | None = None) -> SelfTest:
    """The correct answers as typed text, one wrong answer per part, one unreadable per part
    (`unreadable` replaces the texts of UNPARSEABLE for some answer types)."""
    correct = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
    return SelfTest(correct, problem, {**UNPARSEABLE, **unreadable} if unreadable else None)
