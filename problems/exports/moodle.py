"""Moodle XML: a category per item, a question per variant.

A variant with one number part becomes a `numerical` question (tolerance as an absolute
margin, misconception answers at fraction 0 with feedback naming the mistake); any other
becomes a `cloze` (Embedded Answers) question whose sub-questions sit in the statement's
table cells: NUMERICAL for numbers and grid cells, MULTICHOICE for one choice, SHORTANSWER
for shapes, sets, cells and ranges (Moodle compares those as strings, so only the forms
listed are accepted). Format: https://docs.moodle.org/en/Moodle_XML_format; the cloze
syntax follows question/type/multianswer/questiontype.php.
"""

from __future__ import annotations

import html
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from fractions import Fraction

from problems.exports.common import (
    Bank,
    Variant,
    absolute_tolerance,
    accepted_texts,
    category_path,
    cell_wrong_answers,
    field_grid_html,
    grid_size,
    is_single_number,
    misconception_feedback,
    number_text,
    question_html,
    steps_html,
)
from problems.kinds.base import Part

PENALTY = "0.3333333"
# Cloze weights are whole numbers; past this the exact proportions are rounded.
MAX_WEIGHT = 1000

# Moodle cuts an embedded answer at an unescaped `~`, `#` or `}` and a feedback at `~` or
# `}`, then decodes HTML entities in both (and only undoes `\}` and `\#`): so every special
# character goes in as a character reference, which is decoded back exactly.
_CLOZE_REFS = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#39;",
        "{": "&#123;",
        "}": "&#125;",
        "#": "&#35;",
        "~": "&#126;",
        "/": "&#47;",
        "\\": "&#92;",
    }
)


def cloze_text(plain: str) -> str:
    """A string as a cloze answer: Moodle reads back exactly `plain`."""
    return plain.translate(_CLOZE_REFS)


def cloze_feedback(plain: str) -> str:
    """Plain text as a cloze feedback (HTML once Moodle has decoded it)."""
    return cloze_text(html.escape(plain, quote=False))


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    ET.SubElement(element, "text").text = text
    return element


def _head(question: ET.Element, variant: Variant, text: str) -> None:
    _text(question, "name", variant.name)
    _text(question, "questiontext", text, format="html")
    _text(question, "generalfeedback", steps_html(variant.steps, variant.problem), format="html")


def _answer(question: ET.Element, fraction: str, text: str, feedback: str, tolerance: str) -> None:
    answer = _text(question, "answer", text, fraction=fraction, format="moodle_auto_format")
    _text(answer, "feedback", html.escape(feedback, quote=False), format="html")
    ET.SubElement(answer, "tolerance").text = tolerance


def numerical_question(variant: Variant) -> ET.Element:
    """A one-number variant as a `numerical` question with misconception answers."""
    problem = variant.problem
    part = problem.parts[0]
    question = ET.Element("question", type="numerical")
    text = question_html(problem, lambda p: "<b>?</b>", list_placed=True, after=lambda p: "")
    _head(question, variant, text)
    ET.SubElement(question, "defaultgrade").text = number_text(variant.item.points)
    ET.SubElement(question, "penalty").text = PENALTY
    ET.SubElement(question, "hidden").text = "0"
    ET.SubElement(question, "idnumber").text = variant.idnumber
    value = float(problem.answers[part.id])
    _answer(
        question,
        "100",
        number_text(value),
        "Correct.",
        number_text(absolute_tolerance(part, value)),
    )
    for wrong in variant.wrong.get(part.id, ()):
        w = float(wrong.value)
        _answer(
            question,
            "0",
            number_text(w),
            misconception_feedback(wrong.misconception),
            number_text(absolute_tolerance(part, w)),
        )
    for tag, value_text in (
        ("unitgradingtype", "0"),
        ("unitpenalty", "0.1"),
        ("showunits", "3"),
        ("unitsleft", "0"),
    ):
        ET.SubElement(question, tag).text = value_text
    return question


