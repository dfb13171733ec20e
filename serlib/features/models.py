"""Speech models by name: a registry of short names, offline-aware loading, tiny random models.

:func:`load_model` turns a name into a :class:`LoadedModel`, which knows how to prepare raw
16 kHz audio for the model and how to run it so that it returns every hidden state, numbered
the same way for every family (see ``docs/layers.md``):

- hidden state 0 is the input to the first transformer block,
- hidden state k is the output of transformer block k (no final layer norm is added).

Names accepted by :func:`load_model`:

- a short name from :data:`MODEL_REGISTRY` (``wav2vec2-base``, ``xlsr-53``, ``whisper-base``, ...),
- any Hugging Face Hub id (``facebook/wav2vec2-base``) or a local folder in Hugging Face layout,
- ``random:<family>-tiny`` (see :data:`TINY_RANDOM_CONFIGS`): a tiny randomly initialised model
  for tests, never pretrained,
- ``random:<short name, Hub id or folder>``: the real architecture with random weights (the
  random-init control of the study), from the model's ``config.json`` (folder, cache or Hub),
  or offline from the architecture bundled with serlib for every registry model
  (:mod:`serlib.features.bundled_configs`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import transformers
from huggingface_hub import constants as hub_constants
from huggingface_hub import try_to_load_from_cache

from serlib.common.errors import SerlibError
from serlib.features.bundled_configs import bundled_config, has_bundled_config
from serlib.features.registry import (  # noqa: F401  (re-exported: the model names live there)
    ACOUSTIC_PREFIX,
    MODEL_REGISTRY,
    PADDING_SENSITIVE_FAMILIES,
    RANDOM_PREFIX,
    SAMPLE_RATE,
    TINY_RANDOM_CONFIGS,
    WAVEFORM_FAMILIES,
    WHISPER_FAMILY,
    WHISPER_WINDOWS,
    hub_reachable,
    resolve_model_id,
)
from serlib.features.store import file_sha256

RANDOM_INIT_SEED = 0
UNKNOWN_FINGERPRINT = "unknown"


#: Input channels per group below which oneDNN's CPU bfloat16 grouped convolution is wrong.
ONEDNN_MIN_GROUP_CHANNELS = 16


@contextlib.contextmanager
def _reference_kernels_if(needed: bool):
    """PyTorch's own kernels instead of oneDNN's for the block (see
    :attr:`LoadedModel.needs_reference_kernels`)."""
    if not needed:
        yield
        return
    with torch.backends.mkldnn.flags(enabled=False):
        yield


@dataclass
class LoadedModel:
    """A speech model ready for per-layer feature extraction.

    ``model`` is the encoder in eval mode (for Whisper the encoder alone). ``blocks`` are its
    transformer blocks, whose inputs/outputs define the hidden states. ``num_hidden_states`` is
    L+1 for L blocks; ``frame_rate`` is in frames per second; ``fingerprint`` identifies the
    weights (Hub commit hash, or a hash of the weight files) for cache keys.
    """

    name: str
    model_id: str
    family: str
    model: torch.nn.Module
    feature_extractor: transformers.FeatureExtractionMixin
    blocks: torch.nn.ModuleList
    num_hidden_states: int
    width: int
    frame_rate: float
    fingerprint: str
    is_random: bool = False
    config: transformers.PretrainedConfig | None = field(default=None, repr=False)
    _float32_tensors: dict = field(default_factory=dict, repr=False)

    @property
    def padding_changes_output(self) -> bool:
        """True when zero padding changes valid frames, even with an attention mask.

        - group-norm conv encoders (wav2vec2-base, HuBERT base, WavLM base-plus): group
          normalisation in the first conv layer takes statistics over the whole padded time axis;
        - data2vec-audio: its positional embedding is a stack of convolutions; padded frames are
          zeroed only before the first, so the last valid frames see non-zero padding after it.

        These models must only see batches of equal-length utterances.
        """
        group_norm = getattr(self.config, "feat_extract_norm", "layer") == "group"
        return group_norm or self.family in PADDING_SENSITIVE_FAMILIES

    @property
    def can_mask_padding(self) -> bool:
        """True when a batch of unequal lengths can still give every utterance its own features.

        Holds for models without padding effects, and for the group-norm conv encoders: their
        only padding effect is the first conv layer's group norm (one group per channel), which
        :class:`_masked_first_group_norm` recomputes over each utterance's own frames; the rest
        of the conv stack never looks past an utterance's valid frames, and the attention mask
        zeroes padded frames before the positional convolution and masks them in attention.
        Not data2vec-audio (its positional convolutions run past the zeroed frames).
        """
        if not self.padding_changes_output:
            return True
        return (self.family not in PADDING_SENSITIVE_FAMILIES
                and _first_group_norm(self.model) is not None)

    def num_frames(self, num_samples: int) -> int:
        """Number of valid output frames for an utterance of ``num_samples`` samples."""
        if self.family == WHISPER_FAMILY:
            max_frames = self.config.max_source_positions
            return min(max_frames, math.ceil(num_samples / (SAMPLE_RATE / self.frame_rate)))
        lengths = self.model._get_feat_extract_output_lengths(torch.tensor([num_samples]))
        return int(lengths[0])

    def hidden_states(
        self, waveforms: Sequence[np.ndarray], whisper_window: str = "full"
    ) -> tuple[torch.Tensor, list[int]]:
        """Run a batch; return ``([B, L+1, T, D] hidden states, valid frame counts)``.

        Frames at index >= the valid count of an utterance are padding and must be ignored.
        Call under ``torch.inference_mode()``; inputs follow the weights' dtype (:meth:`use_dtype`).
        """
        valid_frames = [self.num_frames(len(waveform)) for waveform in waveforms]
        with _capture_block_states(self.blocks) as captured, _reference_kernels_if(self.needs_reference_kernels):
            if self.family == WHISPER_FAMILY:
                self._run_whisper(waveforms, valid_frames, whisper_window)
            else:
                self._run_waveform_encoder(waveforms)
        return torch.stack(captured, dim=1), valid_frames

    @property
    def needs_reference_kernels(self) -> bool:
        """True when oneDNN's kernels would give this model wrong features: bfloat16 on a CPU, and
        a grouped convolution with fewer than :data:`ONEDNN_MIN_GROUP_CHANNELS` input channels per
        group (the tiny models' positional convolution; measured: PyTorch 2.13's oneDNN bfloat16
        kernels on a CPU with AVX512-BF16/AMX give grouped convolutions of 8 channels per group a
        relative error of 1.1, against 0.003 with 16 or more and with oneDNN off). The
        paper's models have 48-64 channels per group and keep oneDNN."""
        if self.device.type != "cpu" or self.dtype != torch.bfloat16:
            return False
        return any(isinstance(module, torch.nn.Conv1d) and module.groups > 1
                   and module.in_channels // module.groups < ONEDNN_MIN_GROUP_CHANNELS
                   for module in self.model.modules())

    def _run_waveform_encoder(self, waveforms: Sequence[np.ndarray]) -> None:
        # Normalise each utterance alone (as the processor would), then zero-pad the batch.
        prepared = [
            self.feature_extractor(
                waveform, sampling_rate=SAMPLE_RATE, return_tensors="np"
            )["input_values"][0]
            for waveform in waveforms
        ]
        lengths = [len(values) for values in prepared]
        padded = np.zeros((len(prepared), max(lengths)), dtype=np.float32)
        attention_mask = np.zeros((len(prepared), max(lengths)), dtype=np.int64)
        for row, values in enumerate(prepared):
            padded[row, : len(values)] = values
            attention_mask[row, : len(values)] = 1
        input_values = to_device(padded, self.device).to(self.dtype)
        if not self.padding_changes_output:
            self.model(input_values, attention_mask=to_device(attention_mask, self.device))
        elif len(set(lengths)) == 1:
            self.model(input_values)
        elif self.can_mask_padding:
            first_conv_frames = [_first_conv_frames(self.config, length) for length in lengths]
            with _masked_first_group_norm(self.model, to_device(first_conv_frames, self.device)), \
                    warnings.catch_warnings():
                # WavLM's attention hands torch a float bias and a bool padding mask: harmless
                warnings.filterwarnings("ignore", "Support for mismatched key_padding_mask")
                self.model(input_values, attention_mask=to_device(attention_mask, self.device))
        else:
            raise ValueError(f"{self.family} models must be run on equal-length batches")

    def _run_whisper(
        self, waveforms: Sequence[np.ndarray], valid_frames: list[int], window: str
    ) -> None:
        if window not in WHISPER_WINDOWS:
            raise SerlibError(f"unknown Whisper window {window!r}; use one of {WHISPER_WINDOWS}")
        with torch.autocast(self.device.type, enabled=False):  # log-mel in float32
            mel = self.feature_extractor(
                list(waveforms), sampling_rate=SAMPLE_RATE, return_tensors="np"
            )["input_features"]
        mel = to_device(mel, self.device).to(self.dtype)
        if window == "full":
            self.model(mel)
        else:
            _whisper_encoder_over_audio(self.model, mel, valid_frames)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the weights are held in now (see :meth:`use_dtype`)."""
        return next(self.model.parameters()).dtype

    def use_dtype(self, dtype: torch.dtype) -> None:
        """Hold the weights in ``dtype`` (bfloat16/float16 weights: the fast mode; float32: exact).

        Casting the weights rather than autocasting keeps every matmul, convolution and norm in
        one dtype with no per-call casts. The float32 tensors are kept aside (not copied) when
        leaving float32 and put back on return, so a model switched to bfloat16 and back gives
        exactly the float32 features again.
        """
        if dtype == self.dtype:
            return
        tensors = dict(self.model.named_parameters())
        tensors.update(self.model.named_buffers())
        if dtype == torch.float32 and self._float32_tensors:
            for name, tensor in tensors.items():
                tensor.data = self._float32_tensors[name].to(tensor.device)
            self._float32_tensors = {}
            return
        if self.dtype == torch.float32:
            self._float32_tensors = {name: tensor.data for name, tensor in tensors.items()}
        for tensor in tensors.values():
            if tensor.is_floating_point():
                tensor.data = tensor.data.to(dtype)


def _whisper_encoder_over_audio(
    encoder: torch.nn.Module, mel: torch.Tensor, valid_frames: list[int]
) -> None:
    """Run Whisper's encoder over the frames that cover audio only (``whisper_window="audio"``).

    The log-mel input is cut to twice the longest utterance's frame count (two mel frames per
    encoder frame) plus one, the positional embedding is sliced to match, and each utterance attends only
    to its own frames, so the result does not depend on what else is in the batch. Same
    computation as ``WhisperEncoder.forward`` otherwise (its final layer norm is not needed).
    """
    num_frames = max(valid_frames)
    # One mel frame beyond 2 * num_frames: the last kept frame's convolutions then see the
    # same (padding) mel values as in the full window, not the convolution's zero padding.
    mel = mel[:, :, : 2 * num_frames + 1]
    embeddings = torch.nn.functional.gelu(encoder.conv1(mel))
    embeddings = torch.nn.functional.gelu(encoder.conv2(embeddings)).permute(0, 2, 1)
    hidden = embeddings[:, :num_frames] + encoder.embed_positions.weight[:num_frames]
    frame_index = torch.arange(num_frames, device=mel.device)
    is_padding = frame_index[None, :] >= to_device(valid_frames, mel.device)[:, None]
    additive_mask = torch.zeros(len(valid_frames), 1, 1, num_frames, device=mel.device)
    additive_mask = additive_mask.masked_fill(is_padding[:, None, None, :], float("-inf"))
    for block in encoder.layers:
        hidden = block(hidden, additive_mask.to(hidden.dtype))
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden


def to_device(values, device: torch.device) -> torch.Tensor:
    """A host array or list on ``device``; to a GPU through pinned memory, without a sync.

    A plain ``tensor.to("cuda")`` from pageable memory waits for all queued GPU work, which
    would stop the engine from preparing batch k+1 while the GPU still runs batch k.
    """
    tensor = torch.as_tensor(np.asarray(values))
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


def _first_group_norm(model: torch.nn.Module) -> torch.nn.GroupNorm | None:
    """The group norm of a conv encoder's first layer (wav2vec2-base style), or None."""
    conv_layers = getattr(getattr(model, "feature_extractor", None), "conv_layers", None)
    if not conv_layers:
        return None
    norm = getattr(conv_layers[0], "layer_norm", None)
    channels = getattr(getattr(conv_layers[0], "conv", None), "out_channels", None)
    if isinstance(norm, torch.nn.GroupNorm) and norm.num_groups == norm.num_channels == channels:
        return norm
    return None


