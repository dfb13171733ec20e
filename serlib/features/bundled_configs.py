"""Architecture configs of every registry model, shipped with serlib (no torch, no network).

``serlib/features/configs/<short name>.json`` holds, per model of
:data:`serlib.features.registry.MODEL_REGISTRY`:

- ``hub_id``: the Hub repository the architecture was written from;
- ``source``: where the figures come from;
- ``model``: the fields of the transformers config that fix the architecture (``model_type``,
  width, blocks, heads, FFN size, conv stack, conv normalisation, stable layer norm; Whisper:
  ``d_model``, encoder layers/heads/FFN, mel bins);
- ``feature_extractor``: the model's preprocessor settings (``do_normalize``,
  ``return_attention_mask``; Whisper: mel bins, hop).

They let ``random:<short name>`` (the random-init control) build the real architecture offline,
and let ``serlib plan`` size a run without loading a model. Dropouts and training-only fields are
left at transformers' defaults: they do not change inference.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from serlib.features.registry import MODEL_REGISTRY

CONFIG_PACKAGE = "serlib.features.configs"


def has_bundled_config(name: str) -> bool:
    """True when ``name`` (a short name or its Hub id) has a shipped architecture config."""
    return _short_name(name) is not None


def bundled_config(name: str) -> dict:
    """The shipped config of ``name`` (short name or Hub id): ``{hub_id, source, model, feature_extractor}``.

    Raises ``KeyError`` for a model without one (see :func:`has_bundled_config`).
    """
    short = _short_name(name)
    if short is None:
        raise KeyError(f"no bundled config for {name!r}; bundled: {', '.join(MODEL_REGISTRY)}")
    return json.loads(json.dumps(_read(short)))  # a fresh copy: callers may change it


def architecture_summary(name: str) -> dict:
    """``{family, blocks, width, ffn, hidden_states}`` of a registry model, from its bundled config."""
    model = bundled_config(name)["model"]
    if model["model_type"] == "whisper":
        blocks, width, ffn = model["encoder_layers"], model["d_model"], model["encoder_ffn_dim"]
    else:
        blocks, width = model["num_hidden_layers"], model["hidden_size"]
        ffn = model["intermediate_size"]
    return {"family": model["model_type"], "blocks": blocks, "width": width, "ffn": ffn,
            "hidden_states": blocks + 1}


def _short_name(name: str) -> str | None:
    if name in MODEL_REGISTRY:
        return name
    by_hub_id = {hub_id: short for short, hub_id in MODEL_REGISTRY.items()}
    return by_hub_id.get(name)


@lru_cache(maxsize=None)
def _read(short_name: str) -> dict:
    text = resources.files(CONFIG_PACKAGE).joinpath(f"{short_name}.json").read_text()
    return json.loads(text)


__all__ = ["architecture_summary", "bundled_config", "has_bundled_config"]
