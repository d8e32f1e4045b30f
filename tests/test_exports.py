"""Question-bank exports read back the way the LMS reads them: Moodle XML (its cloze parser
ported below), QTI 1.2 for Canvas (zip + ElementTree), GIFT (Moodle's GIFT reader ported
below). Every correct answer must be the solver's, every misconception answer must be
diagnosed the same way by our own grader, and escaping must round-trip."""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from problems import kinds
from problems.exports import FORMATS, export
from problems.exports.__main__ import main as cli_main
from problems.exports.common import (
    Bank,
    Item,
    Variant,
    absolute_tolerance,
    accepted_texts,
    build_banks,
    grid_size,
    hint,
    lms_text,
    number_roundings,
    number_text,
    parse_items,
    question_html,
    tolerance_text,
    wrong_answers,
)
from problems.exports.gift import gift_escape, gift_text
from problems.exports.moodle import cloze_feedback, cloze_text, cloze_weights, moodle_xml
from problems.exports.qti import qti_zip
from problems.kinds.base import format_number

ROOT = Path(__file__).resolve().parents[1]
ITEMS = [{"kind": k, "difficulty": d, "points": 2} for k in kinds.KINDS for d in kinds.DIFFICULTIES]
VARIANTS = 3
SEED = 7
QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
SPECIALS = "a {b} #c ~d: e=f \\g /h \"i\" 'j' <k> & [l] \\n {1:NUMERICAL:=3} ####x"
MISCONCEPTION_RE = re.compile("the mistake \u201c([^\u201d]+)\u201d")


def _has_single_number_variant(banks: list[Bank]) -> bool:
    return any(
        len(v.problem.parts) == 1 and v.problem.parts[0].answer_type in ("int", "number")
        for bank in banks for v in bank.variants
    )


@pytest.fixture(scope="module")
def banks() -> list[Bank]:
    # The first base seed from SEED on whose banks hold every question type the tests look
    # at (a single-number variant is drawn by chance), so the tests do not hang on one draw.
    for seed in range(SEED, SEED + 50):
        built = build_banks(parse_items(ITEMS), VARIANTS, seed)
        if _has_single_number_variant(built):
            return built
    raise AssertionError("no base seed gives a single-number variant")


def _variants(banks: list[Bank]) -> Iterator[Variant]:
    for bank in banks:
        yield from bank.variants


def _grade_part(problem: Any, part_id: str, text: str) -> Any:
    result = kinds.grade(problem, {part_id: text}, follow_through=False)
    return next(p for p in result.parts if p.id == part_id)


