"""Every registered kind at every difficulty: the quality bar of issue 3, checked the same way."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from problems import kinds, misconceptions
from problems.errors import SpecError
from problems.kinds.base import ANSWER_TYPES, format_answer

ROOT = Path(__file__).resolve().parents[2]
CASES = [(name, d) for name in kinds.KINDS for d in kinds.DIFFICULTIES]
SEEDS = range(120)


@pytest.mark.parametrize(("kind", "difficulty"), CASES)
def test_solution_grades_full_and_each_wrong_part_lower(kind, difficulty):
    for seed in SEEDS:
        problem = kinds.generate(kind, difficulty, seed)
        assert problem.parts, (kind, difficulty, seed)
        assert {p.id for p in problem.parts} == set(problem.answers)
        assert all(p.answer_type in ANSWER_TYPES and p.points > 0 for p in problem.parts)
        test = kinds.self_test(problem)
        full = kinds.grade(problem, test.correct)
        assert full.valid and full.fraction == pytest.approx(1.0), (kind, difficulty, seed, full.to_json())
        for part_id, answers in test.wrong.items():
            result = kinds.grade(problem, answers)
            assert result.valid, (kind, difficulty, seed, part_id)
            assert result.earned < full.earned, (kind, difficulty, seed, part_id, answers)
        for part_id, answers in test.unparseable.items():
            result = kinds.grade(problem, answers)
            assert not result.valid, (kind, difficulty, seed, part_id)
            bad = next(p for p in result.parts if p.id == part_id)
            assert bad.format_error and "xpected" in bad.format_error, bad.format_error


@pytest.mark.parametrize(("kind", "difficulty"), CASES)
def test_worked_solution_and_public_view_are_json_and_hold_no_answers(kind, difficulty):
    for seed in range(20):
        problem = kinds.generate(kind, difficulty, seed)
        steps = kinds.worked_solution(problem)
        assert steps and all(step.title for step in steps)
        json.dumps([s.to_json() for s in steps])
        public = json.dumps(problem.public())
        assert '"answers"' not in public and '"params"' not in public


@pytest.mark.parametrize("kind", list(kinds.KINDS))
@pytest.mark.parametrize("difficulty", [2, 3])
def test_at_least_95_percent_of_1000_seeds_are_distinct(kind, difficulty):
    prints = {kinds.generate(kind, difficulty, seed).fingerprint() for seed in range(1000)}
    assert len(prints) >= 950, len(prints)


def test_same_seed_gives_the_same_problem_in_a_fresh_process():
    code = (
        "import json, sys; from problems import kinds; "
        "print(json.dumps([[kinds.generate(k, d, s).public(), kinds.generate(k, d, s).answers] "
        "for k in kinds.KINDS for d in (1, 2, 3) for s in (0, 7, 2**40)], sort_keys=True))"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env={"PYTHONHASHSEED": str(h), "PATH": "/usr/bin:/bin"}, check=True).stdout
        for h in (1, 2)
    ]
    assert runs[0] == runs[1]
    here = [[kinds.generate(k, d, s).public(), kinds.generate(k, d, s).answers]
            for k in kinds.KINDS for d in (1, 2, 3) for s in (0, 7, 2**40)]
    assert json.loads(runs[0]) == json.loads(json.dumps(here, sort_keys=True))


@pytest.mark.parametrize(("kind", "difficulty", "seed", "path"), [
    ("no_such_kind", 1, 0, "kind"), ("output_shape", 4, 0, "difficulty"),
    ("output_shape", 1, -1, "seed"), ("output_shape", 1, 2**63, "seed"),
])
def test_generate_refuses_bad_triples(kind, difficulty, seed, path):
    with pytest.raises(SpecError) as info:
        kinds.generate(kind, difficulty, seed)
    assert info.value.path == path


def test_cli_generate_and_kinds():
    done = subprocess.run([sys.executable, "-m", "problems", "kinds"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and all(name in done.stdout for name in kinds.KINDS)
    for name in kinds.KINDS:
        done = subprocess.run(
            [sys.executable, "-m", "problems", "generate", "--kind", name, "--difficulty", "2", "--seed", "3",
             "--json", "--answers"], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["kind"] == name and data["answers"] and data["worked_solution"]
    bad = subprocess.run([sys.executable, "-m", "problems", "generate", "--kind", "nope"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "kind: unknown problem kind" in bad.stderr


# Inline code, bold, emphasis and links: these texts are shown as plain text (web, API, exports).
MARKDOWN = re.compile(r"`|\*\*|__|(?<![\w\\])_[A-Za-z][^_\n]*_(?!\w)|\[[^\]\n]+\]\(")


def _plain_texts(value: Any, where: str = "") -> list[tuple[str, str]]:
    """Every string in a JSON value, with its key path; LaTeX under "math" is left out."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [t for k, v in value.items() if k != "math" for t in _plain_texts(v, f"{where}.{k}")]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _plain_texts(v, where)]
    return []


