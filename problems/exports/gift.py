"""GIFT, Moodle's plain-text question format: a `$CATEGORY:` line per item, then questions.

A one-number variant is one numerical question `{#=value:tolerance ...}` whose other answers
`=%0%wrong:tolerance#feedback` name misconceptions. GIFT has no multi-part question, so a
multi-part variant becomes one question per part (per cell for a grid), each repeating the
statement (as `[html]`) with the asked cell marked `?`. Such a split question's general
feedback is its own answer only: a quiz may show it as soon as that question is checked,
in any order, so the worked solution (which states every part's answer) would give the
other questions away; a one-question variant keeps the whole worked solution. GIFT
carries no marks: every question imports with Moodle's default mark. Format:
https://docs.moodle.org/en/GIFT_format; the parser is question/format/gift/format.php.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from problems.exports.common import (
    Bank,
    Variant,
    WrongAnswer,
    absolute_tolerance,
    accepted_texts,
    category_path,
    cell_wrong_answers,
    misconception_feedback,
    number_text,
    own_answer_html,
    question_html,
    steps_html,
)
from problems.kinds.base import Part

_SPECIAL = "~=#{}:"


def gift_escape(text: str) -> str:
    """Escape GIFT's special characters (`~ = # { } :`, backslash) and newlines."""
    out = text.replace("\\", "\\\\")
    for ch in _SPECIAL:
        out = out.replace(ch, "\\" + ch)
    return out.replace("\r", "").replace("\n", "\\n")


def _feedback(plain: str) -> str:
    return gift_escape(html.escape(plain, quote=False))


def _numerical(part: Part, value: float, wrong: Sequence[tuple[float, str]]) -> str:
    answers = [
        f"={number_text(value)}:{number_text(absolute_tolerance(part, value))}"
        f"#{_feedback('Correct.')}"
    ]
    answers += [
        f"=%0%{number_text(w)}:{number_text(absolute_tolerance(part, w))}#{_feedback(note)}"
        for w, note in wrong
    ]
    return "#" + " ".join(answers)


def _choice(part: Part, right: str, wrong: Sequence[WrongAnswer]) -> str:
    notes: dict[str, str] = {}
    for w in wrong:
        notes.setdefault(str(w.value), misconception_feedback(w.misconception))
    answers = []
    for choice in part.choices:
        if choice == right:
            answers.append(f"={gift_escape(html.escape(choice))}#{_feedback('Correct.')}")
        else:
            answers.append(
                f"~{gift_escape(html.escape(choice))}#{_feedback(notes.get(choice, 'Not right.'))}"
            )
    return " ".join(answers)


def _short(part: Part, correct: object, wrong: Sequence[WrongAnswer]) -> str:
    right = accepted_texts(part, correct)
    answers = [f"={gift_escape(t)}#{_feedback('Correct.')}" for t in right]
    seen = set(right)
    for w in wrong:
        for t in accepted_texts(part, w.value):
            if t not in seen:
                seen.add(t)
                answers.append(
                    f"=%0%{gift_escape(t)}#{_feedback(misconception_feedback(w.misconception))}"
                )
    return " ".join(answers)


def _question(name: str, text: str, answers: str, feedback: str) -> str:
    """`::name::[html]text{answers ####feedback}`, all escaped."""
    return (
        f"::{gift_escape(name)}::[html]{gift_escape(text)}{{{answers} ####{gift_escape(feedback)}}}"
    )


def variant_questions(variant: Variant) -> list[str]:
    """The GIFT questions of one variant: one, or one per part (per cell for grids)."""
    problem = variant.problem
    several = len(problem.parts) > 1
    split = several or problem.parts[0].answer_type == "grid"
    # Only a variant asked as one question may show the whole worked solution.
    whole = "" if split else steps_html(variant.steps, problem)
    out = []
    for part in problem.parts:
        correct = problem.answers[part.id]
        wrong = variant.wrong.get(part.id, ())

        def mark(p: Part, asked: str = part.id) -> str:
            return "<b>?</b>" if p.id == asked else ""

        text = question_html(problem, mark, ask=[part], list_placed=True, after=lambda p: "")
        name = f"{variant.name} {part.id}" if several else variant.name
        kind = part.answer_type
        if kind == "grid":
            cells = cell_wrong_answers(part, correct, wrong)
            for r, row in enumerate(correct):
                for c, value in enumerate(row):
                    misses = [
                        (float(w.value), misconception_feedback(w.misconception, cell=True))
                        for w in cells.get((r, c), [])
                    ]
                    where = f"<p>Give row {r}, column {c} of this grid (counting from 0).</p>"
                    out.append(
                        _question(
                            f"{name} [{r},{c}]",
                            text + where,
                            _numerical(part, float(value), misses),
                            own_answer_html(part, value),
                        )
                    )
            continue
        if kind in ("int", "number"):
            misses = [(float(w.value), misconception_feedback(w.misconception)) for w in wrong]
            answers = _numerical(part, float(correct), misses)
        elif kind == "choice":
            answers = _choice(part, str(correct), wrong)
        else:
            answers = _short(part, correct, wrong)
        out.append(
            _question(name, text, answers, own_answer_html(part, correct) if split else whole)
        )
    return out


def gift_text(banks: Sequence[Bank], category: str) -> bytes:
    """The GIFT file: per bank a `$CATEGORY:` line and its questions, blank lines between."""
    chunks = []
    for bank in banks:
        chunks.append(
            f"// {bank.name}: {len(bank.variants)} variants\n"
            f"$CATEGORY: {category_path(category, bank.name)}"
        )
        for variant in bank.variants:
            p = variant.problem
            seed_note = (
                f"// {variant.idnumber}: python -m problems generate --kind {p.kind} "
                f"--difficulty {p.difficulty} --seed {p.seed} --answers"
            )
            for question in variant_questions(variant):
                chunks.append(f"{seed_note}\n{question}")
    return ("\n\n".join(chunks) + "\n").encode("utf-8")
