"""The solver on the spec's examples, and every refusal of the spec with its field path."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from problems.contract import load_json, solve_json
from problems.errors import SpecError
from problems.solver import solve
from problems.spec import parse_stack

ROOT = Path(__file__).resolve().parent.parent

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


def seed_model(layout: str = "HWC") -> dict:
    return {
        "layout": layout,
        "input": [28, 28, 1] if layout == "HWC" else [1, 28, 28],
        "layers": [{"type": "conv2d", "filters": f, "kernel": 3} for f in (32, 64, 64)],
    }


def test_seed_model_matches_the_spec_answer():
    answer = solve_json(seed_model())
    assert answer["layers"][0] == {
        "index": 0, "type": "conv2d", "output_shape": [26, 26, 32], "params": 320,
        "trainable_params": 320, "macs": 194688, "activations": 21632,
        "receptive_field": {"size": [3, 3], "jump": [1, 1], "start": [0, 0]},
    }
    assert [layer["output_shape"] for layer in answer["layers"]] == [[26, 26, 32], [24, 24, 64], [22, 22, 64]]
    assert [layer["params"] for layer in answer["layers"]] == [320, 18_496, 36_928]
    assert answer["total_params"] == answer["trainable_params"] == 55_744
    assert answer["non_trainable_params"] == 0
    assert answer["total_macs"] == 28_653_696
    assert answer["layers"][2]["receptive_field"]["size"] == [7, 7]


def test_seed_model_in_chw_reports_channels_first():
    answer = solve_json(seed_model("CHW"))
    assert [layer["output_shape"] for layer in answer["layers"]] == [[32, 26, 26], [64, 24, 24], [64, 22, 22]]
    assert answer["total_params"] == 55_744


def test_two_stride_two_convolutions_see_seven_by_seven():
    stack = {"input": [32, 32, 3], "layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 2},
        {"type": "conv2d", "filters": 8, "kernel": 3, "stride": 2},
    ]}
    field = solve_json(stack)["layers"][1]["receptive_field"]
    assert field == {"size": [7, 7], "jump": [4, 4], "start": [0, 0]}


def test_spec_example_stack():
    layers = solve_json(SPEC_EXAMPLE)["layers"]
    assert [layer["output_shape"] for layer in layers] == [
        [26, 26, 32], [24, 24, 64], [12, 12, 64], [6, 6, 64], [64], [10]]
    assert [layer["params"] for layer in layers] == [320, 18_496, 0, 36_928, 0, 650]
    # "same" with stride 2 on 12: out 6, total padding (6-1)*2+3-12 = 1, none before.
    assert layers[3]["receptive_field"] == {"size": [10, 10], "jump": [4, 4], "start": [0, 0]}
    assert layers[4]["receptive_field"] is None and layers[5]["receptive_field"] is None


def test_same_padding_puts_the_odd_cell_after():
    stack = {"input": [5, 5, 1], "layers": [{"type": "conv2d", "filters": 1, "kernel": 4, "padding": "same"}]}
    layer = solve_json(stack)["layers"][0]
    assert layer["output_shape"] == [5, 5, 1]
    assert layer["receptive_field"]["start"] == [-1, -1]  # total 3: 1 before, 2 after


def test_integer_padding_moves_the_field_start_into_the_padding():
    stack = {"input": [8, 8, 1], "layers": [
        {"type": "conv2d", "filters": 1, "kernel": 3, "padding": 1},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "conv2d", "filters": 1, "kernel": 3, "padding": 1, "dilation": 2},
    ]}
    fields = [layer["receptive_field"] for layer in solve_json(stack)["layers"]]
    assert fields[0] == {"size": [3, 3], "jump": [1, 1], "start": [-1, -1]}
    assert fields[1] == {"size": [4, 4], "jump": [2, 2], "start": [-1, -1]}
    assert fields[2] == {"size": [12, 12], "jump": [2, 2], "start": [-3, -3]}


def test_ceil_mode_drops_window_starting_in_right_padding():
    # in 5, k 2, s 2, p 1: ceil((5+2-2)/2)+1 = 4, but window 3 would start at 6-1 = 5 >= 5
    stack = {"input": [5, 5, 1], "layers": [
        {"type": "maxpool2d", "kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True}]}
    assert solve_json(stack)["layers"][0]["output_shape"] == [3, 3, 1]
    stack["layers"][0]["padding"] = 0  # ceil((5-2)/2)+1 = 3, last window starts at 4 < 5
    assert solve_json(stack)["layers"][0]["output_shape"] == [3, 3, 1]
    del stack["layers"][0]["ceil_mode"]
    assert solve_json(stack)["layers"][0]["output_shape"] == [2, 2, 1]


def test_ceil_mode_kernel_larger_than_input_gives_one_output():
    stack = {"input": [2, 2, 1], "layers": [
        {"type": "maxpool2d", "kernel": 3, "stride": 2, "ceil_mode": True}]}
    assert solve_json(stack)["layers"][0]["output_shape"] == [1, 1, 1]


def test_groups_batchnorm_and_bias_free_params():
    stack = {"layout": "CHW", "input": [16, 10, 10], "layers": [
        {"type": "conv2d", "filters": 32, "kernel": 3, "groups": 4, "bias": False},
        {"type": "batchnorm"},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": 5, "bias": False},
    ]}
    answer = solve_json(stack)
    assert [layer["params"] for layer in answer["layers"]] == [3 * 3 * 4 * 32, 128, 0, 0, 8 * 8 * 32 * 5]
    assert answer["layers"][1]["trainable_params"] == 64
    assert answer["non_trainable_params"] == 64
    assert answer["layers"][3]["output_shape"] == [2048]
    assert answer["layers"][0]["macs"] == 8 * 8 * 32 * 3 * 3 * 4


def test_flatten_on_1d_input_and_empty_stack():
    assert solve_json({"input": [7], "layers": [{"type": "flatten"}]})["layers"][0]["output_shape"] == [7]
    empty = solve_json({"input": [4, 4, 1], "layers": []})
    assert empty == {"layout": "HWC", "layers": [], "total_params": 0, "trainable_params": 0,
                     "non_trainable_params": 0, "total_macs": 0}


def test_pointwise_layers_keep_shape_and_field():
    acts = ["relu", "leaky_relu", "elu", "gelu", "selu", "silu", "sigmoid", "tanh", "softmax", "linear"]
    stack = {"input": [6, 6, 2], "layers": [{"type": "conv2d", "filters": 3, "kernel": 3}]
             + [{"type": a} for a in acts]}
    layers = solve_json(stack)["layers"]
    assert all(layer["output_shape"] == [4, 4, 3] for layer in layers)
    assert all(layer["receptive_field"]["size"] == [3, 3] for layer in layers)


def _with(layer: dict, base: dict | None = None) -> dict:
    stack = copy.deepcopy(base or {"input": [8, 8, 3], "layers": []})
    stack["layers"].append(layer)
    return stack


REFUSALS = [
    # (body, path, words in the message)
    (_with({"type": "conv2d", "filters": 4, "kernel": 9}), "layers[0].kernel",
     "window 9 is larger than the padded input 8"),
    (_with({"type": "conv2d", "filters": 4, "kernel": 3, "dilation": 5}), "layers[0].kernel",
     "window 11 is larger than the padded input 8"),
    (_with({"type": "conv2d", "filters": 4, "kernel": 3.0}), "layers[0].kernel", "expected an integer"),
    (_with({"type": "conv2d", "filters": True, "kernel": 3}), "layers[0].filters", "got true"),
    (_with({"type": "conv2d", "filters": 0, "kernel": 3}), "layers[0].filters", "positive"),
    (_with({"type": "conv2d", "filters": 4, "kernel": [3, 3, 3]}), "layers[0].kernel", "[h, w]"),
    (_with({"type": "conv2d", "filters": 4, "kernel": [3, -1]}), "layers[0].kernel[1]", "positive"),
    (_with({"type": "conv2d", "kernel": 3}), "layers[0].filters", "required"),
    (_with({"type": "conv2d", "filters": 4, "kernel": 3, "bias": 1}), "layers[0].bias", "true or false"),
    (_with({"type": "conv2d", "filters": 4, "kernel": 3, "padding": "full"}), "layers[0].padding", '"valid"'),
    (_with({"type": "conv2d", "filters": 4, "kernel": 3, "padding": -1}), "layers[0].padding", ">= 0"),
    (_with({"type": "conv2d", "filters": 4, "kernel": 3, "groups": 2}), "layers[0].groups", "does not divide"),
    (_with({"type": "conv2d", "filters": 4, "kernel": 3, "kernel_size": 3}), "layers[0].kernel_size", "unknown field"),
    (_with({"type": "maxpool2d", "kernel": 2, "count_include_pad": True}), "layers[0].count_include_pad", "unknown field"),
    (_with({"type": "avgpool2d", "kernel": 2, "dilation": 1}), "layers[0].dilation", "unknown field"),
    (_with({"type": "maxpool2d", "kernel": 3, "padding": 2}), "layers[0].padding", "more than half the kernel"),
    (_with({"type": "maxpool2d", "kernel": 3, "dilation": 2, "padding": 2}), "layers[0].padding", "at most 1"),
    (_with({"type": "avgpool2d", "kernel": [2, 4], "padding": [1, 3]}), "layers[0].padding", "width"),
    (_with({"type": "maxpool2d", "kernel": 2, "padding": "valid", "ceil_mode": True}), "layers[0].ceil_mode", "integer padding"),
    (_with({"type": "avgpool2d", "kernel": 2, "padding": "same", "ceil_mode": False}), "layers[0].ceil_mode", "integer padding"),
    (_with({"type": "maxpool2d", "kernel": 2, "ceil_mode": 1}), "layers[0].ceil_mode", "true or false"),
    (_with({"type": "maxpool2d", "kernel": 2, "stride": 1, "dilation": 10, "padding": 1}), "layers[0].kernel", "larger than the padded input"),
    (_with({"type": "maxpool2d", "kernel": 2, "stride": 1, "dilation": 9, "padding": 1}), "layers[0].dilation", "only padding"),
    (_with({"type": "global_maxpool2d", "kernel": 2}), "layers[0].kernel", "unknown field"),
    (_with({"type": "relu", "alpha": 0.1}), "layers[0].alpha", "unknown field"),
    (_with({"type": "swish"}), "layers[0].type", "unknown layer type"),
    (_with({"type": "dense", "units": 10}), "layers[0].type", "add a flatten"),
    (_with({"filters": 3}), "layers[0].type", "required"),
    (_with("conv2d"), "layers[0]", "expected an object"),
    ({"input": [10], "layers": [{"type": "conv2d", "filters": 1, "kernel": 1}]}, "layers[0].type", "spatial input"),
    ({"input": [10], "layers": [{"type": "global_avgpool2d"}]}, "layers[0].type", "spatial input"),
    ({"input": [28, 28], "layers": []}, "input", "[H, W, C]"),
    ({"input": [28, 0, 1], "layers": []}, "input[1]", "positive"),
    ({"input": [28, 28, 1.5], "layers": []}, "input[2]", "integer"),
    ({"layers": []}, "input", "required"),
    ({"input": [28, 28, 1], "layers": {}}, "layers", "list"),
    ({"input": [28, 28, 1], "layout": "NHWC"}, "layout", '"HWC" or "CHW"'),
    ({"input": [28, 28, 1], "batch": 4}, "batch", "unknown field"),
    ({"input": [10**7, 10, 1]}, "input[0]", "too large"),
    ({"input": [4, 4, 1], "layers": [{"type": "relu"}] * 10_001}, "layers", "too many"),
    ([1, 2, 3], "", "expected an object"),
]


@pytest.mark.parametrize(("body", "path", "words"), REFUSALS, ids=[r[1] + ":" + r[2] for r in REFUSALS])
def test_refusals_name_the_field(body, path, words):
    with pytest.raises(SpecError) as info:
        solve(parse_stack(body))
    assert info.value.path == path
    assert words in info.value.message


def test_refusal_error_json_shape():
    err = SpecError("layers[3].kernel", "window 5 is larger than the padded input 4")
    assert err.to_json() == {"error": {"path": "layers[3].kernel", "message": "window 5 is larger than the padded input 4"}}
    assert str(err) == "layers[3].kernel: window 5 is larger than the padded input 4"


@pytest.mark.parametrize("text", ['{"input": [1, 1, NaN]}', '{"a": Infinity}', '{"a": 1,}', "", "\xff"])
def test_load_json_refuses_non_json(text):
    with pytest.raises(SpecError, match="not"):
        load_json(text.encode("latin-1") if text == "\xff" else text)


def test_deeply_nested_json_is_refused_cleanly():
    with pytest.raises(SpecError):
        solve_json(load_json("[" * 100_000 + "]" * 100_000))


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "problems", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def test_cli_solve_prints_answer_json_and_table():
    done = run_cli("solve", stdin=json.dumps(SPEC_EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total_params"] == 56_394
    table = run_cli("solve", "--table", str(ROOT / "examples" / "seed-model.json"))
    assert table.returncode == 0
    assert "Total params: 55,744" in table.stdout
    assert "7x7" in table.stdout


def test_cli_refusal_exits_2_with_the_path_on_stderr():
    done = run_cli("solve", stdin=json.dumps(_with({"type": "conv2d", "filters": 4, "kernel": 9})))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "layers[0].kernel: window 9 is larger than the padded input 8" in done.stderr
    assert "Traceback" not in done.stderr


def test_problems_does_not_import_flask_or_sqlalchemy():
    code = ("import sys, problems, problems.solver, problems.contract, problems.__main__; "
            "print('flask' in sys.modules or 'sqlalchemy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr
