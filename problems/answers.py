"""Parsing of answers as students type them, and scoring them against the truth with tolerance.

A student's answer that cannot be read raises `AnswerFormatError`: it is data for the page (shown
beside the field, costing no attempt), never a traceback. Every parser raises only that, whatever
the string, and bounds its work so a hostile answer cannot take long.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType

import numpy as np

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_GRID_CELLS",
    "AnswerFormatError",
    "Tolerance",
    "means_nothing",
    "parse_cell",
    "parse_cells",
    "parse_choice",
    "parse_choices",
    "parse_grid",
    "parse_grid_shaped",
    "parse_int",
    "parse_number",
    "parse_range",
    "parse_shape",
    "score_grid",
    "shape_examples",
]

MAX_ANSWER_CHARS = 10_000
MAX_GRID_CELLS = 10_000
# A number longer than this is no answer to a CNN-arithmetic question; the bound also keeps
# int() below Python's digit limit and Fraction arithmetic cheap.
_MAX_NUMBER_CHARS = 100
_MAX_MAGNITUDE = 10**300
# A wrong number within this fraction of the right one is "close": its feedback says how
# precise an answer must be (see Tolerance.is_close).
CLOSE_RELATIVE = 0.02
# Absolute slack for float noise, added to every tolerance (1/3 typed as 0.333333333 is not
# within it: that is a rounding the problem's own tolerance must allow).
FLOAT_GUARD = 1e-9

INT_HINT = "Expected a whole number such as 55744 or 55,744."
NUMBER_HINT = "Expected a number such as 1.75, 7/4 or 1 3/4."
# The axes of an image's shape in the two layouts problems use, and the sizes examples give them.
HWC_AXES = ("height", "width", "channels")
CHW_AXES = ("channels", "height", "width")
_EXAMPLE_SIZES = {"height": 26, "width": 26, "channels": 32}
SHAPE_HINT = "Expected a shape such as 26x26x32 or (None, 26, 26, 32)."
GRID_HINT = (
    'Expected one row per line (or rows separated by ";"), cells separated by spaces or commas.'
)
GRID_CELL_HINT = "Cells are numbers such as 3, -1.5 or 7/4."
CELL_HINT = "Expected a cell as (row, col), such as (1, 2)."
CELLS_HINT = 'Expected cells as (row, col) pairs, such as (0, 1), (2, 3), or "0,1; 2,3".'
RANGE_HINT = "Expected an inclusive range such as 3 to 9, 3..9 or [-2, 4]."


class AnswerFormatError(ValueError):
    """A student's answer that cannot be read; `message` says what format is expected.

    It is data for the page, shown beside the field, and costs the student no attempt.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------------------------------------
# Normalization: what phones, word processors and other keyboards put in place of ASCII.


def _build_translation() -> dict[int, str | None]:
    """Map look-alike characters to the ASCII the parsers read."""
    table: dict[int, str | None] = {}
    for cp in range(0x3001):  # every whitespace character Python knows lies below U+3001
        char = chr(cp)
        if char.isspace() and char not in " \t\n":
            table[cp] = "\n" if len(f"a{char}a".splitlines()) > 1 else " "
    for cp in range(0xFF01, 0xFF5F):  # fullwidth ASCII, as typed with CJK input methods
        table[cp] = chr(cp - 0xFEE0)
    for char in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d":
        table[ord(char)] = "-"
    for char in "\u2044\u2215\u00f7":
        table[ord(char)] = "/"
    for char in "\u00d7\u2715\u2a2f":
        table[ord(char)] = "x"
    for char in "\u200b\u200c\u200d\u2060\ufeff":
        table[ord(char)] = None
    table[0x066B] = "."  # Arabic decimal separator, typed with Arabic-Indic digits
    table[0x066C] = ","  # Arabic thousands separator
    return table


_TRANSLATION = _build_translation()
# The ASCII characters the translation changes (whitespace other than " \t\n", "\r"
# included): an ASCII answer without any of them only needs stripping.
_ASCII_TRANSLATED_RE = re.compile(
    "[" + re.escape("".join(chr(c) for c in sorted(_TRANSLATION) if c < 128)) + "]"
)


# A decimal digit of any script (Unicode category Nd, what str.isdecimal() accepts) other
# than 0-9: Arabic-Indic, Devanagari, ... Fullwidth digits are in the translation already.
_OTHER_DIGIT_RE = re.compile(r"(?![0-9])\d")


def _ascii_digit(match: re.Match[str]) -> str:
    """The ASCII digit of a decimal digit of another script."""
    return str(unicodedata.decimal(match.group()))


def _clean(text: str, *, empty_ok: bool = False) -> str:
    """Bound, normalize and strip an answer; raise if it is empty (unless `empty_ok`).

    Every decimal digit, whatever its script, is read as its ASCII digit: a student whose
    keyboard types ١٥٣٦٠٠ or １６ means 153600 or 16, and the parsers read 0-9 only."""
    if not isinstance(text, str):  # a programmer's mistake, not a student's
        raise TypeError(f"an answer is a str, not {type(text).__name__}")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerFormatError(f"Answer too long (over {MAX_ANSWER_CHARS:,} characters).")
    if text.isascii() and (text.isprintable() or not _ASCII_TRANSLATED_RE.search(text)):
        cleaned = text.strip()  # no character the translation changes (all are unprintable)
    else:
        cleaned = text.replace("\r\n", "\n").translate(_TRANSLATION).strip()
        if not cleaned.isascii():
            cleaned = _OTHER_DIGIT_RE.sub(_ascii_digit, cleaned)
    if not cleaned and not empty_ok:
        raise AnswerFormatError("No answer given.")
    return cleaned


