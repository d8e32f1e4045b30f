"""The named wrong models students bring to CNN arithmetic, and how to explain each one.

A problem kind recomputes its answers under a wrong model (through the solver, with the
stack changed the way the student's mental model changes it); when a student's wrong answer
equals what a wrong model gives, the feedback names the misconception.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Misconception:
    id: str
    name: str
    explanation: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "explanation": self.explanation}


_ALL = (
    Misconception(
        "bias_forgotten", "Bias forgotten",
        "Each filter (or dense unit) also has one bias: add the number of filters (or units) to the weights, "
        "unless the layer says bias: false.",
    ),
    Misconception(
        "bias_per_input_channel", "Bias counted per input channel",
        "There is one bias per filter, not one per input channel: a conv2d layer has as many "
        "biases as filters, whatever its number of input channels.",
    ),
    Misconception(
        "same_as_valid", '"same" taken for "valid"',
        'With "same" padding the output size is ceil(in / stride): the input is padded so no '
        "border row or column is lost. You computed it as if there were no padding.",
    ),
    Misconception(
        "valid_as_same", '"valid" taken for "same"',
        '"valid" means no padding: the window must fit inside the input, so the output is '
        "floor((in - k_eff) / stride) + 1, smaller than ceil(in / stride).",
    ),
    Misconception(
        "floor_for_ceil", "Rounded down in ceil mode",
        "With ceil_mode the window count is rounded up (a last, partial window is kept as long as "
        "it starts inside the input or the left padding): use ceil, not floor.",
    ),
    Misconception(
        "ceil_for_floor", "Rounded up without ceil mode",
        "Without ceil_mode a window that does not fit is dropped: the count is rounded down "
        "(floor), not up.",
    ),
    Misconception(
        "padding_forgotten", "Padding forgotten",
        "The padding adds p rows (and columns) on each side: use in + 2p in the output-size formula.",
    ),
    Misconception(
        "padding_counted_once", "Padding counted on one side only",
        "Integer padding p is added on both sides of the input: in + 2p, not in + p.",
    ),
    Misconception(
        "dilation_ignored", "Dilation ignored",
        "A dilated kernel spans k_eff = dilation*(k-1) + 1 cells, not k: use k_eff for the output "
        "size and the receptive field.",
    ),
    Misconception(
        "rf_without_jump", "Receptive field grown by kernel sizes alone",
        "Each layer adds (k_eff - 1) times the current jump to the receptive field, and the jump is "
        "the product of the strides before it. Adding only (k - 1) ignores how strides and pooling "
        "spread the units apart.",
    ),
    Misconception(
        "rf_stride_as_growth", "Receptive field multiplied by the stride",
        "A layer's stride does not widen its own units' receptive field; it multiplies the jump, "
        "which widens what the following layers add.",
    ),
    Misconception(
        "stride_forgotten", "Stride forgotten",
        "A stride s moves the window s cells at a time: divide by the stride, "
        "floor((in + 2p - k_eff) / s) + 1.",
    ),
    Misconception(
        "off_by_one_windows", "Off by one in the window count",
        "The number of window positions is floor((in + 2p - k_eff) / s) + 1: the first window "
        "counts too (the +1), and only once.",
    ),
    Misconception(
        "layout_swapped", "Channels first and last swapped",
        "HWC (Keras) puts channels last: (height, width, channels); CHW (PyTorch) puts them "
        "first: (channels, height, width). Check the layout of the stack.",
    ),
    Misconception(
        "channels_not_updated", "Channels not changed by the convolution",
        "A convolution outputs one channel per filter: the channel count becomes the number of filters, "
        "whatever it was before.",
    ),
    Misconception(
        "pool_changes_channels", "Pooling changed the channels",
        "Pooling works on each channel separately: it shrinks height and width but keeps the "
        "number of channels.",
    ),
    Misconception(
        "groups_ignored", "Groups ignored",
        "With groups g each filter sees only C_in / g input channels: the weights are "
        "kh*kw*(C_in/g)*filters.",
    ),
    Misconception(
        "batchnorm_trainable_only", "Batch norm counted without its running statistics",
        "Batch normalization stores 4 values per channel: gamma and beta (trainable) and the "
        "running mean and variance (not trainable). Param # counts all four.",
    ),
    Misconception(
        "input_channels_forgotten", "Input channels forgotten",
        "Each filter spans all the input channels (C_in / groups of them): its weights are "
        "kh*kw*C_in, not kh*kw.",
    ),
    Misconception(
        "flatten_wrong_size", "Flatten size wrong",
        "Flatten gives H*W*C values: every cell of every channel.",
    ),
    Misconception(
        "avg_counts_padding", "Average pooling counted the padding",
        "This average pooling does not count padded cells (count_include_pad false, or "
        '"same" padding as in TensorFlow): divide by the number of real cells in the window.',
    ),
    Misconception(
        "avg_ignores_padding", "Average pooling ignored the padding",
        "With count_include_pad (PyTorch's default) the padded zeros are part of the average: "
        "divide by the window area within the padded input, padding included.",
    ),
    Misconception(
        "max_for_avg", "Max taken for the average",
        "Average pooling takes the mean of the window, not its largest value.",
    ),
    Misconception(
        "avg_for_max", "Average taken for the max",
        "Max pooling keeps the largest value of the window, not the mean.",
    ),
    Misconception(
        "min_for_max", "Min and max swapped",
        "Max pooling keeps the largest value of each window, min pooling the smallest.",
    ),
    Misconception(
        "grid_transposed", "Grid transposed",
        "Rows go down and columns across: your grid has them swapped (row i of the answer is "
        "column i of yours).",
    ),
    Misconception(
        "overlap_ignored", "Overlapping windows treated as disjoint",
        "With a stride smaller than the kernel, neighbouring windows overlap: a cell can belong "
        "to several windows.",
    ),
    Misconception(
        "pooling_has_params", "Pooling given parameters",
        "Pooling layers have no weights: their Param # is 0.",
    ),
    Misconception(
        "macs_without_kernel", "MACs counted per output only",
        "Each output value of a convolution costs kh*kw*(C_in/groups) multiply-accumulates: "
        "multiply the output size by the kernel volume.",
    ),
    Misconception(
        "gradient_to_all_cells", "Gradient spread over the whole window",
        "Max pooling passes the gradient only to the cell that won the window (the first one on "
        "ties); the other cells get zero. Spreading it evenly is what average pooling does.",
    ),
    Misconception(
        "ties_all_win", "Every tied cell given the gradient",
        "When several cells tie for the maximum, the implementation routes the gradient to one "
        "of them, the first in row-major order, not to all.",
    ),
    Misconception(
        "shift_always_changes", "Any shift changes the pooled output",
        "Max pooling tolerates small shifts: while the strong activation stays inside the same "
        "pooling window, the window's maximum, and so the output, is unchanged.",
    ),
    Misconception(
        "global_avg_flags_spike", "Global average taken as the detector of a single spike",
        "A single strong activation (a rip) barely moves the global average of a large map; the "
        "global maximum is what flags it. A spread, moderate response (wrinkles) raises the "
        "average instead.",
    ),
    Misconception(
        "global_pool_as_flatten", "Global pooling taken for flatten",
        "A global pooling layer keeps one value per channel: a dense layer after it has C inputs, "
        "not H*W*C.",
    ),
    Misconception(
        "batchnorm_stats_trainable", "Batch-norm running statistics counted as trainable",
        "The running mean and variance of batch normalization are updated by averaging, not by "
        "gradient descent: only gamma and beta (2 per channel) are trainable.",
    ),
    Misconception(
        "ratio_inverted", "Ratio inverted",
        "\u201cHow many times fewer\u201d is the larger count divided by the smaller one: a number "
        "above 1.",
    ),
    Misconception(
        "pool_area_ratio", "Saving taken as the pool's area",
        "A pool with stride s divides each side by about s, but valid convolutions trim the "
        "borders and sizes are rounded: compute both counts from the actual output shapes; the "
        "ratio is rarely exactly the pool's area.",
    ),
    Misconception(
        "unchanged_layers_forgotten", "Total ratio from the changed layer alone",
        "The layers before the pool cost the same in both stacks: the total ratio is (their MACs + "
        "the later layers' MACs without the pool) / (their MACs + the later layers' MACs with it), "
        "closer to 1 than one layer's own ratio.",
    ),
    Misconception(
        "rf_off_by_one", "Off by one in the receptive field",
        "Unit i sees rows start + i*jump to start + i*jump + r - 1, inclusive: r rows, the last "
        "one r - 1 past the first. Each layer adds (k_eff - 1)*jump to the size, not k_eff*jump; "
        "and the depth asked for is the first one whose size reaches the target.",
    ),
    Misconception(
        "pooled_cell_off_by_one", "Neighbouring pooled cell",
        "Pooled cell (i, j) covers input rows i*stride - p to i*stride - p + k_eff - 1 (and the "
        "same columns), counting from 0 and with p the padding before: find the windows that "
        "hold a cell with that formula, not by counting from 1 or without the padding.",
    ),
    Misconception(
        "vacated_window_ignored", "Window the activation left forgotten",
        "When the strong activation moves out of a window, that window's maximum drops to the "
        "largest value left in it: it changes too, not only the window the activation enters.",
    ),
)

MISCONCEPTIONS: dict[str, Misconception] = {m.id: m for m in _ALL}


def get(misconception_id: str) -> Misconception:
    """The misconception with this id (KeyError names it if unknown: an author mistake)."""
    return MISCONCEPTIONS[misconception_id]
