"""Sizes of the probe modules, importable without torch (``serlib plan`` needs them): the widths
of the heads, the depth and lengths of the hierarchical convolution, the parameters of one
group, and the bytes that bound a pass of the pooled grid (:mod:`serlib.probing.pooled_grid`).
The modules themselves (:mod:`serlib.probing.probes`) take their widths from here, and a test
checks the parameter counts against theirs."""

from __future__ import annotations

from typing import Protocol


class ProbeShape(Protocol):
    """What the sizes read of a probe kind (:class:`serlib.probing.kinds.ProbeKind`, which this
    module does not import: the kinds build their modules, and the modules read their widths here)."""

    module_name: str
    scope: str


PAPER_MLP_HIDDEN = 128
DENSE_HIDDEN = 256
WIDE_MLP_HIDDEN = 512
HIERCONV_KERNEL = 5
HIERCONV_STRIDE = 3


def hierconv_depth(num_hidden_states: int, stride: int = HIERCONV_STRIDE) -> int:
    """Number of convolutions over the layer axis: ``floor(log_stride(S))``, at least 1.

    The authors' code computes ``floor(log(S) / log(stride))`` in floating point; this is the
    same number in integer arithmetic (the largest n with ``stride**n <= S``), exact also where
    S is a power of the stride. 1 for S = 3..8 (Whisper base: S = 7), 2 for S = 9..26 (base
    and large wav2vec2/HuBERT: S = 13, 25). S = 2 would give 0; we use 1 convolution there.
    """
    if num_hidden_states < 1:
        raise ValueError("hierarchical convolution needs at least one hidden state")
    depth, reach = 0, stride
    while reach <= num_hidden_states:
        depth, reach = depth + 1, reach * stride
    return max(1, depth)


def hierconv_lengths(num_hidden_states: int, kernel_size: int = HIERCONV_KERNEL,
                     stride: int = HIERCONV_STRIDE) -> list[int]:
    """Length of the layer axis after each convolution (padding ``kernel_size // 2`` each side):
    ``L' = floor((L + 2 * (k // 2) - k) / stride) + 1``; e.g. 13 -> [5, 2], 25 -> [9, 3], 7 -> [3]."""
    lengths, length = [], num_hidden_states
    for _ in range(hierconv_depth(num_hidden_states, stride)):
        length = (length + 2 * (kernel_size // 2) - kernel_size) // stride + 1
        lengths.append(length)
    return lengths


def _mlp(input_dim: int, hidden: list[int], num_classes: int) -> int:
    """Weights and biases of an MLP ``input_dim -> hidden... -> num_classes``."""
    widths = [input_dim, *hidden, num_classes]
    return sum(inputs * outputs + outputs for inputs, outputs in zip(widths[:-1], widths[1:]))


def _hierconv(num_hidden_states: int, width: int, num_classes: int) -> int:
    lengths = hierconv_lengths(num_hidden_states)
    channels = [width] * len(lengths) + [max(1, width // lengths[-1])]
    convolutions = sum(outputs * inputs * HIERCONV_KERNEL + outputs for inputs, outputs in zip(channels[:-1], channels[1:]))
    return convolutions + _mlp(channels[-1] * lengths[-1], [PAPER_MLP_HIDDEN], num_classes)


#: module name -> parameters of one group, from (hidden states S, width D, classes C).
GROUP_PARAMETERS = {
    "PaperMLPProbe": lambda states, width, classes: _mlp(width, [PAPER_MLP_HIDDEN], classes),
    "SoftmaxLinearProbe": lambda states, width, classes: _mlp(width, [], classes),
    "DenseHead": lambda states, width, classes: _mlp(width, [DENSE_HIDDEN, DENSE_HIDDEN], classes),
    "WideMLPProbe": lambda states, width, classes: _mlp(width, [WIDE_MLP_HIDDEN, WIDE_MLP_HIDDEN], classes),
    "AggregateDenseProbe": lambda states, width, classes: states + _mlp(width, [DENSE_HIDDEN, DENSE_HIDDEN], classes),
    "AggregateSoftmaxProbe": lambda states, width, classes: states + _mlp(width, [PAPER_MLP_HIDDEN], classes),
    "CumulativeSoftmaxProbe": lambda states, width, classes: states + 1 + _mlp(width, [PAPER_MLP_HIDDEN], classes),
    "AggregateSoftmaxLinearProbe": lambda states, width, classes: states + _mlp(width, [], classes),
    "AggregateSoftmaxWideProbe": lambda states, width, classes: states + _mlp(width, [WIDE_MLP_HIDDEN] * 2, classes),
    "AggregateHierConvProbe": _hierconv,
}

#: Bytes of one pass of the pooled grid per kind of device (parameters, their gradients and Adam
#: moments, and one evaluation chunk of every run's inputs): bounds how many runs train together.
PASS_BYTES = {"cpu": 64 * 1024 ** 2, "cuda": 2 * 1024 ** 3}


def run_bytes(kind: ProbeShape, hidden_states: int, width: int, groups: int, num_classes: int,
              eval_batch_size: int) -> int:
    """Bytes one run of ``groups`` groups adds to a pass: 4 copies of its parameters (values,
    gradients, two Adam moments) and its inputs of one evaluation chunk."""
    parameters = GROUP_PARAMETERS[kind.module_name](hidden_states, width, num_classes) * groups
    states = groups if kind.scope == "per_layer" else hidden_states
    return 4 * (4 * parameters + eval_batch_size * states * width)


def runs_per_pass(kind: ProbeShape, hidden_states: int, width: int, groups: int, num_classes: int,
                  eval_batch_size: int, device: str) -> int:
    """How many runs whose steps line up train in one pass on a ``device`` (``cpu``, ``cuda``, ...:
    any but the CPU gets the GPU's budget)."""
    budget = PASS_BYTES["cpu" if str(device).split(":")[0] == "cpu" else "cuda"]
    return max(1, budget // run_bytes(kind, hidden_states, width, groups, num_classes, eval_batch_size))