def cloze_weights(shares: Sequence[float]) -> list[int]:
    """Whole-number weights in the proportions of `shares` (exact when small enough)."""
    exact = [Fraction(s).limit_denominator(1000) for s in shares]
    scale = math.lcm(*(f.denominator for f in exact))
    weights = [int(f * scale) for f in exact]
    divisor = math.gcd(*weights)
    weights = [w // divisor for w in weights]
    if max(weights) <= MAX_WEIGHT:
        return weights
    smallest = min(shares)
    return [max(1, round(s / smallest)) for s in shares]


def _embedded(weight: int, kind: str, alternatives: Sequence[str]) -> str:
    """`{weight:KIND:alternative~alternative}`."""
    return "{" + f"{weight}:{kind}:" + "~".join(alternatives) + "}"


def _numerical_sub(
    weight: int, value: float, tolerance: float, wrong: Sequence[tuple[float, float, str]]
) -> str:
    alternatives = [f"={number_text(value)}:{number_text(tolerance)}#{cloze_feedback('Correct.')}"]
    alternatives += [
        f"%0%{number_text(w)}:{number_text(t)}#{cloze_feedback(feedback)}"
        for w, t, feedback in wrong
    ]
    return _embedded(weight, "NUMERICAL", alternatives)


def _shortanswer_sub(weight: int, right: Sequence[str], wrong: Sequence[tuple[str, str]]) -> str:
    alternatives = [f"={cloze_text(t)}#{cloze_feedback('Correct.')}" for t in right]
    alternatives += [f"%0%{cloze_text(t)}#{cloze_feedback(feedback)}" for t, feedback in wrong]
    return _embedded(weight, "SHORTANSWER", alternatives)


def _multichoice_sub(weight: int, part: Part, right: str, feedback: dict[str, str]) -> str:
    alternatives = []
    for choice in part.choices:
        mark = "=" if choice == right else ""
        note = "Correct." if choice == right else feedback.get(choice, "Not right.")
        alternatives.append(f"{mark}{cloze_text(html.escape(choice))}#{cloze_feedback(note)}")
    return _embedded(weight, "MULTICHOICE", alternatives)


def _part_shares(variant: Variant) -> list[tuple[Part, int]]:
    """Each part with its number of sub-questions (a grid: one per cell)."""
    counts = []
    for part in variant.problem.parts:
        if part.answer_type == "grid":
            rows, cols = grid_size(part, variant.problem.answers[part.id])
            counts.append((part, rows * cols))
        else:
            counts.append((part, 1))
    return counts


def cloze_question(variant: Variant) -> ET.Element:
    """A multi-part variant as a `cloze` question, its fields inside the statement."""
    problem = variant.problem
    counts = _part_shares(variant)
    shares = [part.points / n for part, n in counts for _ in range(n)]
    weights = iter(cloze_weights(shares))
    subs: dict[str, str] = {}
    for part, _n in counts:
        subs[part.id] = _sub_html(variant, part, weights)
    text = question_html(problem, lambda p: subs[p.id])
    question = ET.Element("question", type="cloze")
    _head(question, variant, text)
    ET.SubElement(question, "penalty").text = PENALTY
    ET.SubElement(question, "hidden").text = "0"
    ET.SubElement(question, "idnumber").text = variant.idnumber
    return question


def _sub_html(variant: Variant, part: Part, it: Iterator[int]) -> str:
    """The embedded answer(s) of one part; `it` yields one weight per sub-question."""
    correct = variant.problem.answers[part.id]
    wrong = variant.wrong.get(part.id, ())
    kind = part.answer_type
    if kind in ("int", "number"):
        value = float(correct)
        misses = [
            (
                float(w.value),
                absolute_tolerance(part, float(w.value)),
                misconception_feedback(w.misconception),
            )
            for w in wrong
        ]
        return _numerical_sub(next(it), value, absolute_tolerance(part, value), misses)
    if kind == "grid":
        cells = cell_wrong_answers(part, correct, wrong)
        subs = {}
        for r, row in enumerate(correct):
            for c, value in enumerate(row):
                misses = [
                    (
                        float(w.value),
                        absolute_tolerance(part, float(w.value)),
                        misconception_feedback(w.misconception, cell=True),
                    )
                    for w in cells.get((r, c), [])
                ]
                subs[(r, c)] = _numerical_sub(
                    next(it), float(value), absolute_tolerance(part, float(value)), misses
                )
        rows, cols = grid_size(part, correct)
        return field_grid_html(rows, cols, lambda r, c: subs[(r, c)])
    if kind == "choice":
        feedback: dict[str, str] = {}
        for w in wrong:
            feedback.setdefault(str(w.value), misconception_feedback(w.misconception))
        return _multichoice_sub(next(it), part, str(correct), feedback)
    right = accepted_texts(part, correct)
    misses_text: list[tuple[str, str]] = []
    for w in wrong:
        for t in accepted_texts(part, w.value):
            if t not in right and all(t != m for m, _ in misses_text):
                misses_text.append((t, misconception_feedback(w.misconception)))
    return _shortanswer_sub(next(it), right, misses_text)


def moodle_xml(banks: Sequence[Bank], category: str) -> bytes:
    """The Moodle XML file: a category question per bank, then its variants."""
    quiz = ET.Element("quiz")
    for bank in banks:
        marker = ET.SubElement(quiz, "question", type="category")
        _text(marker, "category", category_path(category, bank.name))
        _text(marker, "info", "", format="html")
        for variant in bank.variants:
            single = is_single_number(variant.problem)
            quiz.append(numerical_question(variant) if single else cloze_question(variant))
    ET.indent(quiz)
    body = ET.tostring(quiz, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")