def _q(text: str, limit: int = 24) -> str:
    """The student's text, quoted and shortened for a message."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return f'"{flat}"'


def _plural(n: int, word: str) -> str:
    """`1 row`, `2 rows`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------------------------
# Numbers. Everything is read exactly (Fraction) and converted once at the end.

_GROUPED = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?: [0-9]{3})+|[0-9]{1,3}(?:_[0-9]{3})+|[0-9]+)"
_DECIMAL_RE = re.compile(
    rf"[+-]?(?:{_GROUPED}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{{1,3}})?", re.ASCII
)
_PLAIN = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_FRACTION_RE = re.compile(rf"([+-]?)({_PLAIN})\s*/\s*({_PLAIN})", re.ASCII)
_MIXED_RE = re.compile(r"([+-]?)([0-9]+) +([0-9]+)\s*/\s*([0-9]+)", re.ASCII)


# A plain decimal (no thousands groups, no exponent): float() reads it exactly as the
# Fraction route does (both round the exact value correctly), at a fraction of the cost.
_COMMA_GROUPED_RE = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+", re.ASCII)
_PLAIN_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
# A row of such decimals separated by spaces: the characters float() reads the same way.
_PLAIN_ROW_RE = re.compile(r"[0-9.+\- ]+", re.ASCII)
# Such rows on lines of their own.
_PLAIN_LINES_RE = re.compile(r"[0-9.+\- \n]+", re.ASCII)


def _decimal_value(text: str) -> Fraction | None:
    """A decimal with optional thousands groups and exponent, exactly; None if it is not one."""
    if not _DECIMAL_RE.fullmatch(text):
        return None
    return Fraction(re.sub("[, _]", "", text))


def _checked(value: Fraction, text: str) -> Fraction:
    """`value`, unless it is too large to be anyone's answer."""
    if abs(value) > _MAX_MAGNITUDE:
        raise AnswerFormatError(f"{_q(text)} is too large.")
    return value


def _too_long(text: str) -> None:
    """Refuse a number longer than any real answer."""
    if len(text) > _MAX_NUMBER_CHARS:
        raise AnswerFormatError(f"{_q(text)} is too long to be a number.")


def _int_value(text: str) -> int:
    """A whole number from stripped, normalized text."""
    if text.isascii() and text.isdigit() and len(text) <= 20:
        return int(text)  # the common case, without the exact-decimal machinery
    if len(text) <= _MAX_NUMBER_CHARS and _COMMA_GROUPED_RE.fullmatch(text):
        return int(text.replace(",", ""))  # 18,496: as the answers are shown
    _too_long(text)
    value = _decimal_value(text)
    if value is None:
        if re.fullmatch(r"[+-]?[0-9]+(?:[, ][0-9]+)+", text, re.ASCII):
            raise AnswerFormatError(
                f"{_q(text)}: thousands separators must split the number into groups of "
                f"three digits. {INT_HINT}"
            )
        raise AnswerFormatError(f"{_q(text)} is not a whole number. {INT_HINT}")
    value = _checked(value, text)
    if value.denominator != 1:
        raise AnswerFormatError(f"Expected a whole number; {_q(text)} is not whole.")
    return value.numerator


def _number_value(text: str, hint: str = NUMBER_HINT) -> Fraction:
    """A number (decimal, fraction or mixed number) from stripped, normalized text."""
    _too_long(text)
    value = _decimal_value(text)
    if value is None:
        value = _fraction_value(text)
    if value is None:
        if text.endswith("%"):
            raise AnswerFormatError(
                f"Percentages are not accepted; write {_q(text)} as a plain number (50% is 0.5)."
            )
        if re.fullmatch(r"[+-]?[0-9]+,[0-9]{1,2}|[+-]?[0-9]+,[0-9]{4,}", text, re.ASCII):
            raise AnswerFormatError(
                f"{_q(text)}: use a point for decimals (1.75); commas only separate thousands."
            )
        raise AnswerFormatError(f"{_q(text)} is not a number. {hint}")
    return _checked(value, text)


def _float_value(text: str, hint: str = NUMBER_HINT) -> float:
    """`float(_number_value(text))`, without the exact machinery for a plain decimal."""
    if len(text) <= _MAX_NUMBER_CHARS and _PLAIN_DECIMAL_RE.fullmatch(text):
        # At most 100 digits: far below the magnitude limit. `or 0.0` reads "-0" as 0.0,
        # as the exact route does.
        return float(text) or 0.0
    return float(_number_value(text, hint))