def _first_conv_frames(config: transformers.PretrainedConfig, num_samples: int) -> int:
    """Output frames of the first conv layer for ``num_samples`` input samples (no padding)."""
    return (num_samples - config.conv_kernel[0]) // config.conv_stride[0] + 1


def masked_instance_norm(values: torch.Tensor, valid_frames: torch.Tensor,
                         weight: torch.Tensor | None, bias: torch.Tensor | None,
                         eps: float) -> torch.Tensor:
    """Group norm with one group per channel of ``[B, C, T]`` over each row's first frames.

    Statistics (population variance, in float32) come from frames ``< valid_frames[b]`` only,
    so they equal those of the utterance run alone; frames past the end come out as zeros.
    """
    frame_index = torch.arange(values.shape[-1], device=values.device)
    mask = (frame_index[None, :] < valid_frames[:, None]).to(torch.float32)[:, None, :]
    counts = valid_frames.to(torch.float32)[:, None, None]
    data = values.float()
    means = (data * mask).sum(dim=-1, keepdim=True) / counts
    centred = (data - means) * mask
    variances = (centred * centred).sum(dim=-1, keepdim=True) / counts
    normalised = centred * torch.rsqrt(variances + eps)
    if weight is not None:
        normalised = normalised * weight.float()[None, :, None] + bias.float()[None, :, None]
    return (normalised * mask).to(values.dtype)