def test_misconception_names_and_explanations_hold_no_markdown():
    texts = _plain_texts([m.to_json() for m in misconceptions._ALL])
    assert len(texts) > 30
    assert [t for t in texts if MARKDOWN.search(t[1])] == []


@pytest.mark.parametrize(("kind", "difficulty"), CASES)
def test_statements_steps_and_feedback_hold_no_markdown(kind, difficulty):
    for seed in range(12):
        problem = kinds.generate(kind, difficulty, seed)
        shown = [problem.public(), [s.to_json() for s in kinds.worked_solution(problem)]]
        test = kinds.self_test(problem)
        parts = {p.id: p for p in problem.parts}
        named = [{**test.correct, **{i: format_answer(parts[i], v) for i, v in wrong.items() if i in parts}}
                 for _, wrong in vars(kinds.get(kind)).get("wrong_models", lambda _: ())(problem)]
        for texts in (test.correct, *test.wrong.values(), *named, {p.id: "7" for p in problem.parts},
                      {p.id: "x" for p in problem.parts}, {}):
            shown.append(kinds.grade(problem, texts).to_json())
        assert [t for t in _plain_texts(shown) if MARKDOWN.search(t[1])] == [], (kind, difficulty, seed)


def test_hints_and_wording_fit_the_quantity_and_both_the_page_and_typed_answers():
    for seed in range(40):
        problem = kinds.generate("receptive_field", 3, seed)
        for part in problem.parts:
            if part.answer_type == "int":
                assert "18,496" not in part.hint, (seed, part.id, part.hint)
        hints = {p.id: p.hint for p in problem.parts}
        assert hints.get("layers", "a whole number, e.g. 3") == "a whole number, e.g. 3"
        assert hints.get("size", "a whole number, e.g. 7") == "a whole number, e.g. 7"
    conv = kinds.generate("pool_vs_strided_conv", 3, 0)
    assert {p.id: p.hint for p in conv.parts}["conv_rf"] == "a whole number, e.g. 7"
    assert {p.id: p.hint for p in conv.parts}["conv_params"] == "a whole number, e.g. 18,496"

    for difficulty in kinds.DIFFICULTIES:
        grid = kinds.generate("pooling_grid", difficulty, 0)
        text = " ".join(b.get("text", "") for b in grid.public()["statement"])
        assert "Fill in the pooled output grid." in text and "one row per line" not in text
        assert "one row per line" in grid.parts[0].hint  # typed answers (API, exports) still told how
    gradient = kinds.generate("maxpool_gradient", 2, 0)
    assert all("one row per line" not in p.prompt for p in gradient.parts)

    moves = kinds.generate("shift_invariance", 1, 0)
    result = kinds.grade(moves, {**kinds.self_test(moves).correct, "invariant": ""})
    feedback = next(p for p in result.parts if p.id == "invariant").feedback
    assert feedback == 'No answer given: choose every choice that applies, or "none" if none does.'