def _fraction_value(text: str) -> Fraction | None:
    """`7/4`, `-3/2`, `1.5/2` or `1 3/4`, exactly; None if it is none of them."""
    mixed = _MIXED_RE.fullmatch(text)
    if mixed:
        sign, whole, num, den = mixed.groups()
        magnitude = Fraction(int(whole)) + _ratio(Fraction(num), Fraction(den), text)
        return -magnitude if sign == "-" else magnitude
    fraction = _FRACTION_RE.fullmatch(text)
    if fraction:
        sign, num, den = fraction.groups()
        magnitude = _ratio(Fraction(num), Fraction(den), text)
        return -magnitude if sign == "-" else magnitude
    return None


def _ratio(num: Fraction, den: Fraction, text: str) -> Fraction:
    """`num / den`, refusing a zero denominator."""
    if den == 0:
        raise AnswerFormatError(f"Division by zero in {_q(text)}.")
    return num / den


def parse_int(text: str) -> int:
    """A whole number: `55744`, `55,744`, `55 744`, `55_744`, `+320`, `320.0` or `1e3`."""
    return _int_value(_clean(text))


def parse_count(text: str) -> int:
    """A whole number that counts something (parameters, MACs, values, pixels, layers):
    as `parse_int`, but a negative one is a format error, costing no attempt."""
    value = _int_value(_clean(text))
    if value < 0:
        raise AnswerFormatError(f"A count cannot be negative; got {_q(_clean(text))}. {INT_HINT}")
    return value


def parse_number(text: str) -> float:
    """A number: `1.75`, `.5`, `7/4`, `-3/2`, `1 3/4`, `55,744` or `1.2e-3`."""
    return _float_value(_clean(text))


# ---------------------------------------------------------------------------------------------
# Shapes.

_BATCH_WORDS = frozenset({"none", "null", "?", "batch", "batch_size", "bs", "b", "n", "-1", "_"})
_SHAPE_SPLIT_RE = re.compile(r"\s*[,x*]\s*|\s+", re.ASCII)
_BRACKETS = {"(": ")", "[": "]"}
_BRACKET_CHARACTERS = "()[]"
# Sizes of at most 20 digits joined by "x": what the general reading below gives them.
_PLAIN_SHAPE_RE = re.compile(r"[0-9]{1,20}(?:x[0-9]{1,20})*", re.ASCII)


# A shape as PyTorch and TensorFlow print it (lowercased): the list inside is read as usual.
_WRAPPED_SHAPE_RE = re.compile(
    r"(?:(?:torch\.)?size|(?:tf\.)?tensorshape)\(\s*(\[[^()\[\]]*\])\s*\)", re.ASCII)


def _brackets_balanced(text: str) -> bool:
    """Whether every ( and [ in `text` is closed, in order."""
    open_brackets: list[str] = []
    for char in text:
        if char in _BRACKETS:
            open_brackets.append(_BRACKETS[char])
        elif char in ")]" and (not open_brackets or open_brackets.pop() != char):
            return False
    return not open_brackets


def shape_examples(axes: Sequence[str] = HWC_AXES) -> str:
    """`26x26x32 or (None, 26, 26, 32)`: an example shape laid out as `axes`, as typed."""
    sizes = [str(_EXAMPLE_SIZES.get(axis, 10)) for axis in axes]
    return f"{'x'.join(sizes)} or (None, {', '.join(sizes)})"


def _axes_text(axes: Sequence[str]) -> str:
    """`3 sizes (height, width, channels)`."""
    return f"{_plural(len(axes), 'size')} ({', '.join(axes)})"


def parse_shape(
    text: str, axes: Sequence[str] = (), *, hint: str = SHAPE_HINT
) -> tuple[int, ...]:
    """A tensor shape without its batch dimension: `26x26x32`, `(None, 26, 26, 32)`, `[10]`.

    `axes` names the sizes expected, in order, where the caller knows them (a part's answer
    has 3, (height, width, channels), say). An answer that then holds one size too many
    with a leading 1, `(1, 26, 26, 32)`, most likely gives the batch as 1: it is refused
    with a note to write None, not read as a 4-dimensional shape (that would be graded
    wrong). `hint` ends each message (an example in the problem's own layout).
    """
    sizes, batched = _shape(_clean(text), hint, axes)
    if len(axes) and not batched and len(sizes) == len(axes) + 1 and sizes[0] == 1:
        own = ", ".join(map(str, sizes[1:]))
        raise AnswerFormatError(
            f"Expected {_axes_text(axes)}, got {len(sizes)}: if the leading 1 is the batch "
            f"size, write it as None, as in (None, {own}), or leave it out."
        )
    return sizes