def _plain(html_text: str) -> str:
    """HTML as the words a student reads: tags dropped, references decoded, spaces joined."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", html_text)).split())


def _named(feedback: str) -> str | None:
    match = MISCONCEPTION_RE.search(html.unescape(feedback))
    return match.group(1) if match else None


def _expect_diagnosis(problem: Any, part_id: str, text: str, feedback: str) -> None:
    """Our grader, given the exported wrong answer, names the misconception the LMS names."""
    graded = _grade_part(problem, part_id, text)
    assert not graded.correct, (problem.kind, problem.seed, part_id, text)
    named = _named(feedback)
    assert named is not None, feedback
    assert graded.misconception is not None and graded.misconception.name == named, (
        problem.kind,
        problem.seed,
        part_id,
        text,
        named,
        graded.feedback,
    )


# ---------------------------------------------------------------- Moodle's cloze parser, ported
# From question/type/multianswer/questiontype.php (qtype_multianswer_extract_question).

_FRACTION = r"=|%(-?[0-9]+(?:[.,][0-9]*)?)%"
_ANSWER = r".+?(?<!\\)(?<!&)(?<!&amp;)(?=[~#}]|$)"
_FEEDBACK = r".*?(?<!\\)(?=[~}]|$)"
_ALT = f"({_FRACTION})?({_ANSWER})(#({_FEEDBACK}))?"
_NUMBER = r"-?(([0-9]+[.,]?[0-9]*|[.,][0-9]+)([eE][-+]?[0-9]+)?)"
_NUMERICAL_ALT = re.compile(f"^({_NUMBER})(:{_NUMBER})?$", re.S)
_TYPES = (
    "NUMERICAL|NM|MULTICHOICE_VS|MCVS|MULTICHOICE_HS|MCHS|MULTICHOICE_S|MCS|MULTICHOICE_V|MCV"
    "|MULTICHOICE_H|MCH|MULTICHOICE|MC|SHORTANSWER_C|SAC|MWC|SHORTANSWER|SA|MW"
    "|MULTIRESPONSE|MR"
)
_CLOZE = re.compile(
    r"\{(?P<norm>[0-9]*):(?P<type>" + _TYPES + r"):(?P<alts>" + _ALT + f"(~{_ALT})*)" + r"\}", re.S
)


def parse_cloze(text: str) -> list[dict[str, Any]]:
    """The sub-questions Moodle extracts from a cloze question text."""
    subs = []
    while match := _CLOZE.search(text):
        sub: dict[str, Any] = {
            "weight": int(match["norm"] or 1),
            "type": match["type"],
            "answers": [],
        }
        remaining = match["alts"]
        while alt := re.search("~?" + _ALT, remaining, re.S):
            fraction = 1.0 if alt.group(1) == "=" else float(alt.group(2) or 0) / 100
            feedback = html.unescape(alt.group(5) or "").replace("\\}", "}").replace("\\#", "#")
            answer: dict[str, Any] = {"fraction": fraction, "feedback": feedback}
            number = _NUMERICAL_ALT.match(alt.group(3)) if sub["type"] == "NUMERICAL" else None
            if number:
                answer["value"] = float(number.group(1))
                answer["tolerance"] = float(number.group(6) or 0)
            else:
                answer["text"] = html.unescape(alt.group(3)).replace("\\}", "}").replace("\\#", "#")
            sub["answers"].append(answer)
            remaining = remaining.split(alt.group(0), 1)[1]
        subs.append(sub)
        text = text.replace(match.group(0), f"{{#{len(subs)}}}", 1)
    return subs


# ---------------------------------------------------------------- Moodle's GIFT reader, ported
# From question/format/gift/format.php (readquestion, escapedchar_pre/post).

_GIFT_PLACEHOLDERS = [
    ("\\:", "&&058;"),
    ("\\#", "&&035;"),
    ("\\=", "&&061;"),
    ("\\{", "&&123;"),
    ("\\}", "&&125;"),
    ("\\~", "&&126;"),
    ("\\n", "&&010"),
]
_GIFT_WEIGHT = re.compile(r"^%-*([0-9]{1,2})\.?([0-9]*)%")


def _gift_pre(text: str) -> str:
    text = text.replace("\\\\", "&&092;")
    for escaped, placeholder in _GIFT_PLACEHOLDERS:
        text = text.replace(escaped, placeholder)
    return text.replace("&&092;", "\\")


def _gift_post(text: str) -> str:
    for escaped, placeholder in _GIFT_PLACEHOLDERS:
        text = text.replace(placeholder, "\n" if escaped == "\\n" else escaped[1])
    return text


def _gift_text(text: str) -> str:
    text = text.strip()
    if text.startswith("[") and text[1 : text.find("]")] in ("moodle", "html", "plain", "markdown"):
        text = text[text.index("]") + 1 :]
    return _gift_post(text).strip()


def _gift_comment(answer: str) -> tuple[str, str]:
    bits = answer.split("#", 1)
    return _gift_text(bits[0]), _gift_text(bits[1]) if len(bits) > 1 else ""


def _gift_weight(answer: str, default: float) -> tuple[float, str]:
    match = _GIFT_WEIGHT.match(answer)
    if not match:
        return default, answer
    rest = answer[1:]
    end = rest.index("%")
    return float(rest[:end]) / 100, rest[end + 1 :]


def parse_gift(data: str) -> list[dict[str, Any]]:
    """Questions (and categories) as Moodle's GIFT import reads them."""
    out = []
    for chunk in re.split(r"\n[ \t]*\n", data):
        lines = [" " if line.strip().startswith("//") else line for line in chunk.split("\n")]
        text = "\n".join(lines).strip()
        if not text:
            continue
        text = _gift_pre(text)
        if text.startswith("$CATEGORY:"):
            out.append({"type": "category", "category": text[10:].strip()})
            continue
        question: dict[str, Any] = {"name": None}
        if text.startswith("::"):
            text = text[2:]
            end = text.index("::")
            question["name"] = _gift_post(text[:end])
            text = text[end + 2 :].strip()
        start, finish = text.index("{"), text.index("}")
        answer_text = text[start + 1 : finish].strip()
        question["text"] = _gift_text(text[:start] + text[finish + 1 :])
        split = answer_text.rfind("####")
        question["general"] = _gift_text(answer_text[split + 4 :]) if split >= 0 else ""
        answer_text = answer_text[:split].strip() if split >= 0 else answer_text
        answers = []
        if answer_text.startswith("#"):
            question["type"] = "numerical"
            for raw in [a for a in answer_text[1:].split("=") if a.strip()]:
                weight, raw = _gift_weight(raw.strip(), 1.0)
                value, feedback = _gift_comment(raw)
                number, _, tolerance = value.partition(":")
                answers.append(
                    {
                        "fraction": weight,
                        "value": float(number),
                        "tolerance": float(tolerance or 0),
                        "feedback": feedback,
                    }
                )
        elif "~" in answer_text:
            question["type"] = "multichoice"
            for raw in [a for a in answer_text.replace("=", "~=").split("~") if a.strip()]:
                raw = raw.strip()
                if raw.startswith("="):
                    weight, raw = 1.0, raw[1:]
                else:
                    weight, raw = _gift_weight(raw, 0.0)
                value, feedback = _gift_comment(raw)
                answers.append(
                    {"fraction": weight, "text": html.unescape(value), "feedback": feedback}
                )
        else:
            question["type"] = "shortanswer"
            for raw in [a for a in answer_text.split("=") if a.strip()]:
                weight, raw = _gift_weight(raw.strip(), 1.0)
                value, feedback = _gift_comment(raw)
                answers.append({"fraction": weight, "text": value, "feedback": feedback})
        question["answers"] = answers
        out.append(question)
    return out


# ---------------------------------------------------------------- expected sub-answers


def _numeric_targets(variant: Variant) -> list[tuple[str, float, float, tuple[int, int] | None]]:
    """(part id, value, absolute tolerance, cell) of every number the LMS must accept."""
    problem = variant.problem
    out = []
    for part in problem.parts:
        value = problem.answers[part.id]
        if part.answer_type in ("int", "number"):
            out.append((part.id, float(value), absolute_tolerance(part, float(value)), None))
        elif part.answer_type == "grid":
            for r, row in enumerate(value):
                for c, cell in enumerate(row):
                    out.append(
                        (part.id, float(cell), absolute_tolerance(part, float(cell)), (r, c))
                    )
    return out


def _check_text_answers(
    variant: Variant, right: list[str], wrong: list[tuple[str, str]], used: set[str]
) -> str:
    """Find the text part these answers belong to; check both sides against our grader."""
    problem = variant.problem
    for part in problem.parts:
        if part.id in used or part.answer_type in ("int", "number", "grid", "choice"):
            continue
        if all(_grade_part(problem, part.id, t).correct for t in right):
            assert right[0] == accepted_texts(part, problem.answers[part.id])[0]
            for text, feedback in wrong:
                _expect_diagnosis(problem, part.id, text, feedback)
            used.add(part.id)
            return part.id
    raise AssertionError((problem.kind, problem.seed, right))


# ---------------------------------------------------------------- Moodle XML


def _moodle_questions(data: bytes) -> list[tuple[str, ET.Element]]:
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<quiz>')
    root = ET.fromstring(data)
    assert root.tag == "quiz"
    out = []
    category = ""
    for question in root:
        assert question.tag == "question"
        if question.get("type") == "category":
            category = question.findtext("category/text") or ""
        else:
            out.append((category, question))
    return out


def test_moodle_has_a_category_per_item_and_a_question_per_variant(banks):
    data = moodle_xml(banks, "CNN/Week 3")
    root = ET.fromstring(data)
    categories = [q for q in root if q.get("type") == "category"]
    assert len(categories) == len(ITEMS)
    assert (
        categories[0].findtext("category/text")
        == "$course$/top/CNN/Week 3/Output shapes (difficulty 1)"
    )
    questions = _moodle_questions(data)
    assert len(questions) == len(ITEMS) * VARIANTS
    by_category: dict[str, int] = {}
    for category, _q in questions:
        by_category[category] = by_category.get(category, 0) + 1
    assert set(by_category.values()) == {VARIANTS}
    for (_category, question), variant in zip(questions, _variants(banks), strict=True):
        expected = (
            "numerical"
            if len(variant.problem.parts) == 1
            and variant.problem.parts[0].answer_type in ("int", "number")
            else "cloze"
        )
        assert question.get("type") == expected
        assert question.findtext("name/text") == variant.name
        assert question.findtext("idnumber") == variant.idnumber
        assert question.find("questiontext").get("format") == "html"
        assert "Worked solution" in question.findtext("generalfeedback/text")


