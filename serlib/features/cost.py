"""What a speech model costs to run, from its architecture alone (no torch, no weights).

:class:`Architecture` holds the figures of a model's config that fix its compute (conv stack,
blocks, width, FFN size, heads; Whisper's mel front end) and counts its parameters and the
multiply-adds of one utterance. :func:`architecture_of` reads them from serlib's bundled configs,
a local ``config.json`` or the tiny test configs. Used by ``serlib plan`` and the benchmarks.

:func:`frame_probe_macs` counts what the paper's frame-level probes (``dense``, ``aggregate``)
cost per fold and epoch, as ``benchmarks/frame_probe_speed.py`` counts them; :data:`ACOUSTIC_WIDTHS`
gives the width of each acoustic baseline's store.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from serlib.features.bundled_configs import bundled_config, has_bundled_config
from serlib.features.registry import ACOUSTIC_PREFIX, RANDOM_PREFIX, SAMPLE_RATE, _tiny_waveform_kwargs

#: Whisper's encoder always runs over a 30 s window (``whisper_window="full"``).
WHISPER_WINDOW_SECONDS = 30.0


@dataclass(frozen=True)
class Architecture:
    """What the cost model needs of a speech model (from its config, no weights)."""

    family: str
    blocks: int
    width: int
    ffn: int
    heads: int
    conv_dim: tuple[int, ...] = ()
    conv_stride: tuple[int, ...] = ()
    conv_kernel: tuple[int, ...] = ()
    pos_kernel: int = 128
    pos_groups: int = 16
    pos_layers: int = 1
    mel_bins: int = 80
    #: True where padding changes valid frames (group-norm conv stacks, data2vec-audio): on the
    #: CPU the engine then batches only equal-length clips, in practice one clip per batch.
    equal_length_batches: bool = False
    #: The same on a GPU, where group-norm stacks are batched with a masked first group norm:
    #: data2vec-audio only.
    equal_length_batches_gpu: bool = False

    @property
    def is_whisper(self) -> bool:
        return self.family == "whisper"

    @property
    def frame_rate(self) -> float:
        return 50.0 if self.is_whisper else SAMPLE_RATE / math.prod(self.conv_stride)

    @property
    def hidden_states(self) -> int:
        return self.blocks + 1

    def parameters(self) -> int:
        """Encoder parameters (weights only; biases and norms are negligible)."""
        blocks = self.blocks * (4 * self.width**2 + 2 * self.width * self.ffn)
        if self.is_whisper:
            return blocks + 3 * self.mel_bins * self.width + 3 * self.width**2
        dims = (1, *self.conv_dim)
        conv = sum(dims[i] * dims[i + 1] * self.conv_kernel[i] for i in range(len(self.conv_dim)))
        positional = self.pos_layers * self.width * self.width // self.pos_groups * self.pos_kernel
        return blocks + conv + positional + self.conv_dim[-1] * self.width

    def macs(self, seconds: float, whisper_window: str = "full") -> float:
        """Multiply-adds to run one utterance of ``seconds`` through the encoder."""
        if self.is_whisper and whisper_window == "full":
            seconds = WHISPER_WINDOW_SECONDS
        frames = seconds * self.frame_rate
        per_frame = self.blocks * (4 * self.width**2 + 2 * self.width * self.ffn)
        attention = self.blocks * 2 * frames * self.width  # scores and weighted sum
        if self.is_whisper:
            front = 2 * frames * 3 * self.mel_bins * self.width + frames * 3 * self.width**2
            return front + frames * (per_frame + attention)
        samples, dims, conv = seconds * SAMPLE_RATE, (1, *self.conv_dim), 0.0
        for layer, (stride, kernel) in enumerate(zip(self.conv_stride, self.conv_kernel)):
            samples /= stride
            conv += samples * dims[layer] * dims[layer + 1] * kernel
        positional = self.pos_layers * self.width * self.width // self.pos_groups * self.pos_kernel
        projection = self.conv_dim[-1] * self.width
        return conv + frames * (per_frame + attention + positional + projection)


def architecture_of(source: str) -> Architecture | None:
    """The architecture of a profile's model source; None for acoustic sets and unknown models."""
    if source.startswith(ACOUSTIC_PREFIX):
        return None
    bare = source.removeprefix(RANDOM_PREFIX)
    if bare.endswith("-tiny"):
        return _tiny_architecture(bare)
    if has_bundled_config(bare):
        return _from_config(bundled_config(bare)["model"])
    config_file = Path(bare).expanduser() / "config.json"
    if config_file.is_file():
        return _from_config(json.loads(config_file.read_text()))
    return None


