"""The architectures shipped with serlib for every registry model (random-init controls offline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from serlib.features.bundled_configs import architecture_summary, bundled_config, has_bundled_config
from serlib.features.models import (
    MODEL_REGISTRY,
    config_from_bundled,
    feature_extractor_from_bundled,
    load_model,
)
from serlib.study.checks import _hub_reachable, model_location

# (transformer blocks, width, conv normalisation) from the models' papers and model cards,
# written here independently of the JSON files (REFERENCE.md for the paper's eight).
EXPECTED = {
    "wav2vec2-base": (12, 768, "group"),
    "wav2vec2-large": (24, 1024, "group"),
    "wav2vec2-large-960h": (24, 1024, "group"),
    "xlsr-53": (24, 1024, "layer"),
    "xls-r-300m": (24, 1024, "layer"),
    "hubert-base": (12, 768, "group"),
    "hubert-large": (24, 1024, "layer"),
    "hubert-large-ft": (24, 1024, "layer"),
    "wavlm-base-plus": (12, 768, "group"),
    "wavlm-large": (24, 1024, "layer"),
    "data2vec-audio-base": (12, 768, "layer"),
    "whisper-base": (6, 512, None),
    "whisper-small": (12, 768, None),
}


def test_every_registry_model_has_a_bundled_config():
    assert set(EXPECTED) == set(MODEL_REGISTRY)
    for name, hub_id in MODEL_REGISTRY.items():
        assert has_bundled_config(name) and has_bundled_config(hub_id)
        assert bundled_config(hub_id)["hub_id"] == hub_id
    assert not has_bundled_config("facebook/not-a-registry-model")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_config_builds_the_expected_hidden_states(name):
    blocks, width, conv_norm = EXPECTED[name]
    config = config_from_bundled(name)
    with torch.device("meta"):  # the real architecture, without allocating its weights
        model = transformers.AutoModel.from_config(config)
    if config.model_type == "whisper":
        layers, model_width = model.get_encoder().layers, config.d_model
        assert config.num_mel_bins == feature_extractor_from_bundled(name).feature_size == 80
    else:
        layers, model_width = model.encoder.layers, config.hidden_size
        assert config.feat_extract_norm == conv_norm
        assert np.prod(config.conv_stride) == 320  # 50 frames per second
        # pre-LN ("stable") blocks go with the layer-norm conv stack in the large models
        if config.model_type in ("wav2vec2", "hubert", "wavlm"):
            assert config.do_stable_layer_norm == (conv_norm == "layer")
    assert len(layers) + 1 == blocks + 1
    assert model_width == width
    summary = architecture_summary(name)
    assert (summary["hidden_states"], summary["width"]) == (blocks + 1, width)


@pytest.mark.parametrize(
    "name, defaults", [("wav2vec2-base", transformers.Wav2Vec2Config),
                       ("hubert-base", transformers.HubertConfig)],
)
def test_base_models_match_the_architecture_transformers_documents(name, defaults):
    """transformers documents these classes' defaults as the base models' architecture."""
    bundled, reference = config_from_bundled(name), defaults()
    for field in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "conv_dim", "conv_stride", "conv_kernel", "conv_bias", "feat_extract_norm",
                  "do_stable_layer_norm", "num_conv_pos_embeddings",
                  "num_conv_pos_embedding_groups"):
        assert tuple(np.atleast_1d(getattr(bundled, field))) == tuple(
            np.atleast_1d(getattr(reference, field))), field


def test_random_registry_model_builds_and_runs_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    assert model_location("random:xlsr-53") == "random"
    assert model_location("random:facebook/wav2vec2-base") == "random"
    loaded = load_model("random:wav2vec2-base")
    assert loaded.is_random and loaded.model_id == "facebook/wav2vec2-base"
    assert loaded.feature_extractor.do_normalize is True
    with torch.inference_mode():
        hidden, valid = loaded.hidden_states([np.random.default_rng(0).standard_normal(16000)
                                              .astype(np.float32)])
    assert tuple(hidden.shape) == (1, 13, 49, 768) and valid == [49]
    assert torch.isfinite(hidden).all()


@pytest.mark.skipif(not _hub_reachable(), reason="the Hugging Face Hub is not reachable")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_config_matches_the_published_one(name):
    bundled = bundled_config(name)
    published = transformers.AutoConfig.from_pretrained(bundled["hub_id"]).to_dict()
    for field, value in bundled["model"].items():
        if field in published:
            assert published[field] == value, f"{name}: {field}"
    try:
        extractor = transformers.AutoFeatureExtractor.from_pretrained(bundled["hub_id"]).to_dict()
    except OSError:
        return  # no preprocessor_config.json published
    for field in ("do_normalize", "return_attention_mask", "feature_size"):
        if field in extractor and field in bundled["feature_extractor"]:
            assert extractor[field] == bundled["feature_extractor"][field], f"{name}: {field}"