def test_moodle_numerical_answers_are_the_solvers_with_misconception_answers(banks):
    seen_wrong = 0
    for (_c, question), variant in zip(
        _moodle_questions(moodle_xml(banks, "CNN")), _variants(banks), strict=True
    ):
        if question.get("type") != "numerical":
            continue
        problem = variant.problem
        part = problem.parts[0]
        answers = question.findall("answer")
        value = float(problem.answers[part.id])
        assert answers[0].get("fraction") == "100"
        assert float(answers[0].findtext("text")) == value
        assert float(answers[0].findtext("tolerance")) == absolute_tolerance(part, value)
        assert question.findtext("defaultgrade") == "2"
        for answer in answers[1:]:
            assert answer.get("fraction") == "0"
            _expect_diagnosis(
                problem, part.id, answer.findtext("text"), answer.findtext("feedback/text")
            )
            seen_wrong += 1
    assert seen_wrong > 0


def test_moodle_cloze_sub_answers_are_the_solvers_with_tolerances_and_misconceptions(banks):
    seen_wrong = {"NUMERICAL": 0, "SHORTANSWER": 0, "MULTICHOICE": 0}
    for (_c, question), variant in zip(
        _moodle_questions(moodle_xml(banks, "CNN")), _variants(banks), strict=True
    ):
        if question.get("type") != "cloze":
            continue
        problem = variant.problem
        subs = parse_cloze(question.findtext("questiontext/text"))
        numeric = _numeric_targets(variant)
        choices = [p for p in problem.parts if p.answer_type == "choice"]
        texts = [
            p for p in problem.parts if p.answer_type not in ("int", "number", "grid", "choice")
        ]
        assert len(subs) == len(numeric) + len(choices) + len(texts), (problem.kind, problem.seed)
        used: set[str] = set()
        for sub in subs:
            right = [a for a in sub["answers"] if a["fraction"] == 1.0]
            wrong = [a for a in sub["answers"] if a["fraction"] == 0.0]
            assert right and len(right) + len(wrong) == len(sub["answers"])
            seen_wrong[sub["type"]] += bool(wrong)
            if sub["type"] == "NUMERICAL":
                target = next(
                    t
                    for t in numeric
                    if t[1] == right[0]["value"] and t[2] == right[0]["tolerance"]
                )
                numeric.remove(target)
                part_id, _value, _tol, cell = target
                for a in wrong:
                    assert _named(a["feedback"])
                    if cell is None:
                        _expect_diagnosis(problem, part_id, number_text(a["value"]), a["feedback"])
            elif sub["type"] == "MULTICHOICE":
                part = next(p for p in choices if problem.answers[p.id] == right[0]["text"])
                choices.remove(part)
                assert [a["text"] for a in sub["answers"]] == list(part.choices)
                for a in wrong:
                    if _named(a["feedback"]):
                        _expect_diagnosis(problem, part.id, a["text"], a["feedback"])
            else:
                assert sub["type"] == "SHORTANSWER"
                _check_text_answers(
                    variant,
                    [a["text"] for a in right],
                    [(a["text"], a["feedback"]) for a in wrong],
                    used,
                )
        assert not numeric and not choices and used == {p.id for p in texts}
    assert all(seen_wrong.values()), seen_wrong


def test_cloze_weights_follow_the_points_of_parts_and_cells():
    assert cloze_weights([1, 1, 1]) == [1, 1, 1]
    assert cloze_weights([1 / 4] * 4 + [1, 2]) == [1, 1, 1, 1, 4, 8]
    assert cloze_weights([0.5, 1.5]) == [1, 3]


def test_cloze_escaping_round_trips_through_moodles_parser():
    sub = (
        "{1:SHORTANSWER:="
        + cloze_text(SPECIALS)
        + "#"
        + cloze_feedback(SPECIALS)
        + "~%0%"
        + cloze_text("x}y")
        + "#"
        + cloze_feedback("p~q")
        + "}"
    )
    [parsed] = parse_cloze("<p>before</p>" + sub + "<p>after</p>")
    assert parsed["answers"][0]["text"] == SPECIALS
    assert html.unescape(parsed["answers"][0]["feedback"]) == SPECIALS
    assert parsed["answers"][1]["text"] == "x}y"
    assert html.unescape(parsed["answers"][1]["feedback"]) == "p~q"


def _with_special_statement(variant: Variant) -> Variant:
    problem = variant.problem
    statement = ({"type": "text", "text": SPECIALS}, *problem.statement)
    parts = tuple(replace(p, prompt=p.prompt + " " + SPECIALS) for p in problem.parts)
    return replace(variant, problem=replace(problem, statement=statement, parts=parts))


def test_a_statement_with_markup_characters_survives_every_format(banks):
    numerical = next(
        v
        for v in _variants(banks)
        if len(v.problem.parts) == 1 and v.problem.parts[0].answer_type == "int"
    )
    cloze = next(v for v in _variants(banks) if v.problem.kind == "output_shape")
    special = [_with_special_statement(numerical), _with_special_statement(cloze)]
    bank = Bank(Item("output_shape", 1), 0, "A {weird} #name: ~x=y/z", tuple(special))
    plain_specials = html.escape(SPECIALS)

    questions = _moodle_questions(moodle_xml([bank], "CNN"))
    for (_c, question), variant in zip(questions, special, strict=True):
        text = question.findtext("questiontext/text")
        assert (
            plain_specials.replace("{", "&#123;")
            .replace("}", "&#125;")
            .replace("[", "&#91;")
            .replace("]", "&#93;")
            in text
        )
        if question.get("type") == "cloze":
            assert len(parse_cloze(text)) == len(variant.problem.parts)
        assert SPECIALS in html.unescape(text)

    parsed = parse_gift(gift_text([bank], "CNN").decode())
    assert parsed[0] == {
        "type": "category",
        "category": "$course$/top/CNN/A {weird} #name: ~x=y//z",
    }
    for question in parsed[1:]:
        assert html.unescape(question["text"]).count(SPECIALS) == 2  # statement and prompt
        assert question["answers"] and question["answers"][0]["fraction"] == 1.0

    archive = zipfile.ZipFile(io.BytesIO(qti_zip([bank], "CNN")))
    xml_name = next(
        n
        for n in archive.namelist()
        if n.endswith(".xml") and "/" in n and not n.endswith("assessment_meta.xml")
    )
    items = ET.fromstring(archive.read(xml_name)).iter(QTI + "item")
    for item in items:
        text = item.find(f"{QTI}presentation/{QTI}material/{QTI}mattext").text
        assert SPECIALS in html.unescape(text)