def _shape(cleaned: str, hint: str, axes: Sequence[str]) -> tuple[tuple[int, ...], bool]:
    """The sizes of a cleaned shape answer, and whether it gave an open batch dimension."""
    body = cleaned.lower()
    if _PLAIN_SHAPE_RE.fullmatch(body):  # 26x26x32: as shapes are shown
        plain = tuple(map(int, body.split("x")))
        if 0 not in plain:
            return plain, False
    if body[0] in _BRACKETS and body[-1] == _BRACKETS[body[0]]:
        body = body[1:-1].strip()
        if any(bracket in body for bracket in _BRACKET_CHARACTERS):
            raise AnswerFormatError(f"Write the sizes in one pair of brackets. {hint}")
    elif any(bracket in body for bracket in _BRACKET_CHARACTERS):
        wrapped = _WRAPPED_SHAPE_RE.fullmatch(body)
        if wrapped:  # torch.Size([12, 12, 8]) or TensorShape([None, 12, 12, 8]), as printed
            return _shape(wrapped.group(1), hint, axes)
        if _brackets_balanced(body):
            raise AnswerFormatError(f"{_q(cleaned)} is not a shape we can read. {hint}")
        raise AnswerFormatError(f"The brackets do not match. {hint}")
    if body.endswith(","):  # the one-element tuple `(10,)`
        body = body[:-1].rstrip()
    tokens = _SHAPE_SPLIT_RE.split(body) if body else []
    batched = len(tokens) > 1 and tokens[0] in _BATCH_WORDS
    if batched:
        tokens = tokens[1:]
    if not tokens or tokens == [""] or all(token in _BATCH_WORDS for token in tokens):
        raise AnswerFormatError(f"No sizes given. {hint}")
    if not any(c.isdigit() for c in body):  # a word, not sizes
        raise AnswerFormatError(f"{_q(cleaned)} is not a shape. {hint}")
    sizes: list[int] = []
    for index, token in enumerate(tokens):
        if not token:
            where = ("before the first separator" if index == 0 and not batched else
                     "after the last separator" if index == len(tokens) - 1 else
                     "between two separators")
            raise AnswerFormatError(f"A size is missing {where}. {hint}")
        if token in _BATCH_WORDS:
            raise AnswerFormatError(_open_size_message(len(tokens), batched, axes, hint))
        try:
            size = _int_value(token)
        except AnswerFormatError:
            raise AnswerFormatError(f"{_q(token)} is not a whole number. {hint}") from None
        if size <= 0:
            raise AnswerFormatError(f"Sizes must be positive; got {size}. {hint}")
        sizes.append(size)
    return tuple(sizes), batched


def _open_size_message(given: int, batched: bool, axes: Sequence[str], hint: str) -> str:
    """Why a shape with an open size (None) other than the first is refused: with `axes`
    known, how many sizes were expected (named, in order: the example `hint` would add
    nothing) and how many `given` (after the batch size, if `batched`), as in
    `(None, None, 12, 12, 8)` for a 3-dimensional output."""
    rule = "Only the first (batch) dimension may be left open"
    if not axes:
        return f"{rule}. {hint}"
    if given == len(axes):
        return f"{rule}: give all {_axes_text(axes)}."
    after = " after the batch size" if batched else ""
    return f"Expected {_axes_text(axes)}, got {given}{after}. {rule}."


# ---------------------------------------------------------------------------------------------
# Grids.

_CELL_SPLIT_RE = re.compile(r"\s*,\s*|\s+", re.ASCII)
_COMMA_SPLIT_RE = re.compile(r"\s*,\s*", re.ASCII)
_NESTED_START_RE = re.compile(r"\[\s*\[", re.ASCII)
_BRACKETED_ROW_RE = re.compile(r"\[([^\[\]]*)\]", re.ASCII)
_ROW_SEPARATORS_RE = re.compile(r"[\s,]*", re.ASCII)
_ROW_SPLIT_RE = re.compile(r"[\n;]")


def _row_texts(text: str) -> tuple[list[str], bool]:
    """The text of each row, and whether the answer was one flat bracketed list."""
    if "[" not in text and "]" not in text:  # rows on lines or split by ";", the usual way
        return [line for line in (raw.strip() for raw in _ROW_SPLIT_RE.split(text)) if line], False
    if _NESTED_START_RE.match(text):  # [[1, 2], [3, 4]], possibly over several lines
        if not text.endswith("]"):
            raise AnswerFormatError(f"The list of rows is not closed with ]. {GRID_HINT}")
        inner = text[1:-1]
        rows: list[str] = []
        position = 0
        for match in _BRACKETED_ROW_RE.finditer(inner):
            if not _ROW_SEPARATORS_RE.fullmatch(inner, position, match.start()):
                break
            rows.append(match.group(1))
            position = match.end()
        if not _ROW_SEPARATORS_RE.fullmatch(inner, position):
            raise AnswerFormatError(
                f"Could not read the rows after row {len(rows)}: write each row as [1, 2]. "
                f"{GRID_HINT}"
            )
        return rows, False
    if (
        text.startswith("[")
        and text.endswith("]")
        and text.count("[") == 1
        and text.count("]") == 1
        and not re.search(r"[\n;]", text)
    ):
        return [text[1:-1]], True
    rows = []
    for line in _ROW_SPLIT_RE.split(text):
        line = line.strip()
        if not line:
            continue
        bracketed = re.fullmatch(r"\[([^\[\]]*)\]\s*,?", line, re.ASCII)
        if bracketed:
            line = bracketed.group(1)
        elif "[" in line or "]" in line:
            raise AnswerFormatError(
                f"Row {len(rows) + 1} has unmatched brackets: {_q(line)}. {GRID_HINT}"
            )
        rows.append(line)
    return rows, False


