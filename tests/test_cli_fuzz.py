"""The command line end to end (a subprocess per case), and fuzzing of the JSON edges:
whatever the body, the answer is clean JSON or a SpecError with a path and a message,
never another exception."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from problems import kinds
from problems.__main__ import main
from problems.contract import load_json, pool_json, solve_json
from problems.errors import SpecError
from problems.kinds.base import format_answer

ROOT = Path(__file__).resolve().parent.parent
HAS_POOLING = importlib.util.find_spec("problems.pooling") is not None
needs_pooling = pytest.mark.skipif(not HAS_POOLING, reason="problems.pooling not written yet")

SPEC_EXAMPLE = {
    "layout": "HWC",
    "input": [28, 28, 1],
    "layers": [
        {"type": "conv2d", "filters": 32, "kernel": 3},
        {"type": "conv2d", "filters": 64, "kernel": 3},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "conv2d", "filters": 64, "kernel": [3, 3], "stride": 2, "padding": "same"},
        {"type": "global_avgpool2d"},
        {"type": "dense", "units": 10},
    ],
}
POOL_EXAMPLE = {"input": [[1, 3, 1, 0], [2, 8, 2, 4], [1, 3, 1, 5], [0, 0, 6, 2]],
                "op": "max", "kernel": 2, "stride": 2, "padding": 0}


def strict_json(text: str) -> Any:
    """Parse text that must be strict JSON (no NaN or Infinity)."""
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def cli(*args: str, stdin: str | bytes = b"", timeout: float = 30) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        [sys.executable, "-m", "problems", *args], input=data, capture_output=True,
        cwd=ROOT, timeout=timeout,
    )


def assert_refused(result: subprocess.CompletedProcess, path: str = "") -> str:
    """Exit status 2, nothing on stdout, one `error:` message on stderr naming `path`."""
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert result.stdout == b""
    assert stderr.startswith("error: ") and "Traceback" not in stderr
    assert path in stderr
    return stderr


# ---------------------------------------------------------------- the CLI, end to end


def test_solve_prints_the_spec_example_answer_as_json_from_a_file(tmp_path):
    source = tmp_path / "stack.json"
    source.write_text(json.dumps(SPEC_EXAMPLE))
    result = cli("solve", str(source))
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    answer = strict_json(result.stdout.decode())
    assert answer == solve_json(SPEC_EXAMPLE)
    assert [layer["output_shape"] for layer in answer["layers"]] == [
        [26, 26, 32], [24, 24, 64], [12, 12, 64], [6, 6, 64], [64], [10]]
    assert answer["total_params"] == 56_394
    assert answer["layers"][4]["receptive_field"] is None


def test_solve_reads_standard_input_and_prints_a_table():
    result = cli("solve", "--table", stdin=json.dumps(SPEC_EXAMPLE))
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "(None, 6, 6, 64)" in text and "36,928" in text
    assert "Total params: 56,394" in text and "Layout: HWC" in text
    plain = cli("solve", "-", stdin=json.dumps({**SPEC_EXAMPLE, "layout": "CHW",
                                                "input": [1, 28, 28]}))
    assert strict_json(plain.stdout.decode())["layers"][3]["output_shape"] == [64, 6, 6]


def test_seed_model_example_file_solves():
    result = cli("solve", "--table", "examples/seed-model.json")
    assert result.returncode == 0, result.stderr
    assert "Total params: 55,744" in result.stdout.decode()


def test_refused_stack_exits_2_naming_the_field():
    body = {"input": [4, 4, 1], "layers": [
        {"type": "relu"}, {"type": "conv2d", "filters": 2, "kernel": 5}]}
    assert_refused(cli("solve", stdin=json.dumps(body)), "layers[1].kernel")
    assert_refused(cli("solve", "--table", stdin=json.dumps(body)), "layers[1].kernel")


@pytest.mark.parametrize("text", [
    "{", "", "[1, 2", '{"input": [28, 28, 1], "layers": [}', "\xff", "null",
    '{"input": [28, 28, 1]} trailing',
])
def test_malformed_or_wrong_json_exits_2(text):
    assert_refused(cli("solve", stdin=text))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_exit_2(constant):
    assert_refused(cli("solve", stdin=f'{{"input": [28, 28, {constant}]}}'))
    if HAS_POOLING:
        assert_refused(cli("pool", stdin=f'{{"input": [[1, {constant}]], "op": "max", "kernel": 1}}'))


def test_a_missing_file_exits_2(tmp_path):
    assert_refused(cli("solve", str(tmp_path / "nope.json")), "nope.json")


@needs_pooling
def test_pool_prints_the_spec_example_answer():
    result = cli("pool", stdin=json.dumps(POOL_EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert strict_json(result.stdout.decode()) == {
        "output": [[8, 4], [3, 6]], "argmax": [[[1, 1], [1, 3]], [[2, 1], [3, 2]]]}
    table = cli("pool", "--table", stdin=json.dumps(POOL_EXAMPLE))
    assert table.stdout.decode().split() == ["8", "4", "3", "6"]
    assert_refused(cli("pool", stdin=json.dumps({**POOL_EXAMPLE, "kernel": 5})), "kernel")


def test_an_integer_too_long_for_python_is_refused_not_a_traceback():
    # json.loads raises a plain ValueError past 4300 digits (Python's int limit).
    text = '{"input": [' + "1" * 5000 + ", 28, 1]}"
    assert_refused(cli("solve", stdin=text))
    with pytest.raises(SpecError):
        load_json(text)


def test_a_grid_integer_too_large_for_a_float_is_refused_not_a_traceback():
    # Finite in JSON, but math.isfinite cannot convert it.
    from problems.spec import parse_pool

    body = {"input": [[10**400, 1]], "op": "max", "kernel": 1}
    with pytest.raises(SpecError) as err:
        parse_pool(body)
    assert err.value.path == "input[0][0]"
    if HAS_POOLING:
        assert_refused(cli("pool", stdin=json.dumps(body)), "input[0][0]")


@needs_pooling
def test_average_of_large_finite_values_is_strict_json_or_refused():
    # The mean of 1e308 and 1e308 is 1e308; printing Infinity is not JSON.
    body = {"input": [[1e308, 1e308]], "op": "avg", "kernel": [1, 2]}
    result = cli("pool", stdin=json.dumps(body))
    if result.returncode == 2:
        assert_refused(result)
        return
    assert result.returncode == 0, result.stderr
    output = strict_json(result.stdout.decode())["output"]
    assert math.isfinite(output[0][0])


def test_a_hostile_stack_of_dilated_pools_is_cheap():
    # Ten dilated max pools on the largest allowed input: the all-padding check must not
    # walk a million windows per layer in Python (10,000 such layers would take hours).
    body = {"input": [1_000_000, 1_000_000, 1],
            "layers": [{"type": "maxpool2d", "kernel": 2, "stride": 1, "dilation": 2}] * 10}
    try:
        result = cli("solve", stdin=json.dumps(body), timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("solving 10 dilated pools on a 1,000,000-wide input took over 5 s")
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- fuzzing the edges

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)

LAYER_TYPES = [
    "conv2d", "maxpool2d", "minpool2d", "avgpool2d", "global_maxpool2d", "global_avgpool2d",
    "global_minpool2d", "batchnorm", "relu", "leaky_relu", "elu", "gelu", "selu", "silu",
    "sigmoid", "tanh", "softmax", "linear", "flatten", "dense", "conv", "Conv2D", "",
]
FIELDS = ["type", "filters", "kernel", "stride", "padding", "dilation", "groups", "bias",
          "ceil_mode", "count_include_pad", "units", "global", "op", "input", "layout", "x"]
odd_values = st.sampled_from([
    -1, 0, 1, 2, 3, 5, 7, 1_000_000, 1_000_001, 3.0, 2.5, True, False, None, "same",
    "valid", "SAME", "max", [2, 3], [0, 1], [1], [1, 2, 3], [True, 1], [3.0, 2], [[2]], {}, "",
])
size_values = st.integers(-1, 9) | odd_values
field_values = st.one_of(size_values, st.sampled_from(LAYER_TYPES), json_values)


@st.composite
def near_valid_layer(draw) -> Any:
    kind = draw(st.sampled_from(LAYER_TYPES))
    layer: dict[str, Any] = {"type": kind}
    if kind == "conv2d":
        layer.update(filters=draw(st.integers(1, 8)), kernel=draw(st.integers(1, 5)))
    elif kind.endswith("pool2d") and not kind.startswith("global"):
        layer["kernel"] = draw(st.integers(1, 4))
    elif kind == "dense":
        layer["units"] = draw(st.integers(1, 8))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):  # add, change or drop a field
        key = draw(st.sampled_from(FIELDS))
        if draw(st.integers(0, 4)) == 0:
            layer.pop(key, None)
        else:
            layer[key] = draw(field_values)
    return layer if draw(st.integers(0, 30)) else draw(json_values)


@st.composite
def near_valid_stack(draw) -> Any:
    body: dict[str, Any] = {
        "layout": draw(st.sampled_from(["HWC"] * 5 + ["CHW"] * 5 + ["chw", 1])),
        "input": draw(st.sampled_from([[12, 12, 3], [3, 12, 12], [9, 7, 2], [20], [1, 1, 1]])
                      if draw(st.integers(0, 7)) != 3 else st.lists(size_values, max_size=4)),
        "layers": draw(st.lists(near_valid_layer(), max_size=6)),
    }
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 2]))):
        key = draw(st.sampled_from(["layout", "input", "layers", "extra"]))
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(field_values)
    return body


grid_numbers = st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False)


@st.composite
def near_valid_pool(draw) -> Any:
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    grid = [[draw(grid_numbers) for _ in range(w)] for _ in range(h)]
    if draw(st.booleans()):
        grid = [grid] * draw(st.integers(1, 3))
    body: dict[str, Any] = {"input": grid, "op": draw(st.sampled_from(["max", "avg", "min"]))}
    if draw(st.integers(0, 5)) == 0:
        body["global"] = True
    else:
        body["kernel"] = draw(st.integers(1, 4))
        for key in ("stride", "padding", "dilation", "ceil_mode", "count_include_pad"):
            if draw(st.integers(0, 2)) == 0:
                body[key] = draw(st.sampled_from(
                    {"ceil_mode": [True, False], "count_include_pad": [True, False],
                     "padding": [0, 1, 2, "same", "valid", [1, 0]]}.get(key, [1, 2, 3, [1, 2]])))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        key = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(field_values)
    return body


def check_error(err: SpecError) -> None:
    assert isinstance(err.path, str)
    assert isinstance(err.message, str) and err.message
    json.dumps(err.to_json(), allow_nan=False)


def check_solve(body: Any) -> None:
    try:
        answer = solve_json(body)
    except SpecError as err:
        check_error(err)
        return
    json.dumps(answer, allow_nan=False)
    assert set(answer) == {"layout", "layers", "total_params", "trainable_params",
                           "non_trainable_params", "total_macs"}
    assert len(answer["layers"]) == len(body.get("layers", []))
    for i, layer in enumerate(answer["layers"]):
        assert layer["index"] == i
        assert all(d >= 1 for d in layer["output_shape"])
        assert 0 <= layer["trainable_params"] <= layer["params"]
        assert layer["macs"] >= 0 and layer["activations"] >= 1
    assert answer["total_params"] == sum(layer["params"] for layer in answer["layers"])


def check_pool(body: Any) -> None:
    try:
        answer = pool_json(body)
    except SpecError as err:
        check_error(err)
        return
    strict_json(json.dumps(answer))
    assert "output" in answer
    depth, probe = 0, answer["output"]
    while isinstance(probe, list):
        depth, probe = depth + 1, probe[0]
    in_depth, probe = 0, body["input"]
    while isinstance(probe, list):
        in_depth, probe = in_depth + 1, probe[0]
    assert depth == in_depth
    assert ("argmax" in answer) == (body["op"] != "avg")


@given(body=json_values)
@settings(max_examples=300)
def test_any_json_value_is_answered_or_refused_with_a_path(body):
    check_solve(body)
    if HAS_POOLING:
        check_pool(body)


@given(body=near_valid_stack())
@settings(max_examples=600)
def test_near_valid_stacks_are_answered_or_refused_with_a_path(body):
    check_solve(body)


@needs_pooling
@given(body=near_valid_pool())
@settings(max_examples=400)
def test_near_valid_pool_requests_are_answered_or_refused_with_a_path(body):
    check_pool(body)


@given(data=st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
def test_any_bytes_load_as_json_or_are_refused(data):
    try:
        load_json(data)
    except SpecError as err:
        check_error(err)


def run_main(argv: list[str], stdin: bytes) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    fake_stdin = io.TextIOWrapper(io.BytesIO(stdin))
    with mock.patch.object(sys, "stdin", fake_stdin), redirect_stdout(out), redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@given(body=near_valid_stack() | json_values, table=st.booleans(), mangle=st.integers(0, 9))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_main_answers_with_status_0_or_2_and_nothing_half_written(body, table, mangle):
    text = json.dumps(body)
    if mangle == 0:
        text = text[: len(text) // 2]  # truncated: not JSON
    status, out, err = run_main(["solve", *(["--table"] if table else [])], text.encode())
    if status == 0:
        assert err == ""
        if not table:
            strict_json(out)
    else:
        assert status == 2
        assert out == "" and err.startswith("error: ") and err.count("\n") == 1


@needs_pooling
@given(body=near_valid_pool(), table=st.booleans())
@settings(max_examples=100)
def test_main_pool_answers_with_status_0_or_2(body, table):
    status, out, err = run_main(["pool", *(["--table"] if table else [])], json.dumps(body).encode())
    assert status in (0, 2)
    if status == 0:
        assert err == "" and out
        if not table:
            strict_json(out)
    else:
        assert out == "" and err.startswith("error: ")


# ---------------------------------------------------------------- every kind through the CLI

GENERATE_FLAGS = [[], ["--answers"], ["--json"], ["--json", "--answers"]]


@pytest.mark.parametrize("kind", sorted(kinds.KINDS))
def test_generate_with_every_documented_flag_prints_every_kind_difficulty_and_seed(kind):
    # `generate --answers` (shown in the README) once crashed for maxpool_gradient on a
    # worked-solution grid without a single result value.
    for difficulty in (1, 2, 3):
        for seed in (0, 1, 2, 3, 7, 2**40):
            for flags in GENERATE_FLAGS:
                argv = ["generate", "--kind", kind, "--difficulty", str(difficulty), "--seed", str(seed), *flags]
                status, out, err = run_main(argv, b"")
                assert status == 0 and err == "", (argv, err)
                if "--json" in flags:
                    data = strict_json(out)
                    assert ("answers" in data) == ("--answers" in flags)
                else:
                    assert ("Worked solution:" in out) == ("--answers" in flags), argv


@pytest.mark.parametrize("kind", sorted(kinds.KINDS))
def test_grade_with_and_without_follow_through_answers_every_kind(kind):
    for difficulty in (1, 2, 3):
        for seed in (0, 1, 7):
            problem = kinds.generate(kind, difficulty, seed)
            right = {p.id: format_answer(p, problem.answers[p.id]) for p in problem.parts}
            for body, all_right in ((right, True), ({}, False), ({p.id: "7" for p in problem.parts}, None)):
                for flags in ([], ["--no-follow-through"]):
                    argv = ["grade", "--kind", kind, "--difficulty", str(difficulty), "--seed", str(seed), *flags]
                    status, out, err = run_main(argv, json.dumps(body).encode())
                    assert status == 0 and err == "", (argv, body, err)
                    parts = strict_json(out)["parts"]
                    if all_right is not None:
                        assert all(p["correct"] for p in parts) == all_right, (argv, body)
