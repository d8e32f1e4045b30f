"""The solver against PyTorch: random layer stacks built as torch modules in CHW, run on
zeros, compared layer by layer (shapes, parameters, MACs); refusals against torch's own
errors; receptive fields against input gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from problems.errors import SpecError
from problems.solver import solve
from problems.spec import parse_stack

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

ACTIVATIONS: dict[str, Callable[[], Any]] = {
    "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU,
    "selu": nn.SELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
    "softmax": lambda: nn.Softmax(dim=1), "linear": nn.Identity,
}
N_CASES = 200


def pair(value: Any) -> tuple[int, int]:
    return (value[0], value[1]) if isinstance(value, list) else (value, value)


# ---------------------------------------------------------------- spec layer -> torch


class TFSamePad(nn.Module):
    """TensorFlow's "same" padding for any stride, worked out here from the input size:
    `out = ceil(in/stride)`, total `max((out-1)*stride + k_eff - in, 0)`, smaller half first."""

    def __init__(self, kernel, stride, dilation, value: float = 0.0) -> None:
        super().__init__()
        self.kernel, self.stride, self.dilation, self.value = kernel, stride, dilation, value

    def forward(self, x):
        pads = []
        for axis in (1, 0):  # F.pad wants the last dimension (width) first
            size = x.shape[2 + axis]
            k_eff = self.dilation[axis] * (self.kernel[axis] - 1) + 1
            out = -(-size // self.stride[axis])
            total = max((out - 1) * self.stride[axis] + k_eff - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads, value=self.value)


def torch_module(layer: dict, x) -> Any:
    """The torch module for one spec layer, given the tensor it will receive."""
    kind = layer["type"]
    if kind == "conv2d":
        kernel = pair(layer["kernel"])
        stride = pair(layer.get("stride", 1))
        dilation = pair(layer.get("dilation", 1))
        padding = layer.get("padding", "valid")
        conv_padding: Any = padding if isinstance(padding, str) else pair(padding)
        if padding == "same" and stride != (1, 1):  # torch's "same" is stride 1 only
            conv = nn.Conv2d(x.shape[1], layer["filters"], kernel, stride, 0, dilation,
                             layer.get("groups", 1), layer.get("bias", True))
            return nn.Sequential(TFSamePad(kernel, stride, dilation), conv)
        return nn.Conv2d(x.shape[1], layer["filters"], kernel, stride, conv_padding, dilation,
                         layer.get("groups", 1), layer.get("bias", True))
    if kind in ("maxpool2d", "minpool2d", "avgpool2d"):
        kernel = pair(layer["kernel"])
        stride = pair(layer.get("stride", layer["kernel"]))
        dilation = pair(layer.get("dilation", 1))
        padding = layer.get("padding", 0)
        ceil_mode = layer.get("ceil_mode", False)
        if kind == "avgpool2d":
            pool = lambda p: nn.AvgPool2d(  # noqa: E731
                kernel, stride, p, ceil_mode, layer.get("count_include_pad", True))
            fill = 0.0
        else:  # min pooling has max pooling's windows
            pool = lambda p: nn.MaxPool2d(kernel, stride, p, dilation, ceil_mode=ceil_mode)  # noqa: E731
            fill = float("-inf")
        if padding == "same":
            return nn.Sequential(TFSamePad(kernel, stride, dilation, fill), pool(0))
        return pool(0 if padding == "valid" else pair(padding))
    if kind == "global_avgpool2d":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if kind in ("global_maxpool2d", "global_minpool2d"):
        return nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())
    if kind == "batchnorm":
        return (nn.BatchNorm2d if x.dim() == 4 else nn.BatchNorm1d)(x.shape[1])
    if kind == "flatten":
        return nn.Flatten()
    if kind == "dense":
        return nn.Linear(x.shape[1], layer["units"], bias=layer.get("bias", True))
    return ACTIVATIONS[kind]()


def trainable_and_buffers(module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    buffers = sum(b.numel() for name, b in module.named_buffers()
                  if not name.endswith("num_batches_tracked"))
    return trainable, buffers


def torch_macs(module, y) -> int:
    """Weight count times output positions for convolutions, weight count for dense."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return (sum(c.weight.numel() * y.shape[2] * y.shape[3] for c in convs)
            + sum(lin.weight.numel() for lin in linears))