def _from_config(model: dict) -> Architecture:
    if model["model_type"] == "whisper":
        return Architecture("whisper", model["encoder_layers"], model["d_model"],
                            model["encoder_ffn_dim"], model["encoder_attention_heads"],
                            mel_bins=model.get("num_mel_bins", 80))
    data2vec = model["model_type"] == "data2vec-audio"
    return Architecture(
        model["model_type"], model["num_hidden_layers"], model["hidden_size"],
        model["intermediate_size"], model["num_attention_heads"],
        tuple(model["conv_dim"]), tuple(model["conv_stride"]), tuple(model["conv_kernel"]),
        pos_kernel=model.get("conv_pos_kernel_size", 19) if data2vec
        else model.get("num_conv_pos_embeddings", 128),
        pos_groups=model.get("num_conv_pos_embedding_groups", 16),
        pos_layers=model.get("num_conv_pos_embeddings", 5) if data2vec else 1,
        equal_length_batches=data2vec or model.get("feat_extract_norm", "group") == "group",
        equal_length_batches_gpu=data2vec,
    )


def _tiny_architecture(name: str) -> Architecture:
    tiny = _tiny_waveform_kwargs()
    if name.startswith("whisper"):
        return Architecture("whisper", 2, 32, 64, 2)
    return Architecture(name.removesuffix("-tiny"), tiny["num_hidden_layers"], tiny["hidden_size"],
                        tiny["intermediate_size"], tiny["num_attention_heads"], tiny["conv_dim"],
                        tiny["conv_stride"], tiny["conv_kernel"],
                        pos_kernel=tiny["num_conv_pos_embeddings"],
                        pos_groups=tiny["num_conv_pos_embedding_groups"],
                        equal_length_batches="layernorm" not in name,
                        equal_length_batches_gpu=name.startswith("data2vec"))


#: Hidden width H of the paper's dense head (``serlib.probing.probes.DENSE_HIDDEN``, repeated
#: here so that the plan imports no torch; a test keeps the two equal).
DENSE_HIDDEN = 256

#: Width of each acoustic baseline's pooled store (one "hidden state"):
#: :mod:`serlib.features.acoustic_features` (eGeMAPSv02's 88 functionals, 171 MFCC statistics).
ACOUSTIC_WIDTHS = {"mfcc": 171, "egemaps": 88}


def frame_probe_macs(probe: str, hidden_states: int, width: int, train_frames: float,
                     evaluated_frames: float, train_utterances: float = 0.0,
                     evaluated_utterances: float = 0.0, classes: int = 0) -> float:
    """Multiply-adds of one epoch of one seed of a frame-level probe on one fold.

    The count of ``benchmarks/frame_probe_speed.py`` (what no implementation can skip), with
    ``D`` = ``width``, ``H`` = :data:`DENSE_HIDDEN`, ``S`` = ``hidden_states``, ``C`` = ``classes``:

    - ``dense`` (one head per hidden state): per training frame ``2·D·H + 3·H·H`` (forward
      ``D·H + H·H``, then ``H·H`` for dW2, ``H·H`` for dA1 and ``D·H`` for dW1) and per
      evaluated (dev and test) frame the forward ``D·H + H·H``, both times S;
    - ``aggregate`` (one head over the learned mixture of all hidden states): the same head
      once, plus per training frame ``2·S·D + D·H`` (the mixture, its weights' gradient and the
      input gradient the mixture needs) and per evaluated frame ``S·D``;
    - per training utterance the output layer's ``3·H·C``, per evaluated one ``H·C`` (per head).
    """
    hidden = DENSE_HIDDEN
    train_frame = 2 * width * hidden + 3 * hidden * hidden
    eval_frame = width * hidden + hidden * hidden
    if probe == "aggregate":
        heads = 1
        train_frame += 2 * hidden_states * width + width * hidden
        eval_frame += hidden_states * width
    elif probe == "dense":
        heads = hidden_states
    else:
        raise ValueError(f"{probe!r} is not a frame-level probe (dense, aggregate)")
    per_head = (train_frames * train_frame + train_utterances * 3 * hidden * classes
                + evaluated_frames * eval_frame + evaluated_utterances * hidden * classes)
    return float(per_head * heads)


__all__ = ["ACOUSTIC_WIDTHS", "Architecture", "DENSE_HIDDEN", "WHISPER_WINDOW_SECONDS", "architecture_of",
           "frame_probe_macs"]