# ---------------------------------------------------------------- GIFT


def test_gift_escape_table_round_trips():
    for text in [SPECIALS, "\\", "\\\\:", "a\nb", "\\neq \\{x\\}", ":::", "####"]:
        [question] = parse_gift(
            "::"
            + gift_escape(text)
            + "::"
            + gift_escape(text)
            + "{="
            + gift_escape(text)
            + "#"
            + gift_escape(text)
            + "}"
        )
        assert question["name"] == text
        assert question["text"] == text.strip()
        assert question["answers"][0]["text"] == text.strip()
        assert question["answers"][0]["feedback"] == text.strip()


def test_gift_has_a_question_per_part_and_the_solvers_answers(banks):
    parsed = parse_gift(gift_text(banks, "CNN").decode())
    categories = [q for q in parsed if q["type"] == "category"]
    assert len(categories) == len(ITEMS)
    questions = iter(q for q in parsed if q["type"] != "category")
    seen_wrong = 0
    for variant in _variants(banks):
        problem = variant.problem
        used: set[str] = set()
        for part in problem.parts:
            value = problem.answers[part.id]
            cells = (
                [
                    (r, c)
                    for r in range(grid_size(part, value)[0])
                    for c in range(grid_size(part, value)[1])
                ]
                if part.answer_type == "grid"
                else [None]
            )
            split = len(problem.parts) > 1 or part.answer_type == "grid"
            for cell in cells:
                question = next(questions)
                assert question["name"].startswith(variant.name)
                # A split question's feedback is its own answer; only a variant asked as
                # one question carries the whole worked solution.
                assert ("Worked solution" in question["general"]) == (not split)
                if split:
                    own = value if cell is None else value[cell[0]][cell[1]]
                    shown = (
                        number_roundings(part, float(own))[0]
                        if cell is not None
                        else accepted_texts(part, own)[0]
                    )
                    assert _plain(question["general"]) == f"Answer: {shown}"
                right = [a for a in question["answers"] if a["fraction"] == 1.0]
                wrong = [a for a in question["answers"] if a["fraction"] == 0.0]
                assert len(right) + len(wrong) == len(question["answers"])
                seen_wrong += bool(wrong)
                if part.answer_type in ("int", "number", "grid"):
                    assert question["type"] == "numerical"
                    number = float(value if cell is None else value[cell[0]][cell[1]])
                    assert len(right) == 1 and right[0]["value"] == number
                    assert right[0]["tolerance"] == absolute_tolerance(part, number)
                    for a in wrong:
                        assert _named(a["feedback"])
                        if cell is None:
                            _expect_diagnosis(
                                problem, part.id, number_text(a["value"]), a["feedback"]
                            )
                elif part.answer_type == "choice":
                    assert question["type"] == "multichoice"
                    assert [a["text"] for a in right] == [value]
                    assert [a["text"] for a in question["answers"]] == list(part.choices)
                else:
                    assert question["type"] == "shortanswer"
                    _check_text_answers(
                        variant,
                        [a["text"] for a in right],
                        [(a["text"], a["feedback"]) for a in wrong],
                        used,
                    )
    assert next(questions, None) is None
    assert seen_wrong > 0


def _gift_groups(banks: list[Bank], data: bytes) -> Iterator[tuple[Variant, list[dict[str, Any]]]]:
    """Each variant with its GIFT questions (one per part, per cell for a grid part)."""
    questions = iter(q for q in parse_gift(data.decode()) if q["type"] != "category")
    for variant in _variants(banks):
        problem = variant.problem
        count = sum(
            grid_size(p, problem.answers[p.id])[0] * grid_size(p, problem.answers[p.id])[1]
            if p.answer_type == "grid"
            else 1
            for p in problem.parts
        )
        yield variant, [next(questions) for _ in range(count)]
    assert next(questions, None) is None


def _answer_texts(question: dict[str, Any]) -> set[str]:
    """The ways a GIFT question's right answer is written (a number as the solution and
    the answer list print it: 1040, 5.1667)."""
    right = [a for a in question["answers"] if a["fraction"] == 1.0]
    if question["type"] == "numerical":
        return {number_text(right[0]["value"]), format_number(right[0]["value"])}
    return {html.unescape(a["text"]) for a in right}


def _without_thousands(text: str) -> str:
    """`1{,}040` (LaTeX) and `1,040` as `1040`."""
    return re.sub(r"(?<=[0-9])(?:\{,\}|,)(?=[0-9]{3})", "", text)


def _mentions(text: str, answer: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(answer)}(?![\w.])", text) is not None


def test_gift_split_questions_feedback_gives_away_no_other_questions_answer(banks):
    """GIFT asks each part (each grid cell) of a variant as its own question, and a quiz may
    show a question's feedback as soon as it is checked: no feedback may state the answer
    of another question of the same variant (the worked solution and its answer list did)."""
    extra = build_banks(parse_items([{"kind": "param_count", "difficulty": 2}]), 3, 0)
    groups = 0
    for some in (banks, extra):
        for variant, questions in _gift_groups(some, gift_text(some, "CNN")):
            if len(questions) == 1:
                assert "Worked solution" in questions[0]["general"]
                continue
            groups += 1
            answers = [_answer_texts(q) for q in questions]
            for k, question in enumerate(questions):
                feedback = _without_thousands(_plain(question["general"]))
                for own in sorted(answers[k], key=len, reverse=True):
                    feedback = feedback.replace(own, " ")
                for j, others in enumerate(answers):
                    if j == k or others & answers[k]:
                        continue  # the same answer, given away only by being this one's
                    leaked = [t for t in others if _mentions(feedback, t)]
                    assert not leaked, (variant.name, question["name"], questions[j]["name"])
    assert groups > 0