def _grid_rows(text: str) -> tuple[list[list[float]], bool]:
    """The rows of numbers as typed (possibly ragged), and whether they came as a flat list."""
    cleaned = _clean(text)
    if _PLAIN_LINES_RE.fullmatch(cleaned):
        plain = _plain_lines(cleaned)
        if plain is not None:
            return plain, False
    row_texts, flat = _row_texts(cleaned)
    rows: list[list[float]] = []
    cells = 0
    for r, row_text in enumerate(row_texts, start=1):
        row_text = row_text.strip()
        if row_text.endswith(","):  # `1, 2, 3,` pasted from code
            row_text = row_text[:-1].rstrip()
        if not row_text:
            raise AnswerFormatError(f"Row {r} is empty. {GRID_HINT}")
        row = _plain_row(row_text)
        if row is None:
            row = _row(row_text, r)
        cells += len(row)
        if cells > MAX_GRID_CELLS:
            raise AnswerFormatError(f"Grid too large (over {MAX_GRID_CELLS:,} cells).")
        rows.append(row)
    if not rows:
        raise AnswerFormatError("No answer given.")
    return rows, flat


def _plain_lines(text: str) -> list[list[float]] | None:
    """The rows of a grid of plain decimals, cells separated by spaces and rows by lines
    (`_PLAIN_LINES_RE`, how answers are mostly typed): what `_row_texts` and `_plain_row`
    make of it, in one pass. None where they would not read it so (a cell float() refuses
    or a long one, no row, too many cells): the general reading then says why."""
    negative = "-" in text  # else no cell can be -0, which is read as 0
    rows: list[list[float]] = []
    cells = 0
    for line in text.split("\n"):
        items = line.split()
        if not items:
            continue
        if len(line) > _MAX_NUMBER_CHARS and max(map(len, items)) > _MAX_NUMBER_CHARS:
            return None
        try:
            row = [float(cell) or 0.0 for cell in items] if negative else list(map(float, items))
        except ValueError:
            return None
        cells += len(row)
        if cells > MAX_GRID_CELLS:
            return None
        rows.append(row)
    return rows or None


def _plain_row(row_text: str) -> list[float] | None:
    """The cells of a row of plain decimals separated by spaces (how answers are mostly
    typed), or None if the row is anything else (`_row` then reads it, or says why not)."""
    if not _PLAIN_ROW_RE.fullmatch(row_text):
        return None
    cells = row_text.split()
    if len(row_text) > _MAX_NUMBER_CHARS and max(map(len, cells)) > _MAX_NUMBER_CHARS:
        return None
    try:
        # From these characters float() takes exactly the plain decimals; `or 0.0` as above.
        return [float(cell) or 0.0 for cell in cells]
    except ValueError:
        return None


def _row_cells(row_text: str) -> list[str]:
    """A row's cell texts: split at spaces and commas, except that in a row with commas a
    mixed number between two commas (`5 1/2, 3`) is one cell."""
    if "," not in row_text:
        return _CELL_SPLIT_RE.split(row_text)
    cells: list[str] = []
    for piece in _COMMA_SPLIT_RE.split(row_text):
        cells.extend([piece] if _MIXED_RE.fullmatch(piece) else _CELL_SPLIT_RE.split(piece))
    return cells


def _row(row_text: str, r: int) -> list[float]:
    """The cells of row `r`, separated by spaces or commas."""
    row: list[float] = []
    for c, cell in enumerate(_row_cells(row_text), start=1):
        if not cell:
            raise AnswerFormatError(f"Row {r}, cell {c} is empty (two commas in a row?).")
        try:
            row.append(_float_value(cell, GRID_CELL_HINT))
        except AnswerFormatError as error:
            raise AnswerFormatError(f"Row {r}, cell {c}: {error.message}") from None
    return row


def _ragged_row(rows: list[list[float]]) -> str | None:
    """'Row 2 has 3 cells; row 1 has 2.' for the first row unlike the first, else None."""
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            return f"Row {r} has {_plural(len(row), 'cell')}; row 1 has {len(rows[0])}."
    return None


def parse_grid(text: str) -> list[list[float]]:
    """A grid: rows on lines or split by `;`, cells by spaces or commas; or `[[1, 2], [3, 4]]`."""
    rows, flat = _grid_rows(text)
    if flat:
        raise AnswerFormatError(
            "A flat list is not a grid: give one row per line, as 1 2; 3 4 or [[1, 2], [3, 4]]."
        )
    ragged = _ragged_row(rows)
    if ragged:
        raise AnswerFormatError(ragged)
    return rows


def parse_grid_shaped(text: str, shape: tuple[int, int]) -> list[list[float]]:
    """A grid of a known shape; all its cells on one line (or a flat list) are read row by row."""
    n_rows, n_cols = shape
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"a grid shape is positive, not {shape}")
    rows, _ = _grid_rows(text)
    expected = (
        f"Expected {_plural(n_rows, 'row')} of {_plural(n_cols, 'cell')} (a {n_rows}x{n_cols} grid)"
    )
    if len(rows) == 1 and len(rows[0]) == n_rows * n_cols:
        cells = rows[0]
        return [cells[r * n_cols : (r + 1) * n_cols] for r in range(n_rows)]
    ragged = _ragged_row(rows)
    if ragged:
        raise AnswerFormatError(f"{expected}; got rows of different lengths. {ragged}")
    if len(rows) == n_rows and len(rows[0]) == n_cols:
        return rows
    if len(rows) == 1:
        got = _plural(len(rows[0]), "cell")
    else:
        got = f"{_plural(len(rows), 'row')} of {_plural(len(rows[0]), 'cell')}"
    raise AnswerFormatError(f"{expected}; got {got}.")