class _masked_first_group_norm:
    """Context manager: the first conv layer's group norm taken over each utterance's own frames.

    A forward hook replaces the layer's output by :func:`masked_instance_norm` of its input,
    given each utterance's valid frame count after the first convolution.
    """

    def __init__(self, model: torch.nn.Module, valid_frames: torch.Tensor):
        self.norm = _first_group_norm(model)
        self.valid_frames = valid_frames
        self.handle = None

    def __enter__(self) -> None:
        def masked(module, args, output):
            return masked_instance_norm(args[0], self.valid_frames, module.weight, module.bias,
                                        module.eps)

        self.handle = self.norm.register_forward_hook(masked)

    def __exit__(self, *exc_info) -> None:
        self.handle.remove()


class _capture_block_states:
    """Context manager: hooks that record the input of block 1 and the output of every block."""

    def __init__(self, blocks: torch.nn.ModuleList):
        self.blocks = blocks
        self.states: list[torch.Tensor] = []
        self.handles: list = []

    def __enter__(self) -> list[torch.Tensor]:
        def record_input(module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            self.states.append(hidden)

        def record_output(module, args, output):
            self.states.append(output[0] if isinstance(output, tuple) else output)

        self.handles.append(self.blocks[0].register_forward_pre_hook(record_input, with_kwargs=True))
        for block in self.blocks:
            self.handles.append(block.register_forward_hook(record_output))
        return self.states

    def __exit__(self, *exc_info) -> None:
        for handle in self.handles:
            handle.remove()


def load_model(name: str, device: str | torch.device = "cpu") -> LoadedModel:
    """Load ``name`` (see the module docstring) as a float32 :class:`LoadedModel` in eval mode.

    Real models are looked up in the local folder / Hugging Face cache first; the network is
    used only when that fails and ``HF_HUB_OFFLINE`` is not set. A model that cannot be loaded
    raises :class:`SerlibError` naming the id, where it looked and how to provide it.
    """
    if name.startswith(ACOUSTIC_PREFIX):
        raise SerlibError(
            f"{name} is an acoustic feature set, not a speech model; extract it with "
            f"serlib.features.extract.extract_features or `serlib extract --model {name}`"
        )
    if name.startswith(RANDOM_PREFIX):
        loaded = _build_random_model(name)
    else:
        loaded = _load_pretrained_model(name)
    loaded.model.to(device)
    return loaded


def random_model_from_config(config: transformers.PretrainedConfig, name: str) -> LoadedModel:
    """A randomly initialised (seeded) model of ``config``'s architecture, named ``name``.

    For benchmarks and controls with a full-size architecture whose config is built in code
    (e.g. ``transformers.Wav2Vec2Config()``, the wav2vec2-base architecture).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = transformers.AutoModel.from_config(config).float()  # configs may say float16
    feature_extractor = _default_feature_extractor(config)
    return _wrap(name, name, model, feature_extractor, _random_fingerprint(config), is_random=True)


def _build_random_model(name: str) -> LoadedModel:
    target = name[len(RANDOM_PREFIX):]
    config = _random_config(name)
    if target in TINY_RANDOM_CONFIGS:
        feature_extractor = _default_feature_extractor(config)
        model_id = name
    else:
        model_id = resolve_model_id(target)
        feature_extractor = _load_feature_extractor(model_id, config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = transformers.AutoModel.from_config(config).float()  # configs may say float16
    fingerprint = _random_fingerprint(config)
    return _wrap(name, model_id, model, feature_extractor, fingerprint, is_random=True)


def _random_config(name: str) -> transformers.PretrainedConfig:
    """The architecture of ``random:<target>``: tiny test config, the model's own config, or bundled.

    The model's own ``config.json`` (local folder or cache, else the Hub) wins; a registry model
    whose config cannot be had falls back to the architecture shipped with serlib
    (:mod:`serlib.features.bundled_configs`), so the paper's models build offline.
    """
    target = name[len(RANDOM_PREFIX):]
    if target in TINY_RANDOM_CONFIGS:
        return TINY_RANDOM_CONFIGS[target]()
    try:
        return _from_pretrained_local_first(transformers.AutoConfig, resolve_model_id(target))
    except SerlibError:
        if not has_bundled_config(target):
            raise
        return config_from_bundled(target)


def config_from_bundled(name: str) -> transformers.PretrainedConfig:
    """A transformers config of registry model ``name`` built from serlib's bundled architecture."""
    fields = dict(bundled_config(name)["model"])
    return transformers.AutoConfig.for_model(fields.pop("model_type"), **fields)


def feature_extractor_from_bundled(name: str) -> transformers.FeatureExtractionMixin:
    """The preprocessor of registry model ``name`` from its bundled settings."""
    settings = dict(bundled_config(name)["feature_extractor"])
    extractor_class = getattr(transformers, settings.pop("feature_extractor_type"))
    return extractor_class(**settings)


def _random_fingerprint(config: transformers.PretrainedConfig) -> str:
    config_hash = _sha256_text(config.to_json_string(use_diff=False))[:16]
    return f"random-init-seed{RANDOM_INIT_SEED}-config-{config_hash}"


def model_fingerprint(name: str) -> str | None:
    """The weights fingerprint of ``name`` without loading the weights; None if not known yet.

    None means the model is neither a local folder nor in the cache (it would be downloaded);
    load it first, then ask again.
    """
    if name.startswith(RANDOM_PREFIX):
        return _random_fingerprint(_random_config(name))
    fingerprint = weights_fingerprint(resolve_model_id(name))
    return None if fingerprint == UNKNOWN_FINGERPRINT else fingerprint


def _load_pretrained_model(name: str) -> LoadedModel:
    model_id = resolve_model_id(name)
    model = _from_pretrained_local_first(transformers.AutoModel, model_id, dtype=torch.float32)
    feature_extractor = _load_feature_extractor(model_id, model.config)
    return _wrap(name, model_id, model, feature_extractor, weights_fingerprint(model_id))


def _wrap(
    name: str,
    model_id: str,
    model: torch.nn.Module,
    feature_extractor: transformers.FeatureExtractionMixin,
    fingerprint: str,
    is_random: bool = False,
) -> LoadedModel:
    config = model.config
    family = config.model_type
    if family == WHISPER_FAMILY:
        encoder = model.get_encoder() if hasattr(model, "get_encoder") else model
        blocks = encoder.layers
        width = config.d_model
        frame_rate = SAMPLE_RATE / feature_extractor.hop_length / 2
        model = encoder
    elif hasattr(model, "_get_feat_extract_output_lengths") and hasattr(model, "encoder"):
        blocks = model.encoder.layers
        width = config.hidden_size
        frame_rate = SAMPLE_RATE / float(np.prod(config.conv_stride))
    else:
        raise SerlibError(
            f"model {model_id!r} is a {family!r} model; serlib extracts features from "
            f"waveform encoders ({', '.join(WAVEFORM_FAMILIES)} and similar) and Whisper; "
            "choose one of those"
        )
    model.eval()
    return LoadedModel(
        name=name,
        model_id=model_id,
        family=family,
        model=model,
        feature_extractor=feature_extractor,
        blocks=blocks,
        num_hidden_states=len(blocks) + 1,
        width=width,
        frame_rate=frame_rate,
        fingerprint=fingerprint,
        is_random=is_random,
        config=config,
    )


def _default_feature_extractor(config: transformers.PretrainedConfig):
    if config.model_type == WHISPER_FAMILY:
        return transformers.WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    return transformers.Wav2Vec2FeatureExtractor(
        sampling_rate=SAMPLE_RATE, do_normalize=True, return_attention_mask=True
    )


def _load_feature_extractor(model_id: str, config: transformers.PretrainedConfig):
    """The model's own preprocessor config when present, else the bundled one, else the family's default."""
    try:
        return _from_pretrained_local_first(transformers.AutoFeatureExtractor, model_id)
    except SerlibError:
        if has_bundled_config(model_id):
            return feature_extractor_from_bundled(model_id)
        return _default_feature_extractor(config)


def _is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _from_pretrained_local_first(loader, model_id: str, **kwargs):
    """``loader.from_pretrained`` from the folder/cache first, then (if allowed) the network."""
    # the network only when it is allowed and the Hub answers: an offline machine must not sit
    # through huggingface_hub's retries before the bundled config is used
    networked = not (_is_offline() or Path(model_id).is_dir()) and hub_reachable()
    attempts = [True, False] if networked else [True]
    last_error: Exception | None = None
    for local_only in attempts:
        try:
            return loader.from_pretrained(model_id, local_files_only=local_only, **kwargs)
        except (OSError, ValueError) as error:
            last_error = error
    raise SerlibError(_cannot_load_message(model_id, last_error)) from None


def _cannot_load_message(model_id: str, error: Exception | None) -> str:
    network = "network not used (HF_HUB_OFFLINE is set)" if _is_offline() else (
        "the Hugging Face Hub could not be reached or has no such model"
    )
    reason = str(error).strip().splitlines()[0] if error else "unknown reason"
    return (
        f"cannot load model {model_id!r}: not a local model folder ({Path(model_id).resolve()}), "
        f"not in the Hugging Face cache ({hub_constants.HF_HUB_CACHE}), and {network} "
        f"[{reason}]. Provide it as a local folder path in Hugging Face layout "
        "(config.json + weights), or run once with network access (or "
        f"`hf download {model_id}`) to fill the cache, or set HF_HOME to a cache that has it"
    )


#: Configuration files of a local model folder that go into its fingerprint with the weights.
FINGERPRINTED_CONFIGS = ("config.json", "preprocessor_config.json")


def weights_fingerprint(model_id: str) -> str:
    """Identify a model's weights: the Hub commit hash when cached, else a hash of its files.

    For a local folder the hash covers the whole content of each weight file and of
    ``config.json`` and ``preprocessor_config.json`` (the feature extractor's settings change the
    features too), by name. Only content counts: a folder copied elsewhere, unpacked again or
    touched keeps its fingerprint (and its feature stores stay valid); replacing any byte of a
    weight file changes it. Each file is hashed once per process and file state (about 0.2 s
    per 150 MB here).
    """
    folder = Path(model_id)
    if not folder.is_dir():
        cached_config = try_to_load_from_cache(model_id, "config.json")
        if isinstance(cached_config, str):
            match = re.search(r"snapshots/([0-9a-f]{40})/", Path(cached_config).as_posix())
            if match:
                return f"hub-commit-{match.group(1)}"
            folder = Path(cached_config).parent
        else:
            return UNKNOWN_FINGERPRINT
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.suffix in (".safetensors", ".bin") or path.name in FINGERPRINTED_CONFIGS:
            digest.update(f"{path.name}:{_file_sha256(path)}".encode())
    return f"files-sha256-{digest.hexdigest()[:16]}"


_FILE_DIGESTS: dict[tuple, str] = {}


def _file_sha256(path: Path) -> str:
    """The sha256 of a file's content, remembered for as long as its size and times are unchanged."""
    status = path.stat()
    state = (str(path.resolve()), status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    if state not in _FILE_DIGESTS:
        _FILE_DIGESTS[state] = file_sha256(path)
    return _FILE_DIGESTS[state]


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def describe(loaded: LoadedModel) -> dict:
    """The facts about a loaded model that go into a feature store's ``index.json``."""
    return {
        "model": loaded.name,
        "model_id": loaded.model_id,
        "family": loaded.family,
        "weights_fingerprint": loaded.fingerprint,
        "random_weights": loaded.is_random,
        "num_hidden_states": loaded.num_hidden_states,
        "width": loaded.width,
        "frame_rate": loaded.frame_rate,
    }


__all__ = [
    "MODEL_REGISTRY",
    "TINY_RANDOM_CONFIGS",
    "WHISPER_WINDOWS",
    "LoadedModel",
    "config_from_bundled",
    "feature_extractor_from_bundled",
    "describe",
    "load_model",
    "model_fingerprint",
    "random_model_from_config",
    "resolve_model_id",
    "weights_fingerprint",
]