def test_gift_repeats_no_worked_solution_across_split_questions(banks):
    # Each split question used to carry the whole worked solution: the demo set at 20
    # variants was 7.6 MB of GIFT against 2.8 MB of Moodle XML, which has one per variant.
    # Now all of GIFT's general feedback together is less than Moodle XML's.
    gift = sum(
        len(q["general"])
        for q in parse_gift(gift_text(banks, "CNN").decode())
        if q["type"] != "category"
    )
    moodle = sum(
        len(q.findtext("generalfeedback/text"))
        for _c, q in _moodle_questions(moodle_xml(banks, "CNN"))
    )
    assert 0 < gift < moodle


# ---------------------------------------------------------------- QTI


def test_qti_manifest_references_files_that_exist_and_parse(banks):
    archive = zipfile.ZipFile(io.BytesIO(qti_zip(banks, "CNN")))
    names = set(archive.namelist())
    manifest = ET.fromstring(archive.read("imsmanifest.xml"))
    ns = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
    resources = manifest.findall(f"{ns}resources/{ns}resource")
    qti = [r for r in resources if r.get("type") == "imsqti_xmlv1p2"]
    assert len(qti) == len(ITEMS)
    identifiers = {r.get("identifier") for r in resources}
    for resource in resources:
        for file in resource.findall(f"{ns}file"):
            assert file.get("href") in names
            ET.fromstring(archive.read(file.get("href")))
        for dependency in resource.findall(f"{ns}dependency"):
            assert dependency.get("identifierref") in identifiers
    assert names == {"imsmanifest.xml"} | {
        f.get("href") for r in resources for f in r.findall(f"{ns}file")
    }


def _qti_items(banks: list[Bank]) -> list[ET.Element]:
    archive = zipfile.ZipFile(io.BytesIO(qti_zip(banks, "CNN")))
    manifest = ET.fromstring(archive.read("imsmanifest.xml"))
    items = []
    for resource in manifest.iter():
        if resource.get("type") == "imsqti_xmlv1p2":
            href = resource[0].get("href")
            root = ET.fromstring(archive.read(href))
            assert root.tag == QTI + "questestinterop"
            group = root.find(f"{QTI}assessment/{QTI}section/{QTI}section")
            assert (
                group.findtext(f"{QTI}selection_ordering/{QTI}selection/{QTI}selection_number")
                == "1"
            )
            found = group.findall(QTI + "item")
            assert len(found) == VARIANTS
            items += found
    return items


def _metadata(item: ET.Element) -> dict[str, str]:
    return {
        f.findtext(QTI + "fieldlabel"): f.findtext(QTI + "fieldentry") or ""
        for f in item.iter(QTI + "qtimetadatafield")
    }


def test_qti_items_hold_the_solvers_answers_by_answer_type(banks):
    items = _qti_items(banks)
    assert len(items) == len(ITEMS) * VARIANTS
    types = set()
    for item, variant in zip(items, _variants(banks), strict=True):
        problem = variant.problem
        meta = _metadata(item)
        types.add(meta["question_type"])
        assert float(meta["points_possible"]) == 2.0
        assert item.get("title") == variant.name
        processing = item.find(QTI + "resprocessing")
        if meta["question_type"] == "numerical_question":
            part = problem.parts[0]
            value = float(problem.answers[part.id])
            tol = absolute_tolerance(part, value)
            assert float(processing.find(f".//{QTI}varequal").text) == value
            assert float(processing.find(f".//{QTI}vargte").text) == pytest.approx(value - tol)
            assert float(processing.find(f".//{QTI}varlte").text) == pytest.approx(value + tol)
        elif meta["question_type"] == "multiple_choice_question":
            part = problem.parts[0]
            labels = {
                lab.get("ident"): html.unescape(lab.find(f".//{QTI}mattext").text)
                for lab in item.iter(QTI + "response_label")
            }
            scored = [
                c
                for c in processing.findall(QTI + "respcondition")
                if c.find(QTI + "setvar") is not None
            ]
            assert [labels[c.find(f".//{QTI}varequal").text] for c in scored] == [
                problem.answers[part.id]
            ]
        else:
            assert meta["question_type"] == "fill_in_multiple_blanks_question"
            text = item.find(f"{QTI}presentation/{QTI}material/{QTI}mattext").text
            lids = item.findall(f"{QTI}presentation/{QTI}response_lid")
            numeric_cells = sum(len(t) for t in [_numeric_targets(variant)])
            expected = numeric_cells + sum(
                p.answer_type not in ("int", "number", "grid") for p in problem.parts
            )
            assert len(lids) == expected
            total = 0.0
            for lid in lids:
                blank = lid.findtext(f"{QTI}material/{QTI}mattext")
                assert f"[{blank}]" in text
                accepted = [
                    lab.findtext(f"{QTI}material/{QTI}mattext")
                    for lab in lid.iter(QTI + "response_label")
                ]
                part = next((p for p in problem.parts if blank == p.id), None) or next(
                    p
                    for p in problem.parts
                    if p.answer_type == "grid" and blank.startswith(p.id + "_")
                )
                if part.answer_type == "grid":
                    r, c = (int(v) for v in blank[len(part.id) + 1 :].split("_"))
                    cell = float(problem.answers[part.id][r][c])
                    assert all(part.tolerance.accepts(float(t), cell) for t in accepted)
                else:
                    assert all(_grade_part(problem, part.id, t).correct for t in accepted), (
                        blank,
                        accepted,
                    )
                conditions = [
                    c
                    for c in processing.findall(QTI + "respcondition")
                    if c.find(f".//{QTI}varequal") is not None
                    and c.find(f".//{QTI}varequal").get("respident") == lid.get("ident")
                ]
                assert len(conditions) == len(accepted)
                total += float(conditions[0].findtext(QTI + "setvar"))
            assert total == pytest.approx(100, abs=0.01)
    assert {"numerical_question", "fill_in_multiple_blanks_question"} <= types