# ---------------------------------------------------------------------------------------------
# Choices.

_EMPTY_WORDS = frozenset({"none", "empty", "-", "[]", "{}", "()", "\u2205"})
_LETTER_RE = re.compile(r"\(([a-z])\)|([a-z])[).:]?", re.ASCII)
_LETTER_LABEL_RE = re.compile(r"(?:\(([a-z])\)|([a-z])[).:])\s+(.+)", re.ASCII)
_CHOICE_SPLIT_RE = re.compile(r"[,;\n]")


def _key(text: str) -> str:
    """How two spellings of one choice compare: case and runs of spaces ignored."""
    return " ".join(text.casefold().split())


def means_nothing(label: str) -> bool:
    """Whether a choice's label (or a typed word) means "no choice": `none`, `empty`, `-`,
    `∅`... Such a choice (shift invariance's "none") cannot be chosen with others."""
    return _key(label) in _EMPTY_WORDS


def _choice_table(choices: Sequence[str]) -> dict[str, str]:
    """Each choice by its key; a programmer error if there are none or two collide."""
    table = {_key(choice): choice for choice in choices}
    if not choices or len(table) != len(choices) or "" in table:
        raise ValueError(f"choices must be distinct and non-empty: {list(choices)!r}")
    return table


def _letters_allowed(choices: Sequence[str]) -> bool:
    """Letters a), b), ... name choices only if no choice is itself a single letter."""
    return len(choices) <= 26 and not any(
        len(_key(choice)) == 1 and _key(choice).isalpha() for choice in choices
    )


@lru_cache(maxsize=1024)
def _lookup(choices: tuple[str, ...]) -> tuple[Mapping[str, str], bool]:
    """`_choice_table` (read-only) and `_letters_allowed` of some choices. Pure, so cached:
    a part's choices are looked up again at every grading."""
    return MappingProxyType(_choice_table(choices)), _letters_allowed(choices)


def _resolve_choice(
    text: str, choices: Sequence[str], table: Mapping[str, str], letters: bool
) -> str | None:
    """The choice `text` names, by label or by letter (if `letters`); None if it names none."""
    key = _key(text)
    if key in table:
        return table[key]
    if not letters:
        return None
    letter = _LETTER_RE.fullmatch(key)
    if letter:
        index = ord(letter.group(1) or letter.group(2)) - ord("a")
        return choices[index] if index < len(choices) else None
    labelled = _LETTER_LABEL_RE.fullmatch(key)  # `b) average`, copied with its letter
    if labelled:
        index = ord(labelled.group(1) or labelled.group(2)) - ord("a")
        if index < len(choices) and _key(choices[index]) == labelled.group(3):
            return choices[index]
    return None


def _choices_hint(choices: Sequence[str]) -> str:
    """'Expected one of "max", "min" (or a letter a-b).'"""
    listed = ", ".join(f'"{choice}"' for choice in choices)
    letters = f" (or a letter a-{chr(ord('a') + len(choices) - 1)})"
    return f"Expected one of {listed}{letters if _letters_allowed(choices) else ''}."


def parse_choice(text: str, choices: Sequence[str]) -> str:
    """One of `choices`, by its label (any case) or its letter (`a`, `(b)`, `c)`), as the label."""
    table, letters = _lookup(tuple(choices))
    cleaned = _clean(text)
    choice = _resolve_choice(cleaned, choices, table, letters)
    if choice is None:
        raise AnswerFormatError(
            f"{_q(cleaned)} is not one of the choices. {_choices_hint(choices)}"
        )
    return choice


def parse_choices(
    text: str, choices: Sequence[str], *, allow_empty: bool = False
) -> frozenset[str]:
    """Several of `choices`, separated by commas, semicolons or spaces; `none` if allow_empty."""
    table, letters = _lookup(tuple(choices))
    cleaned = _clean(text, empty_ok=True)
    whole = _resolve_choice(cleaned, choices, table, letters) if cleaned else None
    if whole is not None:
        return frozenset({whole})
    if not cleaned or _key(cleaned) in _EMPTY_WORDS:
        if allow_empty:
            return frozenset()
        raise AnswerFormatError(f"Choose at least one. {_choices_hint(choices)}")
    picked: set[str] = set()
    nothing: str | None = None  # a word for "no choice" typed among the choices, if any
    for piece in _CHOICE_SPLIT_RE.split(cleaned):
        if not piece.strip():
            continue
        choice = _resolve_choice(piece, choices, table, letters)
        if choice is not None:
            picked.add(choice)
            continue
        if allow_empty and means_nothing(piece):
            nothing = piece.strip()
            continue
        for word in piece.split():
            choice = _resolve_choice(word, choices, table, letters)
            if choice is None:
                if allow_empty and means_nothing(word):
                    nothing = word
                    continue
                raise AnswerFormatError(
                    f"{_q(word)} is not one of the choices. {_choices_hint(choices)}"
                )
            picked.add(choice)
    _refuse_nothing_with_others(picked, nothing)
    return frozenset(picked)


