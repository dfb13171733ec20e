"""The multilingual picture: where the best layer sits per language, and whether multilingual
pretraining helps. Pure functions on the tidy probe results and the paper's table."""

from __future__ import annotations

import pandas as pd

from serlib.probing.summary import best_layer_by_dev

#: Pretraining data of the registry's models and the paper's model names.
PRETRAINING: dict[str, str] = {
    "wav2vec2-base": "English (LibriSpeech)",
    "wav2vec2-large": "English (LibriSpeech)",
    "wav2vec2-large-960h": "English (LibriSpeech)",
    "xlsr-53": "multilingual (53 languages)",
    "xls-r-300m": "multilingual (128 languages)",
    "hubert-base": "English (LibriSpeech)",
    "hubert-large": "English (Libri-Light)",
    "hubert-large-ft": "English (Libri-Light)",
    "wavlm-base-plus": "English (94k h)",
    "wavlm-large": "English (94k h)",
    "data2vec-audio-base": "English (LibriSpeech)",
    "whisper-base": "multilingual (97 languages, weakly supervised)",
    "whisper-small": "multilingual (97 languages, weakly supervised)",
    "WAV2VEC2_BASE": "English (LibriSpeech)",
    "WAV2VEC2_LARGE": "English (LibriSpeech)",
    "WAV2VEC2_ASR_LARGE_960H": "English (LibriSpeech)",
    "WAV2VEC2_LARGE_XLSR": "multilingual (53 languages)",
    "WAV2VEC2_LARGE_XLSR300M": "multilingual (128 languages)",
    "HUBERT_BASE": "English (LibriSpeech)",
    "HUBERT_LARGE": "English (Libri-Light)",
    "HUBERT_ASR_LARGE": "English (Libri-Light)",
}

#: The paper's corpus names -> language codes.
PAPER_CORPUS_LANGUAGES = {"AESDD": "el", "CaFE": "fr", "EMOVO": "it", "EmoDB": "de",
                          "IEMOCAP": "en", "RAVDESS": "en", "ShEMO": "fa"}


def pretraining_group(model: str) -> str:
    """``multilingual``, ``English``, ``none (random init)``, ``acoustic features`` or ``unknown``."""
    if model.startswith("random:"):
        return "none (random init)"
    if model.startswith("acoustic:"):
        return "acoustic features"
    described = PRETRAINING.get(model, "")
    if described.startswith("multilingual"):
        return "multilingual"
    if described.startswith("English"):
        return "English"
    return "unknown"


def best_layers_by_language(results: pd.DataFrame) -> pd.DataFrame:
    """Best dev layer per model x corpus with language, depth fraction and pretraining group."""
    best = best_layer_by_dev(results)
    best["pretraining"] = best["model"].map(pretraining_group)
    return best


def depth_normalised_curves(results: pd.DataFrame, metric: str = "accuracy",
                            split: str = "test") -> pd.DataFrame:
    """Per-layer rows with ``depth`` = layer / number of transformer blocks (0 = input)."""
    rows = results[(results["metric"] == metric) & (results["split"] == split)].copy()
    rows["layer"] = pd.to_numeric(rows["layer"])
    blocks = rows.groupby(["model", "corpus"])["layer"].transform("max")
    rows["depth"] = rows["layer"] / blocks.where(blocks > 0, 1)
    return rows


def pretraining_comparison(best: pd.DataFrame, accuracy_column: str = "test_mean") -> pd.DataFrame:
    """Mean best-layer accuracy per language (rows) and pretraining group (columns)."""
    return best.pivot_table(index="language", columns="pretraining", values=accuracy_column,
                            aggfunc="mean")


def paper_by_language(paper: pd.DataFrame) -> pd.DataFrame:
    """The paper's best linear-probe layers with language and pretraining group added."""
    linear = paper[paper["probe"] == "linear"].copy()
    linear["language"] = linear["corpus"].map(PAPER_CORPUS_LANGUAGES)
    linear["pretraining"] = linear["model"].map(pretraining_group)
    return linear