def test_qti_general_feedback_lists_misconception_answers(banks):
    items = _qti_items(banks)
    mentioned = 0
    for item, variant in zip(items, _variants(banks), strict=True):
        feedback = item.find(f"{QTI}itemfeedback[@ident='general_fb']//{QTI}mattext").text
        assert "Worked solution" in feedback
        wrong = [
            w
            for pid, ws in variant.wrong.items()
            for w in ws
            if variant.problem.part(pid).answer_type != "grid"
        ]
        if wrong:
            assert html.escape(wrong[0].misconception.name) in feedback
            mentioned += 1
    assert mentioned > 0


def _one_part(kind: str, difficulty: int, part_id: str) -> Variant:
    """A variant cut down to one part (no kind has one-choice or one-decimal variants yet)."""
    problem = kinds.generate(kind, difficulty, 3)
    problem = replace(problem, parts=(problem.part(part_id),))
    return Variant(
        Item(kind, difficulty, 1.5),
        1,
        problem,
        tuple(kinds.worked_solution(problem)),
        wrong_answers(problem),
    )


def test_one_choice_and_one_decimal_variants_get_their_own_question_types():
    choice = _one_part("global_pooling", 1, "larger_avg")
    decimal = _one_part("global_pooling", 1, "avg_0")
    assert choice.wrong and decimal.wrong
    bank = Bank(Item("global_pooling", 1, 1.5), 0, "One part", (choice, decimal))

    (_c, mc), (_c2, numerical) = _moodle_questions(moodle_xml([bank], "CNN"))
    assert mc.get("type") == "cloze" and numerical.get("type") == "numerical"
    [sub] = parse_cloze(mc.findtext("questiontext/text"))
    assert sub["type"] == "MULTICHOICE"
    assert [a["text"] for a in sub["answers"] if a["fraction"] == 1] == [
        choice.problem.answers["larger_avg"]
    ]
    part = decimal.problem.parts[0]
    value = decimal.problem.answers["avg_0"]
    answers = numerical.findall("answer")
    assert float(answers[0].findtext("tolerance")) == pytest.approx(max(0.01, 0.001 * value))
    assert float(answers[0].findtext("tolerance")) == absolute_tolerance(part, value)
    for answer in answers[1:]:
        _expect_diagnosis(
            decimal.problem, "avg_0", answer.findtext("text"), answer.findtext("feedback/text")
        )

    [mc_item, number_item] = _qti_items_of(bank)
    assert _metadata(mc_item)["question_type"] == "multiple_choice_question"
    assert _metadata(number_item)["question_type"] == "numerical_question"
    assert float(number_item.find(f".//{QTI}vargte").text) == pytest.approx(
        value - absolute_tolerance(part, value)
    )
    choice_feedback = [
        f for f in mc_item.findall(QTI + "itemfeedback") if f.get("ident") != "general_fb"
    ]
    assert choice_feedback and all(_named(f.find(f".//{QTI}mattext").text) for f in choice_feedback)

    [gift_mc, gift_number] = [
        q for q in parse_gift(gift_text([bank], "CNN").decode()) if q["type"] != "category"
    ]
    assert gift_mc["type"] == "multichoice" and gift_number["type"] == "numerical"
    assert gift_number["answers"][0]["tolerance"] == absolute_tolerance(part, value)


def _qti_items_of(bank: Bank) -> list[ET.Element]:
    archive = zipfile.ZipFile(io.BytesIO(qti_zip([bank], "CNN")))
    name = next(n for n in archive.namelist() if "/" in n and not n.endswith("assessment_meta.xml"))
    return list(ET.fromstring(archive.read(name)).iter(QTI + "item"))


# ---------------------------------------------------------------- the shared pieces


def test_every_accepted_text_is_accepted_by_our_grader(banks):
    for variant in _variants(banks):
        problem = variant.problem
        for part in problem.parts:
            if part.answer_type == "grid":
                continue
            for text in accepted_texts(part, problem.answers[part.id]):
                assert _grade_part(problem, part.id, text).correct, (problem.kind, part.id, text)


def test_wrong_answers_are_distinct_and_never_correct(banks):
    for variant in _variants(banks):
        problem = variant.problem
        assert variant.wrong == wrong_answers(problem)
        for part_id, wrong in variant.wrong.items():
            part = problem.part(part_id)
            texts = [tuple(accepted_texts(part, w.value)) for w in wrong]
            assert len(set(texts)) == len(texts)
            for w in wrong:
                if part.answer_type != "grid":
                    assert not _grade_part(
                        problem, part_id, accepted_texts(part, w.value)[0]
                    ).correct


def test_exports_are_deterministic_and_variants_differ_between_items():
    items = [{"kind": "param_count", "difficulty": 2}, {"kind": "param_count", "difficulty": 2}]
    for fmt in FORMATS:
        assert export(fmt, items, 2, 5) == export(fmt, items, 2, 5)
    banks = build_banks(parse_items(items), 2, 5)
    seeds = [v.problem.seed for b in banks for v in b.variants]
    assert len(set(seeds)) == 4
    assert [b.name for b in banks] == [
        "Parameter counts (difficulty 2)",
        "Parameter counts (difficulty 2) #2",
    ]


@pytest.mark.parametrize(
    ("items", "path"),
    [
        ([], "items"),
        ([{"kind": "nope", "difficulty": 1}], "items[0].kind"),
        ([{"kind": "output_shape", "difficulty": 4}], "items[0].difficulty"),
        ([{"kind": "output_shape", "difficulty": 1, "points": -1}], "items[0].points"),
        ([{"kind": "output_shape", "colour": "red"}], "items[0].colour"),
    ],
)
def test_bad_items_are_refused_with_a_field_path(items, path):
    from problems.errors import SpecError

    with pytest.raises(SpecError) as caught:
        export("moodle", items, 2, 0)
    assert caught.value.path == path


def test_cli_writes_each_format_and_refuses_bad_input(tmp_path, capsys):
    for fmt in FORMATS:
        out = tmp_path / f"bank{FORMATS[fmt][0]}"
        code = cli_main(
            [
                "--format",
                fmt,
                "--kind",
                "output_shape",
                "--difficulty",
                "1",
                "--variants",
                "3",
                "--seed",
                "0",
                "-o",
                str(out),
            ]
        )
        assert code == 0 and out.stat().st_size > 0
    assert zipfile.is_zipfile(tmp_path / "bank.zip")
    items = tmp_path / "items.json"
    items.write_text(
        json.dumps([{"kind": "pooling_grid", "difficulty": 2, "points": 3, "title": "Pool it"}])
    )
    assert (
        cli_main(
            [
                "--format",
                "gift",
                "--items",
                str(items),
                "--variants",
                "2",
                "-o",
                str(tmp_path / "x.txt"),
            ]
        )
        == 0
    )
    assert "$CATEGORY: $course$/top/CNN arithmetic/Pool it" in (tmp_path / "x.txt").read_text()
    assert cli_main(["--format", "moodle", "--kind", "nope", "-o", str(tmp_path / "y.xml")]) == 2
    assert "unknown problem kind" in capsys.readouterr().err
    assert cli_main(["--format", "qti", "--items", str(tmp_path / "missing.json")]) == 2