def _refuse_nothing_with_others(picked: set[str], nothing: str | None) -> None:
    """Refuse an answer that says "none" and names choices too: it contradicts itself, so it
    is unreadable rather than wrong (a checkbox "none" ticked with others, say). "none" is
    either a choice of its own (shift invariance: no move leaves the output unchanged) or,
    where empty answers are allowed, a word typed for the empty answer (`nothing`)."""
    said = next((choice for choice in picked if means_nothing(choice)), nothing)
    if said is not None and not all(map(means_nothing, picked)):
        raise AnswerFormatError(
            f"\u201c{said}\u201d cannot be chosen together with other choices: choose "
            f"\u201c{said}\u201d alone, or only the choices that apply."
        )


# ---------------------------------------------------------------------------------------------
# Cells and index ranges.

_PAIR_RE = re.compile(r"([+-]?[0-9]+)(?:\s*,\s*|\s+)([+-]?[0-9]+)", re.ASCII)
_BRACKETED_PAIR_RE = re.compile(r"[(\[]([^()\[\]]*)[)\]]", re.ASCII)
_CELL_GAP_RE = re.compile(r"[\s,;]*", re.ASCII)
# Cells written exactly as `format_answer` writes them (at most 9 digits, as `_index`
# allows; an answer of at most MAX_ANSWER_CHARS holds far fewer than MAX_GRID_CELLS).
_CELL_LIST_RE = re.compile(r"\(([0-9]{1,9}), ([0-9]{1,9})\)(?:, \(([0-9]{1,9}), ([0-9]{1,9})\))*",
                           re.ASCII)
_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)


def _index(text: str, what: str, hint: str) -> int:
    """A non-negative whole index."""
    if len(text) > 9:
        raise AnswerFormatError(f"{_q(text)} is too large for a {what}. {hint}")
    value = int(text)
    if value < 0:
        raise AnswerFormatError(f"A {what} cannot be negative; got {value}. {hint}")
    return value


def _cell(text: str, hint: str) -> tuple[int, int]:
    """(row, col) from `1, 2`, `1 2`, `(1, 2)` or `[1, 2]`."""
    body = text.strip()
    if body and body[0] in _BRACKETS and body[-1] == _BRACKETS[body[0]]:
        body = body[1:-1].strip()
    pair = _PAIR_RE.fullmatch(body)
    if not pair:
        raise AnswerFormatError(f"{_q(text)} is not a cell. {hint}")
    return _index(pair.group(1), "row", hint), _index(pair.group(2), "column", hint)


def parse_cell(text: str) -> tuple[int, int]:
    """One grid cell as (row, col): `(1, 2)`, `1,2`, `1 2` or `[1, 2]`."""
    return _cell(_clean(text), CELL_HINT)


def parse_cells(text: str, *, allow_empty: bool = False) -> frozenset[tuple[int, int]]:
    """A set of cells: `(0, 1), (2, 3)` or `0,1; 2,3`; `none` or nothing if allow_empty."""
    body = _clean(text, empty_ok=True)
    if not body or _key(body) in _EMPTY_WORDS:
        if allow_empty:
            return frozenset()
        raise AnswerFormatError(f"No cells given. {CELLS_HINT}")
    try:
        return _cells_of(body)
    except AnswerFormatError:
        nothing = _nothing_among(body) if allow_empty else None
        if nothing is None:
            raise
        raise AnswerFormatError(
            f"\u201c{nothing}\u201d cannot be given together with cells: answer "
            f"\u201c{nothing}\u201d alone if there is no cell, or only the cells."
        ) from None


_CELL_TOKEN_SPLIT_RE = re.compile(r"[\s,;]+", re.ASCII)


def _nothing_among(body: str) -> str | None:
    """A word for "no cell" (`none`, `empty`, ...; not a lone `-`, more likely a misplaced
    minus) written among other text, as in `none, (0, 1)`; None if there is none."""
    for token in _CELL_TOKEN_SPLIT_RE.split(body):
        if token != "-" and means_nothing(token):
            return token
    return None


def _cells_of(body: str) -> frozenset[tuple[int, int]]:
    """The cells of a cleaned, non-empty answer other than `none` (see `parse_cells`)."""
    if _CELL_LIST_RE.fullmatch(body):  # (0, 1), (2, 3): as the cells are shown
        numbers = [int(n) for n in _DIGITS_RE.findall(body)]
        return frozenset(zip(numbers[::2], numbers[1::2], strict=True))
    # One pair of brackets around the whole set: [(0, 1), (2, 3)], {(0, 1)}, [[0, 1], [2, 3]].
    if re.match(r"[\[{]\s*[(\[]", body) and body[-1] in "]}":
        body = body[1:-1]
    if "(" in body or "[" in body:
        pieces: list[str] = []
        position = 0
        for match in _BRACKETED_PAIR_RE.finditer(body):
            if not _CELL_GAP_RE.fullmatch(body, position, match.start()):
                break
            pieces.append(match.group(0))
            position = match.end()
        if not _CELL_GAP_RE.fullmatch(body, position):
            where = f"after {_q(body[:position])}" if position else f"in {_q(body)}"
            raise AnswerFormatError(f"Could not read the cells {where}. {CELLS_HINT}")
    else:
        pieces = [piece for piece in re.split(r"[;\n]", body) if piece.strip()]
    if len(pieces) > MAX_GRID_CELLS:
        raise AnswerFormatError(f"Too many cells (over {MAX_GRID_CELLS:,}).")
    return frozenset(_cell(piece, CELLS_HINT) for piece in pieces)


