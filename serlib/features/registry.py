"""Model names and the engine's options, importable without torch or transformers.

What the command line, the profiles and the preflight need to know about models (short names,
families, the tiny ``random:`` test models, the extraction engine's choices) lives here, so
that ``serlib --help`` and ``serlib manifest`` load no deep-learning library. Loading a model is
:mod:`serlib.features.models`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlparse

SAMPLE_RATE = 16000
RANDOM_PREFIX = "random:"
ACOUSTIC_PREFIX = "acoustic:"  # feature sets of serlib.features.acoustic, in the same store format

#: Short names -> Hugging Face Hub ids. The first eight are the paper's models.
MODEL_REGISTRY: dict[str, str] = {
    "wav2vec2-base": "facebook/wav2vec2-base",
    "wav2vec2-large": "facebook/wav2vec2-large",
    "wav2vec2-large-960h": "facebook/wav2vec2-large-960h",
    "xlsr-53": "facebook/wav2vec2-large-xlsr-53",
    "xls-r-300m": "facebook/wav2vec2-xls-r-300m",
    "hubert-base": "facebook/hubert-base-ls960",
    "hubert-large": "facebook/hubert-large-ll60k",
    "hubert-large-ft": "facebook/hubert-large-ls960-ft",
    "wavlm-base-plus": "microsoft/wavlm-base-plus",
    "wavlm-large": "microsoft/wavlm-large",
    "data2vec-audio-base": "facebook/data2vec-audio-base",
    "whisper-base": "openai/whisper-base",
    "whisper-small": "openai/whisper-small",
}

#: Model types whose encoder is a convolutional waveform encoder + transformer (wav2vec2 style).
WAVEFORM_FAMILIES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")
WHISPER_FAMILY = "whisper"
#: Families whose valid frames change under padding whatever their conv normalisation.
PADDING_SENSITIVE_FAMILIES = ("data2vec-audio",)

#: How much of Whisper's 30 s window the encoder runs over (see ``docs/layers.md``).
WHISPER_WINDOWS = ("full", "audio")


def _tiny_waveform_kwargs() -> dict:
    """A tiny wav2vec2-style encoder with the real 320x downsampling (50 frames per second)."""
    return dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        vocab_size=32,
    )


#: ``random:<name>`` tiny configs for tests: builders of a transformers config, per family.
TINY_RANDOM_CONFIGS: dict[str, Callable[[], object]] = {
    # like wav2vec2-base / hubert-base: group-norm conv encoder, layer norm before the blocks
    "wav2vec2-tiny": lambda: _config("Wav2Vec2Config",
        feat_extract_norm="group", do_stable_layer_norm=False, **_tiny_waveform_kwargs()
    ),
    # like wav2vec2-large(-lv60)/XLSR: layer-norm conv encoder, pre-LN "stable" blocks
    "wav2vec2-layernorm-tiny": lambda: _config("Wav2Vec2Config",
        feat_extract_norm="layer", do_stable_layer_norm=True, **_tiny_waveform_kwargs()
    ),
    "hubert-tiny": lambda: _config("HubertConfig",
        feat_extract_norm="group", do_stable_layer_norm=False, **_tiny_waveform_kwargs()
    ),
    # like wavlm-base-plus: group-norm conv encoder, relative position bias
    "wavlm-tiny": lambda: _config("WavLMConfig",
        feat_extract_norm="group", do_stable_layer_norm=False, num_buckets=16,
        max_bucket_distance=64, **_tiny_waveform_kwargs()
    ),
    "data2vec-audio-tiny": lambda: _config("Data2VecAudioConfig",
        conv_pos_kernel_size=5, num_conv_pos_embeddings=3, **{
            key: value for key, value in _tiny_waveform_kwargs().items()
            if key not in ("num_conv_pos_embeddings",)
        }
    ),
    "whisper-tiny": lambda: _config("WhisperConfig",
        d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, vocab_size=64,
        num_mel_bins=80, max_source_positions=1500, max_target_positions=16,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    ),
}


def _config(class_name: str, **settings) -> object:
    """A transformers config of ``class_name`` (transformers is imported only here, when needed)."""
    import transformers

    return getattr(transformers, class_name)(**settings)


def resolve_model_id(name: str) -> str:
    """Short name -> Hub id; anything else (Hub id, local folder) is returned unchanged."""
    return MODEL_REGISTRY.get(name, name)


#: Options of the extraction engine (:func:`serlib.features.extract.extract_features`).
POOLINGS = ("mean", "mean+std")
#: Default batch budgets in seconds of padded audio. On the CPU batching gains little; on a GPU
#: large batches are where the speed is (docs/performance.md has the measured trade-offs).
DEFAULT_BATCH_SECONDS = {"cpu": 16.0, "cuda": 240.0}
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")


_HUB_REACHABLE: dict[str, bool] = {}


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face Hub (``HF_ENDPOINT``, default huggingface.co) accepts a connection;
    asked once per process, so that an offline machine never waits on download retries."""
    from huggingface_hub import constants

    endpoint = urlparse(constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    if host not in _HUB_REACHABLE:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                _HUB_REACHABLE[host] = True
        except OSError:
            _HUB_REACHABLE[host] = False
    return _HUB_REACHABLE[host]