def _cli(fmt: str, *extra: str) -> int:
    return cli_main(["--format", fmt, "--kind", "output_shape", "--variants", "1", *extra])


def test_cli_refuses_an_output_path_it_cannot_write_naming_the_option(tmp_path, capsys):
    for output, message in [
        (tmp_path, "is a folder; give a file name in it"),
        (tmp_path / "missing" / "bank.xml", "does not exist"),
    ]:
        assert _cli("moodle", "-o", str(output)) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: -o/--output: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_replaces_a_file_whole_or_not_at_all(tmp_path, monkeypatch, capsys):
    out = tmp_path / "bank.txt"
    out.write_text("the earlier bank")

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("problems.exports.output.os.replace", disk_full)
    assert _cli("gift", "-o", str(out)) == 2
    assert "error: -o/--output: cannot write" in capsys.readouterr().err
    assert out.read_text() == "the earlier bank" and [p.name for p in tmp_path.iterdir()] == [
        "bank.txt"
    ]  # the temporary file is gone too
    monkeypatch.undo()
    assert _cli("gift", "-o", str(out)) == 0
    assert out.read_text().startswith("// ")
    plain = tmp_path / "plain.txt"
    plain.write_text("")  # a new file gets the permissions open() gives, not mkstemp's 0600
    fresh = tmp_path / "fresh.txt"
    assert _cli("gift", "-o", str(fresh)) == 0
    assert fresh.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    out.chmod(0o640)  # a replaced file keeps its own
    assert _cli("gift", "-o", str(out)) == 0 and out.stat().st_mode & 0o777 == 0o640


class _Terminal(io.StringIO):
    """A standard output that says it is a terminal, with the byte buffer a pipe has."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()

    def isatty(self) -> bool:
        return True


def test_cli_does_not_write_a_zip_to_a_terminal(monkeypatch, capsys):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert _cli("qti") == 2
    assert terminal.buffer.getvalue() == b""
    err = capsys.readouterr().err
    assert err.startswith("error: -o/--output: a QTI bank is a zip file: give -o FILE.zip")
    assert _cli("gift") == 0 and terminal.buffer.getvalue().startswith(b"// ")  # text is fine


@pytest.mark.parametrize(
    ("data", "got"),
    [({"kind": "output_shape", "difficulty": 1}, "an object"), ([], "an empty list"), ("x", "a string")],
)
def test_cli_items_that_are_not_a_list_are_refused_as_items(tmp_path, capsys, data, got):
    items = tmp_path / "items.json"
    items.write_text(json.dumps(data))
    assert cli_main(["--format", "moodle", "--items", str(items), "-o", str(tmp_path / "b.xml")]) == 2
    assert capsys.readouterr().err == (
        f"error: items: expected a list of {{kind, difficulty, points?, title?}} objects, got {got}\n"
    )
    assert not (tmp_path / "b.xml").exists()


def test_items_may_be_wrapped_in_an_object_as_parse_items_documents():
    wrapped = {"items": [{"kind": "output_shape", "difficulty": 1}]}
    assert export("gift", wrapped, 1, 0) == export("gift", wrapped["items"], 1, 0)


def test_the_exports_package_imports_neither_flask_nor_sqlalchemy():
    code = (
        "import sys, problems.exports; "
        "print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_an_lms_hint_keeps_a_parts_own_example_without_separators():
    from problems.exports.common import hint
    from problems.kinds.base import Part, whole_number_hint

    assert hint(Part("size", "RF size", "int", hint_text=whole_number_hint(7))) == "a whole number, e.g. 7"
    assert hint(Part("big", "Count", "int", hint_text=whole_number_hint(12_345))) == "a whole number, e.g. 12345"
    assert hint(Part("params", "Param #", "int")) == "a whole number without separators, e.g. 18496"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"kind": "nope", "kind": "output_shape", "difficulty": 1}]',
         'items[0].kind: {name}: "kind" is given twice in one object'),
        ('[{"kind": "output_shape", "difficulty": 1, "points": NaN}]',
         "items[0].points: {name}: NaN is not a number"),
        ('[{"kind": "output_shape"}]', "items[0].difficulty: missing: give 1, 2 or 3"),
        ('[{"kind": "output_shape", "difficulty": 1, "title": "ctl \\u0001 x"}]',
         "items[0].title: must be one line of text, without control characters (found U+0001)"),
        ('[{"kind": "output_shape", "difficulty": 1, "title": "lone \\ud800"}]',
         "items[0].title: holds a lone UTF-16 surrogate (U+D800)"),
    ],
)
def test_cli_items_are_read_as_strict_json_and_titles_as_one_line(tmp_path, capsys, text, message):
    """What would give an LMS a file it cannot import (XML cannot hold U+0001) or crash the
    writer (a lone surrogate) is refused naming its place, with exit 2 and no file."""
    items = tmp_path / "items.json"
    items.write_text(text)
    out = tmp_path / "bank.xml"
    assert cli_main(["--format", "moodle", "--items", str(items), "-o", str(out)]) == 2
    assert capsys.readouterr().err.startswith(
        "error: " + message.format(name=items))
    assert not out.exists()


@pytest.mark.parametrize(("option", "value"), [("--title", "T\x01x"), ("--category", "C\x01x")])
def test_cli_refuses_a_control_character_in_a_title_or_category_naming_the_option(
        tmp_path, capsys, option, value):
    out = tmp_path / "bank.zip"
    assert _cli("qti", option, value, "-o", str(out)) == 2
    assert capsys.readouterr().err.startswith(f"error: {option}: must be one line")
    assert not out.exists()


# ---------------------------------------------------------------- what the exports promise

# Answer spellings our own parser reads but no exported field does (Moodle's and Canvas's
# number fields, the texts a Canvas blank lists): fractions and mixed numbers.
FRACTION_PROMISE = re.compile(r"\bfractions?\b|\bmixed numbers?\b|[0-9]+ ?/ ?[0-9]+", re.I)
AVERAGE_ITEMS = [
    {"kind": kind, "difficulty": d}
    for kind in ("pooling_grid", "global_pooling")
    for d in kinds.DIFFICULTIES
]


@pytest.fixture(scope="module")
def average_banks() -> list[Bank]:
    return build_banks(parse_items(AVERAGE_ITEMS), 30, 1)


def _exported_texts(fmt: str, banks: list[Bank]) -> list[str]:
    """What a student reads of each exported question (statement, prompts and hints),
    without its answer fields."""
    if fmt == "moodle":
        return [
            _plain(_CLOZE.sub(" ", q.findtext("questiontext/text")))
            for _c, q in _moodle_questions(moodle_xml(banks, "CNN"))
        ]
    if fmt == "gift":
        parsed = parse_gift(gift_text(banks, "CNN").decode())
        return [_plain(q["text"]) for q in parsed if q["type"] != "category"]
    archive = zipfile.ZipFile(io.BytesIO(qti_zip(banks, "CNN")))
    texts = []
    for name in archive.namelist():
        if "/" in name and not name.endswith("assessment_meta.xml"):
            for item in ET.fromstring(archive.read(name)).iter(QTI + "item"):
                text = item.find(f"{QTI}presentation/{QTI}material/{QTI}mattext").text
                texts.append(_plain(re.sub(r"\[\w+\]", " ", text)))
    return texts


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_no_export_promises_fractions_its_fields_refuse(fmt, banks, average_banks):
    """The live statement of an average says "to 2 decimal places or as fractions (e.g.
    13/3)", which our parser keeps; no export's number field takes 13/3."""
    texts = _exported_texts(fmt, banks) + _exported_texts(fmt, average_banks)
    promised = [t for t in texts if FRACTION_PROMISE.search(t)]
    assert not promised, promised[0]
    averages = [t for t in _exported_texts(fmt, average_banks) if "Average pooling of the" in t]
    assert len(averages) >= 10
    for text in averages:
        assert "Averages to 2 decimal places." in text
        assert "rounded to 2 decimal places" in text  # the hint of the grid or its cell
    means = [t for t in _exported_texts(fmt, average_banks) if "global average pooling" in t]
    assert means and all("Averages to 2 decimal places." in t for t in means)