@pytest.mark.parametrize(("kind", "difficulty"), CASES)
def test_a_negative_count_costs_nothing_in_every_whole_number_part(kind, difficulty):
    problem = kinds.generate(kind, difficulty, 0)
    right = kinds.self_test(problem).correct
    for part in problem.parts:
        if part.answer_type == "int":
            result = kinds.grade(problem, {**right, part.id: "\u2212864"})
            graded = next(p for p in result.parts if p.id == part.id)
            assert graded.format_error and graded.format_error.startswith("A count cannot be negative")
            assert not result.valid


ARABIC_INDIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


@pytest.mark.parametrize(("kind", "difficulty"), CASES)
def test_correct_answers_in_arabic_indic_or_fullwidth_digits_are_right(kind, difficulty):
    fullwidth = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
    for seed in range(10):
        problem = kinds.generate(kind, difficulty, seed)
        correct = kinds.self_test(problem).correct
        for table in (ARABIC_INDIC, fullwidth):
            typed = {pid: text.translate(table) for pid, text in correct.items()}
            result = kinds.grade(problem, typed)
            assert result.valid and result.fraction == pytest.approx(1.0), (kind, seed, typed)


@pytest.mark.parametrize(("kind", "difficulty"), CASES)
def test_none_with_another_choice_costs_nothing_in_every_choices_part(kind, difficulty):
    for seed in range(10):
        problem = kinds.generate(kind, difficulty, seed)
        right = kinds.self_test(problem).correct
        for part in problem.parts:
            if part.answer_type != "choices":
                continue
            label = next(c for c in part.choices if c.casefold() != "none")
            for typed in (f"{label}, none", f"none, {label}"):
                result = kinds.grade(problem, {**right, part.id: typed})
                graded = next(p for p in result.parts if p.id == part.id)
                assert not result.valid and graded.score == 0, (kind, seed, typed)
                assert "cannot be chosen together with other choices" in graded.format_error


def test_a_set_answer_says_how_many_items_are_right_stray_and_missing_but_not_which():
    problem = kinds.generate("maxpool_gradient", 1, 0)
    right = [tuple(c) for c in problem.answers["cells"]]
    assert len(right) >= 3
    stray = next((r, c) for r in range(9) for c in range(9) if (r, c) not in right)
    typed = ", ".join(f"({r}, {c})" for r, c in [*right[:2], stray])
    graded = kinds.grade(problem, {"cells": typed}).parts[0]
    missing = len(right) - 2
    assert graded.feedback == (f"2 of your 3 cells are right; 1 is not in the set; "
                               f"{missing} {'is' if missing == 1 else 'are'} missing.")
    assert str(stray) not in graded.feedback
    one = kinds.grade(problem, {"cells": f"({right[0][0]}, {right[0][1]})"}).parts[0]
    assert one.feedback == f"Your cell is right; {len(right) - 1} are missing." and 0 < one.score < 1

    moves = kinds.generate("shift_invariance", 1, 0)
    labels = [c for c in moves.parts[-1].choices if c not in moves.answers["invariant"]]
    wrong = kinds.grade(moves, {**kinds.self_test(moves).correct, "invariant": labels[0]})
    feedback = next(p for p in wrong.parts if p.id == "invariant").feedback
    assert feedback.startswith("Your choice does not apply")


@pytest.mark.parametrize("kind", ["output_shape", "param_count", "receptive_field",
                                  "pooling_cost", "pool_vs_strided_conv"])
def test_a_layer_table_says_what_its_labels_leave_out(kind):
    """A label lists only the settings that differ from the defaults: the layer tables say
    which defaults those are (padding "valid" above all), once per statement (under the
    last table), in the text and the page."""
    from problems.kinds.stacks import DEFAULTS_NOTE
    from problems.render import problem_text

    problem = kinds.generate(kind, 1, 3)
    stacks = [b for b in problem.statement if b["type"] == "stack"]
    assert stacks and [b["note"] for b in stacks] == [""] * (len(stacks) - 1) + [DEFAULTS_NOTE]
    assert 'padding "valid" (none)' in DEFAULTS_NOTE
    assert problem_text(problem).count(DEFAULTS_NOTE) == 1