_INT = r"[+-]?[0-9]+"
_RANGE_RE = re.compile(
    rf"(?:[a-z]+(?::\s*|\s+))?(?:from\s+)?"
    rf"(?:\[\s*(?P<a>{_INT})\s*,\s*(?P<b>{_INT})\s*\]"
    rf"|(?P<lo>{_INT})\s*(?:\.\.\.?|-|to|through|thru)\s*(?P<hi>{_INT})"
    rf"|(?P<only>{_INT}))",
    re.ASCII,
)


def _signed(text: str) -> int:
    """A signed whole number of a range."""
    if len(text) > 10:
        raise AnswerFormatError(f"{_q(text)} is too large for an index. {RANGE_HINT}")
    return int(text)


def parse_range(text: str) -> tuple[int, int]:
    """An inclusive index range (lo, hi): `3 to 9`, `rows 3-9`, `3..9`, `[-2, 4]`, `-2 - 4`, `5`."""
    cleaned = _clean(text)
    match = _RANGE_RE.fullmatch(cleaned.lower())
    if not match:
        raise AnswerFormatError(f"{_q(cleaned)} is not a range. {RANGE_HINT}")
    if match.group("only") is not None:
        value = _signed(match.group("only"))
        return value, value
    lo = _signed(match.group("a") or match.group("lo"))
    hi = _signed(match.group("b") or match.group("hi"))
    if lo > hi:
        raise AnswerFormatError(
            f"A range goes from low to high: write {lo} to {hi} as {hi} to {lo}."
        )
    return lo, hi


# ---------------------------------------------------------------------------------------------
# Scoring.


@dataclass(frozen=True)
class Tolerance:
    """How far an answer may be from the truth: the larger of an absolute and a relative bound."""

    absolute: float = 0.0
    relative: float = 0.0

    def __post_init__(self) -> None:
        """Refuse negative (or NaN) bounds: an author's mistake."""
        if not (self.absolute >= 0 and self.relative >= 0):
            raise ValueError(f"tolerances are >= 0, not {self.absolute}, {self.relative}")

    def accepts(self, given: float, correct: float) -> bool:
        """|given-correct| <= max(absolute, relative*|correct|), plus a guard for float noise."""
        if given == correct:
            return True
        bound = max(self.absolute, self.relative * abs(correct)) + FLOAT_GUARD
        return bool(abs(given - correct) <= bound)

    def is_close(self, given: float, correct: float) -> bool:
        """Whether `given` is not accepted but close to `correct`: within CLOSE_RELATIVE of
        it, or `correct` rounded or cut to fewer decimals (1 to 5) than accepted (1.6 for
        1.5556 where ±0.01 is accepted, 2.9% off). Most likely rounded too coarsely, which
        the feedback says, with `precision`. It changes no score."""
        if self.accepts(given, correct):
            return False
        if abs(given - correct) <= CLOSE_RELATIVE * abs(correct):
            return True
        if not abs(correct) < 1e12:  # no decimals to round to (and no overflow below)
            return False
        for places in range(1, 6):
            scale = 10.0**places
            half_up = math.floor(correct * scale + 0.5) / scale
            for short in (round(correct, places), half_up, math.trunc(correct * scale) / scale):
                if abs(given - short) <= FLOAT_GUARD:
                    return True
        return False

    def precision(self, correct: float) -> str:
        """How precise an answer near `correct` must be, in words: `to 2 decimal places
        (±0.01)`, `to within ±0.5`, `to within 1%` (the bound that applies at `correct`)."""
        if self.absolute >= self.relative * abs(correct):
            if self.absolute == 0:
                return "exactly"
            places = round(-math.log10(self.absolute))
            if 1 <= places <= 6 and math.isclose(self.absolute, 10.0**-places):
                return f"to {_plural(places, 'decimal place')} (\u00b1{self.absolute:g})"
            return f"to within \u00b1{self.absolute:g}"
        return f"to within {self.relative * 100:g}%"

    def accepts_all(self, given: np.ndarray, correct: np.ndarray) -> np.ndarray:
        """`accepts` cell by cell, as a boolean array."""
        with np.errstate(invalid="ignore", over="ignore"):
            bound = np.maximum(self.absolute, self.relative * np.abs(correct)) + FLOAT_GUARD
            accepted: np.ndarray = (given == correct) | (np.abs(given - correct) <= bound)
        return accepted


def score_grid(
    given: list[list[float]], correct: np.ndarray | list[list[float]], tol: Tolerance
) -> tuple[float, np.ndarray]:
    """The fraction of cells right and the mask of right cells; 0 and all False if shapes differ."""
    truth = np.asarray(correct, dtype=float)
    if truth.size == 0:
        raise ValueError("the correct grid is empty")
    answer: np.ndarray | None
    try:
        answer = np.asarray(given, dtype=float)
    except (ValueError, TypeError):  # ragged rows: a shape mismatch like any other
        answer = None
    if answer is None or answer.shape != truth.shape:
        return 0.0, np.zeros(truth.shape, dtype=bool)
    mask = tol.accepts_all(answer, truth)
    return float(mask.mean()), mask