def test_no_kinds_live_words_keep_a_fraction_promise_in_an_export():
    """Every kind at every difficulty: the statement, prompts and hints as exported hold
    no fraction, though the live ones do (pooling_grid, global_pooling, pooling_cost)."""
    live = exported = 0
    for kind in kinds.KINDS:
        for difficulty in kinds.DIFFICULTIES:
            for seed in range(40):
                problem = kinds.generate(kind, difficulty, seed)
                words = [b.get("text", "") for b in problem.statement if b.get("type") == "text"]
                words += [p.hint for p in problem.parts] + [p.prompt for p in problem.parts]
                live += any(FRACTION_PROMISE.search(w) for w in words)
                text = _plain(question_html(problem, lambda p: ""))
                exported += bool(FRACTION_PROMISE.search(text))
                assert not FRACTION_PROMISE.search(text), (kind, difficulty, seed, text)
                for part in problem.parts:
                    assert not FRACTION_PROMISE.search(hint(part)), (kind, part.id)
    assert live > 0 and exported == 0


def test_lms_text_cuts_fraction_promises_however_worded():
    assert lms_text("Averages to 2 decimal places or as fractions (e.g. 13/3).") == (
        "Averages to 2 decimal places."
    )
    assert lms_text("Its mean. Averages to 2 decimal places or as fractions.") == (
        "Its mean. Averages to 2 decimal places."
    )
    assert lms_text("a number or fraction, right to within 1%, e.g. 1.75 or 7/4") == (
        "a decimal number, right to within 1%, e.g. 1.75"
    )
    assert lms_text("Give it as a decimal or a mixed number.") == "Give it as a decimal."
    for kept in ["dL/dy", "ceil(in / stride)", "A / B", "Output Shape", SPECIALS]:
        assert lms_text(kept) == kept


def _as_the_hint_says(precision: str, value: float) -> list[str]:
    """`value` written as `tolerance_text` asks: rounded (half up or half to even) or cut."""
    exact = Decimal(repr(float(value)))
    if precision == "rounded to a whole number":
        exponent = 0
    elif match := re.fullmatch(r"rounded to ([0-9]+) decimal places?", precision):
        exponent = -int(match.group(1))
    else:
        match = re.fullmatch(r"rounded to ([0-9]+) significant figures?", precision)
        assert match, precision
        exponent = exact.adjusted() - int(match.group(1)) + 1 if exact else 0
    step = Decimal(1).scaleb(exponent)
    return [
        format(exact.quantize(step, mode), "f")
        for mode in (ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_DOWN)
    ]


def test_a_decimal_written_as_its_hint_asks_is_right_in_every_format(banks, average_banks):
    """The hint of a decimal part (or grid) names its precision, and a number written that
    way, rounded half up or cut (5.13 for 5.125, 5.16 for 31/6), is right both where the
    LMS compares numbers (Moodle, GIFT, Canvas numerical) and where it compares texts
    (Canvas blanks: `number_roundings`)."""
    seen = set()
    for variant in [*_variants(banks), *_variants(average_banks)]:
        problem = variant.problem
        for part in problem.parts:
            value = problem.answers[part.id]
            if part.answer_type == "number":
                values = [float(value)]
            elif part.answer_type == "grid":
                values = [float(v) for row in value for v in row]
            else:
                continue
            precision = tolerance_text(part.tolerance)
            if not precision:
                assert all(float(v).is_integer() for v in values), (problem.kind, part.id)
                continue
            assert precision in hint(part), (problem.kind, part.id, hint(part))
            seen.add(precision)
            for v in values:
                listed = number_roundings(part, v)
                for text in _as_the_hint_says(precision, v):
                    assert part.tolerance.accepts(float(text), v), (problem.kind, v, text)
                    short = text.rstrip("0").rstrip(".") if "." in text else text
                    assert text in listed or short in listed, (
                        problem.kind,
                        part.id,
                        v,
                        text,
                        listed,
                    )
    assert seen == {"rounded to 2 decimal places", "rounded to 3 significant figures"}
