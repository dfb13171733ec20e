"""The engine's compute dtype: bfloat16 weights (fast mode), exact float32, hardware-aware auto."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serlib.features import extract
from serlib.features.extract import resolve_dtype
from serlib.features.models import load_model


def _waveforms():
    rng = np.random.default_rng(3)
    return [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000, 24000)]


@pytest.mark.parametrize("name", ["random:wav2vec2-layernorm-tiny", "random:whisper-tiny"])
def test_bfloat16_weights_and_back_to_exact_float32(name):
    loaded = load_model(name)
    waveforms = _waveforms()
    exact, _, _ = extract._run_batch(loaded, waveforms, "mean", "float32", "audio", False)
    fast, _, _ = extract._run_batch(loaded, waveforms, "mean", "bfloat16", "audio", False)
    assert loaded.dtype == torch.bfloat16
    relative = np.linalg.norm(fast - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
    assert 0 < relative.max() < 0.05  # bfloat16 differs, a little (tiny random models)
    again, _, _ = extract._run_batch(loaded, waveforms, "mean", "float32", "audio", False)
    assert loaded.dtype == torch.float32
    np.testing.assert_array_equal(again, exact)  # the float32 weights came back untouched


def test_auto_dtype_follows_the_cpu(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(extract, "cpu_has_native_bfloat16", lambda: False)
    assert resolve_dtype("auto", cpu) == "float32"
    monkeypatch.setattr(extract, "cpu_has_native_bfloat16", lambda: True)
    assert resolve_dtype("auto", cpu) == "bfloat16"
    assert resolve_dtype("float16", cpu) == "float16"


def test_bfloat16_grouped_convolutions_with_few_channels_per_group_avoid_onednn():
    """oneDNN's CPU bfloat16 grouped convolution is wrong for 8 channels per group on CPUs with
    AVX512-BF16/AMX (relative error about 1, measured): the tiny models' positional convolution
    runs on PyTorch's own kernels in bfloat16; float32, and real widths (48+ per group), keep oneDNN."""
    tiny = load_model("random:wav2vec2-layernorm-tiny")
    assert not tiny.needs_reference_kernels  # float32
    tiny.use_dtype(torch.bfloat16)
    assert tiny.needs_reference_kernels
    base = load_model("random:wav2vec2-base")
    base.use_dtype(torch.bfloat16)
    assert not base.needs_reference_kernels
