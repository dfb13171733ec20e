"""The random-init control of a real model: same architecture, random weights, float32."""

from __future__ import annotations

import torch

from serlib.features.models import TINY_RANDOM_CONFIGS, load_model


def test_random_copy_of_a_local_float16_model_runs_in_float32(tmp_path):
    config = TINY_RANDOM_CONFIGS["whisper-tiny"]()
    config.dtype = "float16"  # as the shared whisper-base checkpoint says
    config.save_pretrained(tmp_path / "whisper-fp16")
    loaded = load_model(f"random:{tmp_path / 'whisper-fp16'}")
    assert loaded.is_random
    assert {parameter.dtype for parameter in loaded.model.parameters()} == {torch.float32}
    assert loaded.num_hidden_states == config.encoder_layers + 1
