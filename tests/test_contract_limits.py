"""The JSON edges' strictness and limits: where strict JSON refuses something (a NaN, a key
given twice) the refusal names the place; grid values a float cannot hold exactly are
refused by cell; and a `pool` request within the size limits stays cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from problems.contract import load_json, pool_json, solve_json
from problems.errors import SpecError
from problems.spec import MAX_EXACT_INT, MAX_GRID_CHANNELS, MAX_POOL_WORK

ROOT = Path(__file__).resolve().parent.parent


def refusal(call, body) -> SpecError:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as err:
        call(body)
    return err.value


@pytest.mark.parametrize(("text", "path"), [
    ('{"input": [[1, 2], [3, NaN]], "op": "max", "kernel": 1}', "input[1][1]"),
    ('{"input": [8, 8, -Infinity], "layers": []}', "input[2]"),
    ('{"input": [8, 8, 3], "layers": [{"type": "conv2d", "filters": 4, "kernel": 3, '
     '"kernel": 5}]}', "layers[0].kernel"),
    ('{"op": "max", "op": "avg", "input": [[1]], "kernel": 1}', "op"),
    ('{"input": [8, 8, 3], "layers": [{"type": "dense", "a b": 1, "a b": 2}]}', 'layers[0]["a b"]'),
])
def test_a_nan_or_a_key_given_twice_is_refused_naming_its_place(text, path):
    err = refusal(load_json, text)
    assert err.path == path
    assert ("given twice" in err.message) or ("not a number in JSON" in err.message)


def test_the_command_line_names_the_place_of_a_key_given_twice():
    text = '{"input": [[1, 2], [3, 4]], "op": "max", "kernel": 2, "op": "avg"}'
    result = subprocess.run([sys.executable, "-m", "problems", "pool"], input=text.encode(),
                            capture_output=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode().startswith('error: op: "op" is given twice')


@pytest.mark.parametrize(("grid", "path", "words"), [
    ([[]], "input[0]", "non-empty row"),
    ([[[1], []]], "input[0][1]", "got an empty list"),
    ([[[]]], "input[0][0]", "non-empty row"),
    ([[1, True]], "input[0][1]", "got true"),
    ([[MAX_EXACT_INT + 1, 2]], "input[0][0]", "too large to pool exactly"),
    ([[1, -(MAX_EXACT_INT + 1)]], "input[0][1]", "too large to pool exactly"),
    ([[1, 10**400]], "input[0][1]", "too large for a 64-bit float"),
])
def test_grid_refusals_name_the_cell_or_row(grid, path, words):
    err = refusal(pool_json, {"input": grid, "op": "max", "kernel": 1})
    assert (err.path, words in err.message) == (path, True), err


def test_an_integer_a_float_holds_exactly_is_pooled_exactly():
    answer = pool_json({"input": [[MAX_EXACT_INT, 2], [3, 4]], "op": "max", "kernel": 2})
    assert answer["output"] == [[MAX_EXACT_INT]]
    big_float = pool_json({"input": [[9.1e15, 2.0]], "op": "max", "kernel": [1, 2]})
    assert big_float["output"] == [[9.1e15]]


def test_an_average_of_huge_finite_values_is_computed():
    # the sum overflows a float, the mean does not
    answer = pool_json({"input": [[1e308, 1e308], [1e308, 1.7e308]], "op": "avg", "kernel": 2})
    assert answer["output"] == [[pytest.approx(1.175e308, rel=1e-12)]]
    mixed = pool_json({"input": [[1e308, 1e308, 1.5, 2.5]], "op": "avg", "kernel": [1, 2],
                       "stride": [1, 2]})
    assert mixed["output"] == [[1e308, 2.0]]  # the small window stays exact


def test_a_long_unknown_field_name_is_cut_in_the_refusal():
    err = refusal(pool_json, {"input": [[1]], "op": "max", "kernel": 1, "x" * 100_000: 1})
    assert len(err.path) < 60 and err.path.endswith('..."]')
    err = refusal(solve_json, {"input": [8, 8, 3], "layers": [{"type": "relu", "y" * 5000: 1}]})
    assert err.path.startswith("layers[0][") and len(err.path) < 70


def test_too_many_channels_are_refused_before_any_work():
    grid = [[[0]]] * (MAX_GRID_CHANNELS + 1)
    err = refusal(pool_json, {"input": grid, "op": "min", "kernel": 1})
    assert err.path == "input" and "channels" in err.message


@pytest.mark.parametrize(("size", "options"), [
    (2000, {"kernel": [1000, 1000], "stride": 1, "padding": 500}),
    (2000, {"kernel": [1, 1000], "stride": 1}),
])
def test_a_pool_reading_too_many_window_cells_is_refused_at_once(size, options):
    grid = [[0] * size] * size
    err = refusal(pool_json, {"input": grid, "op": "max", **options})
    assert err.path == "kernel" and f"{MAX_POOL_WORK:,}" in err.message


def test_a_large_pool_within_the_limits_is_answered():
    grid = [[(r * 7 + c * 3) % 10 for c in range(600)] for r in range(600)]
    answer = pool_json({"input": grid, "op": "max", "kernel": 3, "stride": 1, "padding": 1})
    assert len(answer["output"]) == 600 and len(answer["output"][0]) == 600


def test_an_integer_too_long_to_read_is_refused_naming_its_place():
    err = refusal(load_json, '{"input": [8, 8, 3], "layers": [{"type": "dense", "units": '
                  + "9" * 5000 + "}]}")
    assert err.path == "layers[0].units" and "5,000 digits" in err.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_json_in_utf16_or_utf32_is_refused_as_not_utf8(encoding):
    err = refusal(load_json, '{"input": [8, 8, 3], "layers": []}'.encode(encoding))
    assert "not UTF-8" in err.message
    assert load_json('\ufeff{"a": 1}'.encode()) == {"a": 1}  # a UTF-8 BOM is ignored
