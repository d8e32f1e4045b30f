"""Parsing of student answers (accepted and refused forms) and scoring with tolerance."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from problems import answers
from problems.answers import (
    AnswerFormatError,
    Tolerance,
    parse_cell,
    parse_cells,
    parse_choice,
    parse_choices,
    parse_count,
    parse_grid,
    parse_grid_shaped,
    parse_int,
    parse_number,
    parse_range,
    parse_shape,
    score_grid,
    shape_examples,
)

POOLS = ["max", "average", "min"]


def refused(parse, text: str, *args, **kwargs) -> str:
    """The message of the AnswerFormatError that `parse` raises on `text`."""
    with pytest.raises(AnswerFormatError) as caught:
        parse(text, *args, **kwargs)
    assert caught.value.message == str(caught.value)
    return caught.value.message


# --- parse_int --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("55744", 55744),
        ("55,744", 55744),
        ("1,234,567", 1234567),
        ("55 744", 55744),
        ("55\u2009744", 55744),  # thin space
        ("55\u00a0744", 55744),  # no-break space
        ("55_744", 55744),
        (" +320 ", 320),
        ("-320", -320),
        ("\u2212320", -320),  # unicode minus
        ("320.0", 320),
        ("320.", 320),
        ("1e3", 1000),
        ("1.5E3", 1500),
        ("０３２０", 320),  # fullwidth digits
        ("٣٢٠", 320),  # Arabic-Indic digits: every script's decimal digits are read
        ("۱۵۳۶۰۰", 153600),  # Extended Arabic-Indic (Persian, Urdu)
        ("३२०", 320),  # Devanagari
        ("١٥٣٬٦٠٠", 153600),  # with the Arabic thousands separator
        ("0", 0),
    ],
)
def test_parse_int_accepts_common_spellings(text: str, expected: int) -> None:
    assert parse_int(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "No answer given"),
        ("   \n ", "No answer given"),
        ("320.5", "Expected a whole number"),
        ("1e-3", "Expected a whole number"),
        ("7/4", "is not a whole number"),
        ("5,5744", "groups of three digits"),
        ("55 74", "groups of three digits"),
        ("55,744 1", "groups of three digits"),
        ("1,234 567", "groups of three digits"),
        ("55744a", '"55744a" is not a whole number'),
        ("twelve", "is not a whole number"),
        ("inf", "is not a whole number"),
        ("1e999", "too large"),
        ("9" * 101, "too long"),
        ("1" * 10_001, "Answer too long"),
    ],
)
def test_parse_int_refuses_with_a_message_saying_what_is_expected(text: str, fragment: str) -> None:
    assert fragment in refused(parse_int, text)


@pytest.mark.parametrize("text", ["-864", "-1", "\u2212864", "-12,864", "-1e3"])
def test_a_negative_count_is_a_format_error_not_a_wrong_answer(text: str) -> None:
    assert parse_int(text) < 0  # a plain whole number may be negative
    message = refused(parse_count, text)
    assert message.startswith("A count cannot be negative") and answers.INT_HINT in message


def test_parse_count_reads_what_parse_int_reads_when_not_negative() -> None:
    for text in ("0", "-0", "55,744", "+320", "1e3"):
        assert parse_count(text) == parse_int(text)


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_parse_int_reads_back_what_python_writes(n: int) -> None:
    for text in (str(n), f"{n:,}", f"{n:_}", f"{n:,}".replace(",", " "), f"{n}.0"):
        assert parse_int(text) == n


# --- parse_number -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.75", 1.75),
        (".5", 0.5),
        ("-.5", -0.5),
        ("7/4", 1.75),
        ("7 / 4", 1.75),
        ("-3/2", -1.5),
        ("\u22123/2", -1.5),
        ("1.5/2", 0.75),
        ("1 3/4", 1.75),
        ("-1 3/4", -1.75),
        ("55,744", 55744.0),
        ("55 744", 55744.0),
        ("1.2e-3", 0.0012),
        ("3", 3.0),
        ("7\u20444", 1.75),  # fraction slash
    ],
)
def test_parse_number_accepts_decimals_fractions_and_mixed_numbers(
    text: str, expected: float
) -> None:
    assert parse_number(text) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "No answer given"),
        ("2b", '"2b" is not a number'),
        ("inf", "is not a number"),
        ("nan", "is not a number"),
        ("3/0", "Division by zero"),
        ("1 3/0", "Division by zero"),
        ("50%", "Percentages are not accepted"),
        ("1,75", "use a point for decimals"),
        ("3/-2", "is not a number"),
        ("1/2/3", "is not a number"),
        ("1.2.3", "is not a number"),
        ("--1", "is not a number"),
        ("1e400", "too large"),
        ("0x10", "is not a number"),
    ],
)
def test_parse_number_refuses_with_a_message(text: str, fragment: str) -> None:
    assert fragment in refused(parse_number, text)


@given(st.fractions(max_denominator=10**6).filter(lambda f: abs(f) < 10**9))
def test_parse_number_reads_fractions_exactly(value: Fraction) -> None:
    assert parse_number(f"{value.numerator}/{value.denominator}") == float(value)


# --- parse_shape ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "(None, 26, 26, 32)",
        "(26, 26, 32)",
        "(26, 26, 32,)",
        "26x26x32",
        "26X26X32",
        "26 x 26 x 32",
        "26\u00d726\u00d732",
        "26*26*32",
        "[26, 26, 32]",
        "26 26 32",
        "26,26,32",
        "(?, 26, 26, 32)",
        "batch, 26, 26, 32",
        "N x 26 x 26 x 32",
        "(-1, 26, 26, 32)",
        "[None, 26, 26, 32]",
        " ( 26 ,26 , 32 ) ",
        "torch.Size([26, 26, 32])",  # as PyTorch prints a shape
        "Size([26, 26, 32])",
        "TensorShape([None, 26, 26, 32])",  # as TensorFlow prints one
    ],
)
def test_parse_shape_accepts_common_spellings_and_drops_the_batch_dimension(text: str) -> None:
    assert parse_shape(text) == (26, 26, 32)


@pytest.mark.parametrize("text", ["(10,)", "10", "[10]", "(None, 10)"])
def test_parse_shape_reads_a_single_dimension(text: str) -> None:
    assert parse_shape(text) == (10,)


def test_parse_shape_keeps_a_leading_one_as_a_dimension() -> None:
    assert parse_shape("1x26x26x32") == (1, 26, 26, 32)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "No answer given"),
        ("(26, 26.5, 32)", '"26.5" is not a whole number'),
        ("(26, 0, 32)", "Sizes must be positive"),
        ("(26, -3, 32)", "Sizes must be positive; got -3"),
        ("(None,)", "No sizes given"),
        ("()", "No sizes given"),
        ("26,,32", "A size is missing"),
        ("26x26x", "A size is missing"),
        ("26 x None", "Only the first (batch) dimension"),
        ("(26, 26]", "The brackets do not match"),
        ("(26, 26, 16", "The brackets do not match"),
        ("26, 26)", "The brackets do not match"),
        ("torch.Size([26, 26, 32]", "The brackets do not match"),
        ("shape(26, 26, 32)", '"shape(26, 26, 32)" is not a shape we can read'),
        ("torch.Size((26, 26))", '"torch.Size((26, 26))" is not a shape we can read'),
        ("torch.Size([26, -3])", "Sizes must be positive; got -3"),
        ("((26, 26))", "Write the sizes in one pair of brackets"),
        ("[(26, 26)]", "Write the sizes in one pair of brackets"),
        ("twenty-six", '"twenty-six" is not a shape'),
        ("banana", '"banana" is not a shape'),
        ("26 x banana", '"banana" is not a whole number'),
        ("26.5", '"26.5" is not a whole number'),
    ],
)
def test_parse_shape_refuses_with_the_expected_format(text: str, fragment: str) -> None:
    message = refused(parse_shape, text)
    assert fragment in message
    if text:
        assert answers.SHAPE_HINT in message


HWC = answers.HWC_AXES


@pytest.mark.parametrize(
    ("text", "axes", "fragment"),
    [
        # An open size after the batch: how many sizes, named, and how many were given.
        ("(None, None, 12, 12, 8)", HWC,
         "Expected 3 sizes (height, width, channels), got 4 after the batch size."),
        ("(None, None, 8, 12, 12)", answers.CHW_AXES,
         "Expected 3 sizes (channels, height, width), got 4 after the batch size."),
        ("(12, 12, 8, None)", HWC, "Expected 3 sizes (height, width, channels), got 4."),
        ("(None, None, 12, 8)", HWC,
         "Only the first (batch) dimension may be left open: give all 3 sizes"),
        ("12, None, 8", HWC, "Only the first (batch) dimension may be left open: give all 3"),
        ("(None, None, 12, 12, 8)", (), "Only the first (batch) dimension may be left open."),
        ("(None, None)", HWC, "No sizes given"),
        # A leading 1 with one size too many: the batch written as 1, refused with a way out.
        ("(1, 12, 12, 8)", HWC, "Expected 3 sizes (height, width, channels), got 4: if the "
         "leading 1 is the batch size, write it as None, as in (None, 12, 12, 8), or leave it out."),
        ("1x12x12x8", HWC, "as in (None, 12, 12, 8)"),
        ("torch.Size([1, 8, 12, 12])", answers.CHW_AXES, "as in (None, 8, 12, 12)"),
        ("[1, 1152]", ("length",), "Expected 1 size (length), got 2: if the leading 1"),
    ],
)
def test_parse_shape_with_known_axes_says_how_many_sizes_are_expected(
    text: str, axes: tuple[str, ...], fragment: str
) -> None:
    assert fragment in refused(parse_shape, text, axes)


@pytest.mark.parametrize(
    ("text", "axes", "expected"),
    [
        ("(12, 12, 8)", HWC, (12, 12, 8)),
        ("(None, 12, 12, 8)", HWC, (12, 12, 8)),
        ("(1, 12, 12)", HWC, (1, 12, 12)),  # as many sizes as expected: a size of 1
        ("(None, 1, 12, 12, 8)", HWC, (1, 12, 12, 8)),  # the batch given: a wrong answer
        ("(12, 12, 8, 4)", HWC, (12, 12, 8, 4)),  # no leading 1: a wrong answer
        ("(1, 1, 12, 8)", ("length",), (1, 1, 12, 8)),  # three too many: a wrong answer
        ("(1, 12, 12, 8)", (), (1, 12, 12, 8)),  # axes unknown: read as typed
    ],
)
def test_parse_shape_with_known_axes_reads_every_other_shape_as_typed(
    text: str, axes: tuple[str, ...], expected: tuple[int, ...]
) -> None:
    assert parse_shape(text, axes) == expected


def test_parse_shape_ends_its_messages_with_the_hint_given() -> None:
    hint = f"Expected a shape such as {shape_examples(answers.CHW_AXES)}."
    assert hint == "Expected a shape such as 32x26x26 or (None, 32, 26, 26)."
    assert refused(parse_shape, "26 x banana", hint=hint).endswith(hint)
    assert shape_examples() in answers.SHAPE_HINT


# --- parse_grid -------------------------------------------------------------------------------

GRID = [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    "text",
    [
        "1 2\n3 4",
        "1 2\r\n3 4\r\n",
        "\n1 2\n\n3 4\n",
        "1, 2\n3, 4",
        "1,2\n3,4",
        "1\t2\n3\t4",
        "1 2; 3 4",
        "1 2;3 4;",
        "[[1,2],[3,4]]",
        "[[1, 2],\n [3, 4]]",
        "[ [1, 2] , [3, 4] ]",
        "[1, 2]\n[3, 4]",
        "[1, 2],\n[3, 4],",
        "1, 2,\n3, 4,",
        "1.0 2\n6/2 4e0",
    ],
)
def test_parse_grid_accepts_rows_and_cells_in_common_layouts(text: str) -> None:
    assert parse_grid(text) == GRID


def test_parse_grid_reads_fractions_decimals_and_negatives() -> None:
    assert parse_grid("7/4 .5\n-1 -3/2") == [[1.75, 0.5], [-1.0, -1.5]]


def test_parse_grid_reads_a_single_line_as_one_row() -> None:
    assert parse_grid("1 2 3") == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2\n3,4,5", "Row 2 has 3 cells; row 1 has 2."),
        ("1 2 3\n4", "Row 2 has 1 cell; row 1 has 3."),
        ("[1,2,3,4]", "A flat list is not a grid"),
        ("1 2\n3 2b", 'Row 2, cell 2: "2b" is not a number.'),
        ("1,,2", "Row 1, cell 2 is empty"),
        ("1 2\n[3 4", "Row 2 has unmatched brackets"),
        ("[[1,2],[3,4]", "Could not read the rows after row 1"),
        ("[[1,2],[3,4]]]", "Could not read the rows after row 2"),
        ("[[1,2] x [3,4]]", "Could not read the rows after row 1"),
        ("[[1,2],[3,4]", "Could not read the rows"),
        ("[[1,2],[]]", "Row 2 is empty"),
        ("1 2\n3 1/0", "Division by zero"),
        ("", "No answer given"),
        (";;\n", "No answer given"),
    ],
)
def test_parse_grid_refuses_naming_the_row_at_fault(text: str, message: str) -> None:
    assert message in refused(parse_grid, text)


def test_parse_grid_refuses_too_many_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers, "MAX_GRID_CELLS", 4)
    assert parse_grid("1 2\n3 4") == GRID
    assert "Grid too large" in refused(parse_grid, "1 2\n3 4\n5 6")


@given(
    st.lists(st.lists(st.integers(-1000, 1000), min_size=3, max_size=3), min_size=1, max_size=6),
    st.sampled_from([(" ", "\n"), (", ", "\n"), ("\t", "\n"), (" ", "; ")]),
)
def test_parse_grid_reads_back_rows_written_any_way(
    rows: list[list[int]], separators: tuple[str, str]
) -> None:
    cell_sep, row_sep = separators
    text = row_sep.join(cell_sep.join(str(v) for v in row) for row in rows)
    assert parse_grid(text) == rows
    assert parse_grid(str(rows)) == rows


# --- parse_grid_shaped ------------------------------------------------------------------------

GRID_2X3 = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize(
    "text",
    ["1 2 3\n4 5 6", "1 2 3 4 5 6", "1,2,3,4,5,6", "[1, 2, 3, 4, 5, 6]", "[[1,2,3],[4,5,6]]"],
)
def test_parse_grid_shaped_accepts_rows_or_all_cells_on_one_line(text: str) -> None:
    assert parse_grid_shaped(text, (2, 3)) == GRID_2X3


def test_parse_grid_reads_a_mixed_number_between_commas_as_one_cell() -> None:
    assert parse_grid_shaped("5 1/2, 2, 3\n4, 5, 6", (2, 3)) == [[5.5, 2, 3], [4, 5, 6]]
    assert parse_grid_shaped("1, 2 3\n4 5 6", (2, 3)) == GRID_2X3  # spaces still split


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 2\n3 4\n5 6", "Expected 2 rows of 3 cells (a 2x3 grid); got 3 rows of 2 cells."),
        ("1 2 3 4 5", "Expected 2 rows of 3 cells (a 2x3 grid); got 5 cells."),
        ("[1, 2, 3, 4, 5]", "Expected 2 rows of 3 cells (a 2x3 grid); got 5 cells."),
        ("1 2 3\n4 5", "got rows of different lengths. Row 2 has 2 cells; row 1 has 3."),
        ("1 2 3\n4 5 x", 'Row 2, cell 3: "x" is not a number'),
    ],
)
def test_parse_grid_shaped_refuses_the_wrong_shape_saying_which(text: str, message: str) -> None:
    assert message in refused(parse_grid_shaped, text, (2, 3))


def test_parse_grid_shaped_speaks_of_one_row_in_the_singular() -> None:
    message = refused(parse_grid_shaped, "1 2", (1, 3))
    assert message == "Expected 1 row of 3 cells (a 1x3 grid); got 2 cells."


def test_parse_grid_shaped_rejects_a_nonsense_shape_as_a_programmer_error() -> None:
    with pytest.raises(ValueError) as caught:
        parse_grid_shaped("1", (0, 1))
    assert not isinstance(caught.value, AnswerFormatError)


# --- parse_choice and parse_choices -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max", "max"),
        ("  MAX ", "max"),
        ("Average", "average"),
        ("a", "max"),
        ("A", "max"),
        ("(a)", "max"),
        ("a)", "max"),
        ("b.", "average"),
        ("(C)", "min"),
        ("b) average", "average"),
    ],
)
def test_parse_choice_accepts_the_label_or_its_letter(text: str, expected: str) -> None:
    assert parse_choice(text, POOLS) == expected


def test_parse_choice_prefers_a_label_over_a_letter_and_ignores_inner_spacing() -> None:
    choices = ["same", "valid", "a"]  # a choice that is a single letter turns letters off
    assert parse_choice("a", choices) == "a"
    assert "is not one of the choices" in refused(parse_choice, "b", choices)
    assert parse_choice("max   pooling", ["Max pooling", "Min pooling"]) == "Max pooling"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "No answer given"),
        ("sum", '"sum" is not one of the choices'),
        ("d", '"d" is not one of the choices'),
        ("(a", "is not one of the choices"),
        ("b) min", "is not one of the choices"),
        ("max, min", "is not one of the choices"),
    ],
)
def test_parse_choice_refuses_listing_the_choices(text: str, fragment: str) -> None:
    message = refused(parse_choice, text, POOLS)
    assert fragment in message
    if text:
        assert 'Expected one of "max", "average", "min" (or a letter a-c).' in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max", {"max"}),
        ("a, c", {"max", "min"}),
        ("a c", {"max", "min"}),
        ("max; min", {"max", "min"}),
        ("Max, min, MAX", {"max", "min"}),
        ("a,b,c", {"max", "average", "min"}),
    ],
)
def test_parse_choices_accepts_several_labels_or_letters(text: str, expected: set[str]) -> None:
    assert parse_choices(text, POOLS) == frozenset(expected)


def test_parse_choices_reads_labels_with_spaces_between_commas() -> None:
    choices = ["max pooling", "min pooling", "stride"]
    assert parse_choices("max pooling, stride", choices) == {"max pooling", "stride"}


@pytest.mark.parametrize("text", ["", "none", "None", " - "])
def test_parse_choices_reads_nothing_as_the_empty_set_only_when_allowed(text: str) -> None:
    assert parse_choices(text, POOLS, allow_empty=True) == frozenset()
    refused(parse_choices, text, POOLS)


MOVES = ["1 right", "1 down", "none"]  # "none" a choice of its own, as in shift invariance


@pytest.mark.parametrize("text", ["1 down, none", "none, 1 right", "None; b", "a, c", "c, a, b"])
@pytest.mark.parametrize("allow_empty", [False, True])
def test_parse_choices_refuses_a_none_choice_with_others(text: str, allow_empty: bool) -> None:
    message = refused(parse_choices, text, MOVES, allow_empty=allow_empty)
    assert message == ("\u201cnone\u201d cannot be chosen together with other choices: choose "
                       "\u201cnone\u201d alone, or only the choices that apply.")


@pytest.mark.parametrize("text", ["max, none", "none, a", "min; None", "average, -", "b, \u2205"])
def test_parse_choices_refuses_none_typed_with_choices_where_none_is_allowed(text: str) -> None:
    message = refused(parse_choices, text, POOLS, allow_empty=True)
    assert "cannot be chosen together with other choices" in message
    # Where an empty answer is not allowed, "none" is no choice at all.
    assert "is not one of the choices" in refused(parse_choices, text, POOLS)


def test_parse_choices_reads_none_alone_however_often_it_is_said() -> None:
    assert parse_choices("none", MOVES) == {"none"}
    assert parse_choices("c", MOVES) == {"none"}
    assert parse_choices("none, None", MOVES) == {"none"}
    assert parse_choices("none, empty", MOVES, allow_empty=True) == {"none"}
    assert parse_choices("none, none", POOLS, allow_empty=True) == frozenset()
    assert parse_choices("1 down, 1 right", MOVES) == {"1 down", "1 right"}


def test_means_nothing_names_the_words_for_no_choice() -> None:
    assert all(map(answers.means_nothing, ["none", " None ", "EMPTY", "-", "\u2205"]))
    assert not any(map(answers.means_nothing, ["1 down", "max", "no", "0"]))


@pytest.mark.parametrize("text", ["a, x", "max sum", "e"])
def test_parse_choices_refuses_an_unknown_choice(text: str) -> None:
    assert "is not one of the choices" in refused(parse_choices, text, POOLS)


def test_choices_that_collide_are_a_programmer_error() -> None:
    with pytest.raises(ValueError):
        parse_choice("a", ["Max", "max"])
    with pytest.raises(ValueError):
        parse_choices("a", [])


# --- parse_cell and parse_cells ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["(1, 2)", "(1,2)", "1,2", "1 2", "[1, 2]", " ( 1 , 2 ) "])
def test_parse_cell_accepts_a_pair(text: str) -> None:
    assert parse_cell(text) == (1, 2)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "No answer given"),
        ("(1, 2, 3)", "is not a cell"),
        ("(1, 2]", "is not a cell"),
        ("(1.5, 2)", "is not a cell"),
        ("r1c2", "is not a cell"),
        ("(-1, 2)", "A row cannot be negative"),
        ("(1, -2)", "A column cannot be negative"),
        ("(1, 12345678901)", "too large"),
    ],
)
def test_parse_cell_refuses_with_a_message(text: str, fragment: str) -> None:
    assert fragment in refused(parse_cell, text)


@pytest.mark.parametrize(
    "text",
    [
        "(0,1), (2,3)",
        "(0, 1) (2, 3)",
        "(0,1); (2,3)",
        "[(0, 1), (2, 3)]",
        "{(0, 1), (2, 3)}",
        "[[0, 1], [2, 3]]",
        "0,1; 2,3",
        "0 1\n2 3",
        "(0,1), (2,3), (0,1)",
    ],
)
def test_parse_cells_accepts_a_set_of_pairs(text: str) -> None:
    assert parse_cells(text) == frozenset({(0, 1), (2, 3)})


@pytest.mark.parametrize("text", ["", "none", "NONE", "[]", "{}"])
def test_parse_cells_reads_nothing_as_the_empty_set_only_when_allowed(text: str) -> None:
    assert parse_cells(text, allow_empty=True) == frozenset()
    assert "No cells given" in refused(parse_cells, text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("(0,1) x (2,3)", 'Could not read the cells after "(0,1)"'),
        ("[(0,1)", "Could not read the cells"),
        ("0,1,2,3", "is not a cell"),
        ("(0,1), (2)", "is not a cell"),
        ("(0,1), (-2,3)", "A row cannot be negative"),
    ],
)
def test_parse_cells_refuses_with_a_message(text: str, fragment: str) -> None:
    assert fragment in refused(parse_cells, text)


@pytest.mark.parametrize(
    ("text", "word"),
    [("none, (0, 1)", "none"), ("(0,1), (2, 3), None", "None"), ("0,1; none", "none"),
     ("empty\n(1, 2)", "empty"), ("\u2205 (0, 1)", "\u2205")],
)
def test_parse_cells_refuses_none_with_cells_where_none_is_allowed(text: str, word: str) -> None:
    assert refused(parse_cells, text, allow_empty=True) == (
        f"\u201c{word}\u201d cannot be given together with cells: answer \u201c{word}\u201d alone "
        "if there is no cell, or only the cells."
    )
    assert "cannot be given together" not in refused(parse_cells, text)  # none is no answer there
    assert "cannot be given together" not in refused(parse_cells, "(0,1), -", allow_empty=True)


def test_parse_cells_refuses_too_many_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers, "MAX_GRID_CELLS", 2)
    assert "Too many cells" in refused(parse_cells, "0,0; 0,1; 0,2")


# --- parse_range ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rows 3 to 9", (3, 9)),
        ("Rows: 3 to 9", (3, 9)),
        ("columns from 3 to 9", (3, 9)),
        ("from 3 to 9", (3, 9)),
        ("3-9", (3, 9)),
        ("3 - 9", (3, 9)),
        ("3\u20139", (3, 9)),  # en dash
        ("3..9", (3, 9)),
        ("3...9", (3, 9)),
        ("3 to 9", (3, 9)),
        ("3 through 9", (3, 9)),
        ("[3, 9]", (3, 9)),
        ("-2 to 4", (-2, 4)),
        ("[-2, 4]", (-2, 4)),
        ("-2..4", (-2, 4)),
        ("-2 - 4", (-2, 4)),
        ("-2-4", (-2, 4)),
        ("\u22122 to 4", (-2, 4)),
        ("-5 to -2", (-5, -2)),
        ("-5--2", (-5, -2)),
        ("4 to 4", (4, 4)),
        ("7", (7, 7)),
    ],
)
def test_parse_range_accepts_inclusive_ranges(text: str, expected: tuple[int, int]) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "No answer given"),
        ("9 to 3", "A range goes from low to high"),
        ("4 - -2", "A range goes from low to high"),
        ("(3, 9)", "is not a range"),  # an open interval? refused rather than guessed
        ("3:9", "is not a range"),  # a Python slice excludes its end: refused rather than guessed
        ("3 9", "is not a range"),
        ("3 to", "is not a range"),
        ("3.5 to 9", "is not a range"),
        ("1 to 12345678901", "too large"),
    ],
)
def test_parse_range_refuses_with_a_message(text: str, fragment: str) -> None:
    assert fragment in refused(parse_range, text)


# --- digits of every script ------------------------------------------------------------------


def test_every_scripts_decimal_digits_are_read_as_digits() -> None:
    arabic = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    assert parse_number("1.75".translate(arabic)) == 1.75
    assert parse_number("\u0661\u066b\u0667\u0665") == 1.75  # the Arabic decimal separator
    assert parse_number("7/4".translate(arabic)) == 1.75
    assert parse_shape("(None, 12, 12, 8)".translate(arabic)) == (12, 12, 8)
    assert parse_grid("1 2\n3 4".translate(arabic)) == [[1, 2], [3, 4]]
    assert parse_cells("(0, 1), (2, 3)".translate(arabic)) == {(0, 1), (2, 3)}
    assert parse_range("3 to 9".translate(arabic)) == (3, 9)
    assert parse_choices("\uff11 down, \u0661 right", MOVES) == {"1 down", "1 right"}
    # Characters that are digits but not decimal digits are not numbers.
    assert "is not a whole number" in refused(parse_int, "2\u00b2")


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from([0x660, 0x6F0, 0x966, 0xFF10]))
def test_a_whole_number_in_any_script_reads_as_in_ascii(n: int, zero: int) -> None:
    text = "".join(chr(zero + int(d)) for d in str(n))
    assert parse_int(text) == n


# --- any string whatsoever --------------------------------------------------------------------

PARSERS = [
    parse_int,
    parse_number,
    parse_shape,
    parse_grid,
    lambda text: parse_grid_shaped(text, (2, 3)),
    lambda text: parse_choice(text, POOLS),
    lambda text: parse_choices(text, POOLS),
    lambda text: parse_choices(text, POOLS, allow_empty=True),
    parse_cell,
    parse_cells,
    lambda text: parse_cells(text, allow_empty=True),
    parse_range,
    lambda text: parse_shape(text, answers.CHW_AXES),
    lambda text: parse_choices(text, MOVES, allow_empty=True),
]

# Characters the parsers care about, so the fuzzing reaches past the first check.
ANSWER_ALPHABET = "0123456789 \t\n,.;:_+-/xX*()[]{}?eE%abcNone\u2212\u2009\u00d7\u2013\uff11\u0661\u066b"


def only_format_errors(text: str) -> None:
    """Every parser returns or raises AnswerFormatError on `text`, and nothing else."""
    for parse in PARSERS:
        try:
            parse(text)
        except AnswerFormatError as error:
            assert error.message


@settings(max_examples=300)
@given(st.text())
def test_no_string_raises_anything_but_a_format_error(text: str) -> None:
    only_format_errors(text)


@settings(max_examples=1000)
@given(st.text(alphabet=ANSWER_ALPHABET, max_size=40))
def test_no_answer_like_string_raises_anything_but_a_format_error(text: str) -> None:
    only_format_errors(text)


@pytest.mark.parametrize(
    "text",
    [
        "1" * 10_000,
        "1," * 5_000,
        "1 " * 5_000,
        "[" * 5_000 + "]" * 5_000,
        "(0,1)" * 2_000,
        "1" + " " * 9_998 + "x",
        "1/" * 5_000,
        "-" * 10_000,
        "9" * 4_999 + "e" + "9" * 5_000,
        "a " * 5_000,
    ],
)
def test_hostile_answers_are_dealt_with_quickly(text: str) -> None:
    start = time.perf_counter()
    only_format_errors(text)
    assert time.perf_counter() - start < 1.0


def test_an_overlong_answer_is_refused_before_it_is_read() -> None:
    for parse in PARSERS:
        with pytest.raises(AnswerFormatError, match="Answer too long"):
            parse("1" * 10_001)


# --- Tolerance and score_grid -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tol", "given", "correct", "accepted"),
    [
        (Tolerance(), 3.0, 3.0, True),
        (Tolerance(), 0.1 + 0.2, 0.3, True),  # float noise is forgiven
        (Tolerance(), 3.001, 3.0, False),
        (Tolerance(absolute=0.01), 3.01, 3.0, True),
        (Tolerance(absolute=0.01), 2.985, 3.0, False),
        (Tolerance(relative=0.01), 101.0, 100.0, True),
        (Tolerance(relative=0.01), 98.9, 100.0, False),
        (Tolerance(relative=0.01), -101.0, -100.0, True),
        (Tolerance(absolute=0.5, relative=0.01), 0.4, 0.0, True),  # the larger bound wins
        (Tolerance(absolute=0.5, relative=0.01), 1001.0, 1000.0, True),
        (Tolerance(relative=1.0), float("nan"), 1.0, False),
    ],
)
def test_tolerance_accepts_within_the_larger_of_its_bounds(
    tol: Tolerance, given: float, correct: float, accepted: bool
) -> None:
    assert tol.accepts(given, correct) is accepted


@pytest.mark.parametrize(
    ("tol", "given", "correct", "close"),
    [
        (Tolerance(absolute=0.01), 4.4, 40 / 9, True),  # 1% off: rounded too coarsely
        (Tolerance(absolute=0.01), 4.5, 40 / 9, True),
        (Tolerance(absolute=0.01), 1.6, 14 / 9, True),  # 2.9% off, but 14/9 to 1 decimal
        (Tolerance(absolute=0.01), 1.5, 14 / 9, True),  # 14/9 cut to 1 decimal
        (Tolerance(absolute=0.01), 0.3, 0.25, True),  # rounded half up
        (Tolerance(absolute=0.01), -1.6, -14 / 9, True),
        (Tolerance(absolute=0.01), 1.55, 14 / 9, False),  # accepted: not close, right
        (Tolerance(absolute=0.01), 1.7, 14 / 9, False),  # 9% off: wrong
        (Tolerance(absolute=0.01), 2.0, 14 / 9, False),  # a whole number: wrong
        (Tolerance(absolute=0.01), 20.0, 21.0, False),
        (Tolerance(relative=0.01), 7.0, 64 / 9, True),  # 1.6% off a 1% tolerance
        (Tolerance(relative=0.01), 6.9, 64 / 9, False),  # 3% off
        (Tolerance(absolute=0.01), 1e300, 1.5e300, False),
    ],
)
def test_tolerance_calls_a_wrong_number_close_within_two_percent_or_a_coarse_rounding(
    tol: Tolerance, given: float, correct: float, close: bool
) -> None:
    assert tol.is_close(given, correct) is close


@pytest.mark.parametrize(
    ("tol", "correct", "text"),
    [
        (Tolerance(absolute=0.01), 4.4, "to 2 decimal places (\u00b10.01)"),
        (Tolerance(absolute=0.1), 4.4, "to 1 decimal place (\u00b10.1)"),
        (Tolerance(absolute=0.05), 4.4, "to within \u00b10.05"),
        (Tolerance(relative=0.01), 4.4, "to within 1%"),
        (Tolerance(absolute=0.01, relative=1e-3), 4.4, "to 2 decimal places (\u00b10.01)"),
        (Tolerance(absolute=0.01, relative=1e-3), 50.0, "to within 0.1%"),  # the larger bound
        (Tolerance(), 4.4, "exactly"),
    ],
)
def test_tolerance_says_how_precise_an_answer_must_be(tol: Tolerance, correct: float, text: str) -> None:
    assert tol.precision(correct) == text


def test_tolerance_refuses_negative_bounds() -> None:
    with pytest.raises(ValueError):
        Tolerance(absolute=-1.0)
    with pytest.raises(ValueError):
        Tolerance(relative=float("nan"))


def test_score_grid_gives_the_fraction_right_and_the_mask() -> None:
    score, mask = score_grid([[1.0, 2.0], [3.0, 5.0]], np.array([[1, 2], [3, 4]]), Tolerance())
    assert score == 0.75
    assert mask.tolist() == [[True, True], [True, False]]


def test_score_grid_applies_the_tolerance_cell_by_cell() -> None:
    tol = Tolerance(absolute=0.05)
    score, mask = score_grid([[1.04, 2.2]], [[1.0, 2.0]], tol)
    assert score == 0.5
    assert mask.tolist() == [[True, False]]


@pytest.mark.parametrize(
    "given", [[[1.0, 2.0]], [[1.0], [2.0]], [[1.0, 2.0], [3.0]], [[1, 2, 3], [4, 5, 6]], []]
)
def test_score_grid_scores_a_shape_mismatch_zero_with_an_all_false_mask(
    given: list[list[float]],
) -> None:
    score, mask = score_grid(given, [[1, 2], [3, 4]], Tolerance(absolute=100))
    assert score == 0.0
    assert mask.shape == (2, 2) and not mask.any()


@given(
    st.lists(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=2), min_size=1, max_size=4),
    st.floats(0, 10),
    st.floats(0, 0.5),
)
def test_score_grid_agrees_with_accepts_cell_by_cell(
    grid: list[list[float]], absolute: float, relative: float
) -> None:
    tol = Tolerance(absolute=absolute, relative=relative)
    correct = np.round(np.asarray(grid))
    score, mask = score_grid(grid, correct, tol)
    twin = [
        [tol.accepts(g, c) for g, c in zip(gr, cr, strict=True)]
        for gr, cr in zip(grid, correct.tolist(), strict=True)
    ]
    assert mask.tolist() == twin
    assert score == pytest.approx(np.mean(twin))


@pytest.mark.parametrize(("text", "where"), [
    ("12x", "after the last separator"), ("12 x", "after the last separator"),
    ("x12", "before the first separator"), ("12xx12", "between two separators"),
    ("None, , 3", "between two separators"),
])
def test_a_missing_size_is_placed_where_it_is_missing(text, where):
    with pytest.raises(AnswerFormatError) as caught:
        parse_shape(text)
    assert caught.value.message.startswith(f"A size is missing {where}. ")