# ---------------------------------------------------------------- random stacks


def random_stack(rng: np.random.Generator) -> dict:
    """A CHW stack: windowed and pointwise layers, maybe a head and dense layers; a few
    refusals on purpose (groups that do not divide, pooling padding over half the kernel,
    windows larger than the input, spatial layers after the head)."""

    def pick(options):
        return options[int(rng.integers(len(options)))]

    def ints(lo: int, hi: int) -> Any:
        first = int(rng.integers(lo, hi + 1))
        return first if rng.random() < 0.6 else [first, int(rng.integers(lo, hi + 1))]

    c, h, w = int(rng.integers(1, 7)), int(rng.integers(1, 33)), int(rng.integers(1, 33))
    layers: list[dict] = []
    for _ in range(int(rng.integers(0, 6))):
        kind = pick(["conv2d", "conv2d", "conv2d", "maxpool2d", "minpool2d", "avgpool2d",
                     "batchnorm", "relu", "act"])
        layer: dict[str, Any] = {"type": kind}
        if kind == "conv2d":
            groups = pick([1, 1, 1, 2, 3])
            layer["filters"] = groups * int(rng.integers(1, 4)) if rng.random() < 0.9 else 5
            layer["kernel"] = ints(1, 5)
            if groups > 1:
                layer["groups"] = groups
            if rng.random() < 0.5:
                layer["stride"] = ints(1, 3)
            if rng.random() < 0.3:
                layer["dilation"] = ints(1, 3)
            if rng.random() < 0.7:
                layer["padding"] = pick(["valid", "same", ints(0, 3), ints(0, 3)])
            if rng.random() < 0.3:
                layer["bias"] = bool(rng.random() < 0.5)
        elif kind.endswith("pool2d"):
            layer["kernel"] = ints(1, 4)
            kernel = pair(layer["kernel"])
            if rng.random() < 0.6:
                layer["stride"] = ints(1, 3)
            if kind != "avgpool2d" and rng.random() < 0.4:
                layer["dilation"] = ints(1, 3)
            padding = pick(["omit", "omit", "int", "int", "valid", "same"])
            if padding == "int":
                extra = int(rng.random() < 0.15)  # sometimes over kernel // 2: refused
                layer["padding"] = [int(rng.integers(0, k // 2 + 1)) + extra for k in kernel]
            elif padding != "omit":
                layer["padding"] = padding
            if padding in ("omit", "int") and rng.random() < 0.5:
                layer["ceil_mode"] = bool(rng.random() < 0.7)
            if kind == "avgpool2d" and rng.random() < 0.3:
                layer["count_include_pad"] = bool(rng.random() < 0.5)
        elif kind == "act":
            layer["type"] = pick(list(ACTIVATIONS))
        layers.append(layer)
    head = pick([None, "flatten", "global_avgpool2d", "global_maxpool2d", "global_minpool2d"])
    if head:
        layers.append({"type": head})
        for _ in range(int(rng.integers(0, 4))):
            kind = pick(["dense", "dense", "batchnorm", "relu", "flatten", "spatial"])
            if kind == "dense":
                layers.append({"type": "dense", "units": int(rng.integers(1, 9)),
                               "bias": bool(rng.random() < 0.8)})
            elif kind == "spatial":  # refused by the solver, an error in torch
                layers.append(pick([{"type": "conv2d", "filters": 2, "kernel": 1},
                                    {"type": "maxpool2d", "kernel": 1},
                                    {"type": "global_avgpool2d"}]))
            else:
                layers.append({"type": kind})
    return {"layout": "CHW", "input": [c, h, w], "layers": layers}


def torch_refuses(layer: dict, x, field: str) -> bool:
    """True if torch cannot compute this layer: it raises, gives an empty output or (for a
    max pooling window of padding only) minus infinity. A wrong input rank ("type") is
    judged by the rank alone, since torch reads a 2-D tensor as an unbatched image."""
    if field == "type":
        return x.dim() != (2 if layer["type"] == "dense" else 4)
    try:
        module = torch_module(layer, x).eval()
        with torch.no_grad():
            y = module(x)
    except (RuntimeError, ValueError):
        return True
    if y.numel() == 0:
        return True
    return field == "dilation" and bool(torch.isinf(y).any())


@pytest.mark.parametrize("seed", range(N_CASES))
def test_random_stack_matches_torch_layer_by_layer(seed):
    body = random_stack(np.random.default_rng(seed))
    refused: SpecError | None = None
    try:
        layers = solve(parse_stack(body)).layers
    except SpecError as err:
        refused = err
        layers = ()
    x = torch.zeros(1, *body["input"])
    stop = len(body["layers"])
    if refused is not None:
        stop = int(refused.path.split("]")[0].removeprefix("layers["))
        # Everything before the refused layer must be fine; re-solve that prefix.
        layers = solve(parse_stack({**body, "layers": body["layers"][:stop]})).layers
    for i in range(stop):
        module = torch_module(body["layers"][i], x).eval()
        with torch.no_grad():
            y = module(x)
        got = layers[i]
        assert got.output_shape == tuple(y.shape[1:]), (i, body["layers"][i])
        trainable, buffers = trainable_and_buffers(module)
        assert (got.params, got.trainable_params) == (trainable + buffers, trainable), i
        assert got.macs == torch_macs(module, y), i
        assert got.activations == y.numel()
        x = y
    if refused is not None:
        field = refused.path.rsplit(".", 1)[-1]
        assert torch_refuses(body["layers"][stop], x, field), (refused, body["layers"][stop])


def test_random_stacks_cover_refusals_and_every_layer_type():
    # Keeps the generator honest: the cases above include refusals and every type.
    kinds, refusals = set(), set()
    for seed in range(N_CASES):
        body = random_stack(np.random.default_rng(seed))
        kinds |= {layer["type"] for layer in body["layers"]}
        try:
            solve(parse_stack(body))
        except SpecError as err:
            refusals.add(err.path.rsplit(".", 1)[-1])
    assert kinds >= {"conv2d", "maxpool2d", "minpool2d", "avgpool2d", "batchnorm", "flatten",
                     "dense", "global_avgpool2d", "global_maxpool2d", "relu"}
    assert refusals >= {"kernel", "groups", "padding", "type"}


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
@pytest.mark.parametrize("size", range(1, 9))
def test_pool_output_sizes_match_torch_with_ceil_mode(kind, size):
    for kernel in range(1, 5):
        for stride in range(1, 4):
            for padding in range(kernel // 2 + 1):
                for ceil_mode in (False, True):
                    for dilation in ((1, 2, 3) if kind == "maxpool2d" else (1,)):
                        layer = {"type": kind, "kernel": [kernel, 1], "stride": [stride, 1],
                                 "padding": [padding, 0], "ceil_mode": ceil_mode}
                        if dilation > 1:
                            layer["dilation"] = [dilation, 1]
                        body = {"layout": "CHW", "input": [1, size, 1], "layers": [layer]}
                        x = torch.zeros(1, 1, size, 1)
                        try:
                            shape = solve(parse_stack(body)).layers[0].output_shape
                        except SpecError as err:
                            field = err.path.rsplit(".", 1)[-1]
                            assert torch_refuses(layer, x, field), (layer, err)
                            continue
                        with torch.no_grad():
                            y = torch_module(layer, x)(x)
                        assert shape == tuple(y.shape[1:]), layer
                        assert not torch.isinf(y).any(), layer


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_same_padding_with_stride_one_matches_torch_same(kernel, dilation):
    for size in range(1, 12):
        layer = {"type": "conv2d", "filters": 2, "kernel": [kernel, 2], "padding": "same",
                 "dilation": [dilation, 1]}
        body = {"layout": "CHW", "input": [3, size, 5], "layers": [layer]}
        conv = nn.Conv2d(3, 2, (kernel, 2), padding="same", dilation=(dilation, 1))
        with torch.no_grad():
            y = conv(torch.zeros(1, 3, size, 5))
        assert solve(parse_stack(body)).layers[0].output_shape == tuple(y.shape[1:])


@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_maxpool_padding_limit_is_half_the_undilated_kernel_as_in_torch(dilation):
    # Section 1 says k_eff/2, section 3 says kernel // 2; torch enforces kernel // 2.
    for kernel in range(1, 6):
        for padding in range(0, kernel + 2):
            layer = {"type": "maxpool2d", "kernel": kernel, "padding": padding,
                     "dilation": dilation, "stride": 1}
            body = {"layout": "CHW", "input": [1, 20, 20], "layers": [layer]}
            x = torch.zeros(1, 1, 20, 20)
            try:
                solve(parse_stack(body))
            except SpecError as err:
                assert err.path == "layers[0].padding"
                assert torch_refuses(layer, x, "padding")
                continue
            with torch.no_grad():
                torch_module(layer, x)(x)


# ---------------------------------------------------------------- receptive fields


def random_conv_stack(rng: np.random.Generator) -> dict:
    layers = []
    for _ in range(int(rng.integers(1, 5))):
        layer: dict[str, Any] = {"type": "conv2d", "filters": 1,
                                 "kernel": [int(rng.integers(1, 5)), int(rng.integers(1, 5))],
                                 "stride": [int(rng.integers(1, 4)), int(rng.integers(1, 4))],
                                 "dilation": [int(rng.integers(1, 3)), int(rng.integers(1, 3))]}
        layer["padding"] = ["same", [int(rng.integers(0, 3)), int(rng.integers(0, 3))]][
            int(rng.integers(2))]
        layers.append(layer)
    size = [int(rng.integers(6, 25)), int(rng.integers(6, 25))]
    return {"layout": "CHW", "input": [1, *size], "layers": layers}


@pytest.mark.parametrize("seed", range(60))
def test_receptive_field_contains_exactly_the_pixels_with_gradient(seed):
    # All-ones weights on an all-ones input: the gradient of an output unit is positive
    # exactly on the real input pixels it depends on. They lie in the receptive field
    # clipped to the image; a field wholly inside the image is reached at both ends.
    rng = np.random.default_rng(1000 + seed)
    body = random_conv_stack(rng)
    try:
        solution = solve(parse_stack(body))
    except SpecError:
        return
    model = nn.Sequential(*(torch_module(layer, torch.zeros(1, 1, 1, 1))
                            for layer in body["layers"]))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    x = torch.ones(1, *body["input"], requires_grad=True)
    y = model(x)
    field = solution.layers[-1].receptive_field
    _, height, width = body["input"]
    units_h, units_w = y.shape[2], y.shape[3]
    for _ in range(6):
        i, j = int(rng.integers(units_h)), int(rng.integers(units_w))
        (grad,) = torch.autograd.grad(y[0, 0, i, j], x, retain_graph=True)
        rows = torch.nonzero(grad[0, 0].sum(dim=1)).flatten().tolist()
        cols = torch.nonzero(grad[0, 0].sum(dim=0)).flatten().tolist()
        spans = (field.rows(i, 0), field.rows(j, 1))
        inside = [first >= 0 and last < extent
                  for (first, last), extent in zip(spans, (height, width), strict=True)]
        if not rows:  # it reads only padding: its field leaves the image on some axis
            assert not all(inside), (i, j, body)
            continue
        for seen, (first, last), extent, within in zip(
                (rows, cols), spans, (height, width), inside, strict=True):
            assert all(max(first, 0) <= p <= min(last, extent - 1) for p in seen)
            if within:
                assert (seen[0], seen[-1]) == (first, last), (i, j, body)
