"""Model registry, loading errors, tiny random models and the hidden-state numbering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serlib.common.errors import SerlibError
from serlib.features.models import MODEL_REGISTRY, TINY_RANDOM_CONFIGS, load_model, model_fingerprint

PAPER_MODEL_IDS = {
    "facebook/wav2vec2-base", "facebook/wav2vec2-large", "facebook/wav2vec2-large-960h",
    "facebook/wav2vec2-large-xlsr-53", "facebook/wav2vec2-xls-r-300m",
    "facebook/hubert-base-ls960", "facebook/hubert-large-ll60k", "facebook/hubert-large-ls960-ft",
}
ONE_SECOND = [np.sin(np.linspace(0, 2000, 16000)).astype(np.float32)]


def test_registry_holds_the_papers_eight_models_and_the_extras():
    assert PAPER_MODEL_IDS <= set(MODEL_REGISTRY.values())
    assert MODEL_REGISTRY["whisper-base"] == "openai/whisper-base"
    assert MODEL_REGISTRY["wavlm-large"] == "microsoft/wavlm-large"
    assert MODEL_REGISTRY["data2vec-audio-base"] == "facebook/data2vec-audio-base"
    assert len(MODEL_REGISTRY) == 13


@pytest.mark.parametrize(
    ("name", "family", "padding_sensitive"),
    [
        ("wav2vec2-tiny", "wav2vec2", True),
        ("wav2vec2-layernorm-tiny", "wav2vec2", False),
        ("hubert-tiny", "hubert", True),
        ("wavlm-tiny", "wavlm", True),
        ("data2vec-audio-tiny", "data2vec-audio", True),
        ("whisper-tiny", "whisper", False),
    ],
)
def test_tiny_random_models_are_plainly_random(name, family, padding_sensitive):
    loaded = load_model(f"random:{name}")
    assert loaded.family == family
    assert loaded.is_random and loaded.fingerprint.startswith("random-init-seed0-config-")
    assert (loaded.num_hidden_states, loaded.width, loaded.frame_rate) == (3, 32, 50.0)
    assert loaded.padding_changes_output is padding_sensitive
    assert not loaded.model.training
    with torch.inference_mode():
        hidden, valid = loaded.hidden_states(ONE_SECOND)
    assert valid == [50 if family == "whisper" else 49]
    assert hidden.shape[:2] == (1, 3) and hidden.shape[3] == 32


def test_random_init_is_reproducible():
    first, second = load_model("random:hubert-tiny"), load_model("random:hubert-tiny")
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    assert model_fingerprint("random:hubert-tiny") == first.fingerprint


@pytest.mark.parametrize("name", ["wav2vec2-tiny", "wav2vec2-layernorm-tiny", "hubert-tiny"])
def test_hidden_states_are_block_input_then_block_outputs(name):
    loaded = load_model(f"random:{name}")
    prepared = loaded.feature_extractor(ONE_SECOND[0], sampling_rate=16000, return_tensors="pt")
    values = prepared["input_values"]
    with torch.inference_mode():
        ours, _ = loaded.hidden_states(ONE_SECOND)
        reference = loaded.model(values, output_hidden_states=True)
        normed_last = loaded.model.encoder.layer_norm(ours[:, 2])
    for k in range(3):
        torch.testing.assert_close(ours[:, k], reference.hidden_states[k], rtol=0, atol=1e-5)
    if loaded.config.do_stable_layer_norm:  # pre-LN blocks: HF's final output adds a layer norm
        torch.testing.assert_close(normed_last, reference.last_hidden_state, rtol=0, atol=1e-5)
    else:
        torch.testing.assert_close(ours[:, 2], reference.last_hidden_state, rtol=0, atol=1e-5)


def test_whisper_last_hidden_state_is_the_last_block_without_the_final_layer_norm():
    loaded = load_model("random:whisper-tiny")
    mel = loaded.feature_extractor(ONE_SECOND, sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        ours, _ = loaded.hidden_states(ONE_SECOND)
        reference = loaded.model(mel["input_features"], output_hidden_states=True)
        normed = loaded.model.layer_norm(ours[:, 2])
    torch.testing.assert_close(ours[:, :2], torch.stack(reference.hidden_states[:2], 1))
    torch.testing.assert_close(normed, reference.last_hidden_state, rtol=0, atol=1e-5)


def test_random_weights_with_a_real_architecture_from_a_local_config(tmp_path):
    TINY_RANDOM_CONFIGS["wavlm-tiny"]().save_pretrained(tmp_path / "wavlm-like")
    loaded = load_model(f"random:{tmp_path / 'wavlm-like'}")
    assert (loaded.family, loaded.is_random, loaded.num_hidden_states) == ("wavlm", True, 3)


def test_unloadable_hub_id_names_the_id_the_cache_and_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SerlibError) as error:
        load_model("nobody-serlib-test/no-such-speech-model")
    message = str(error.value)
    assert "'nobody-serlib-test/no-such-speech-model'" in message
    assert "Hugging Face cache" in message and "HF_HUB_OFFLINE" in message
    assert "local folder path" in message
    assert model_fingerprint("nobody-serlib-test/no-such-speech-model") is None


def test_missing_local_folder_is_a_serlib_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SerlibError, match="no-model-here"):
        load_model(str(tmp_path / "no-model-here"))


@pytest.mark.real
def test_real_whisper_base_loads_by_path_in_float32(shared_dir):
    loaded = load_model(str(shared_dir / "models" / "whisper-base"))
    assert (loaded.family, loaded.num_hidden_states, loaded.width) == ("whisper", 7, 512)
    assert loaded.fingerprint.startswith("files-sha256-") and not loaded.is_random
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
