"""The paper's published numbers (arXiv 2308.08713, code v1.5) as a tidy table.

The CSV ships in ``serlib/report/paper_results_v1.5.csv`` (source in its first line and in
``serlib/report/README.md``). :func:`load_paper_results` returns one row per corpus x model x
system with accuracies as fractions, so they sit beside our own results.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PAPER_RESULTS_CSV = Path(__file__).resolve().parent / "paper_results_v1.5.csv"

#: The paper's model names -> (Hugging Face id, transformer blocks).
PAPER_MODELS: dict[str, tuple[str, int]] = {
    "WAV2VEC2_BASE": ("facebook/wav2vec2-base", 12),
    "WAV2VEC2_LARGE": ("facebook/wav2vec2-large", 24),
    "WAV2VEC2_ASR_LARGE_960H": ("facebook/wav2vec2-large-960h", 24),
    "WAV2VEC2_LARGE_XLSR": ("facebook/wav2vec2-large-xlsr-53", 24),
    "WAV2VEC2_LARGE_XLSR300M": ("facebook/wav2vec2-xls-r-300m", 24),
    "HUBERT_BASE": ("facebook/hubert-base-ls960", 12),
    "HUBERT_LARGE": ("facebook/hubert-large-ll60k", 24),
    "HUBERT_ASR_LARGE": ("facebook/hubert-large-ls960-ft", 24),
}

#: The systems of the table: column prefix -> name in the tidy table.
PAPER_SYSTEMS = {"aggregation_dense": "aggregate", "linear_best": "linear", "dense_best": "dense"}


def load_paper_results(path: Path = PAPER_RESULTS_CSV) -> pd.DataFrame:
    """Tidy paper numbers: corpus, model, hf_id, blocks, probe (aggregate, linear, dense),
    accuracy_mean, accuracy_sd (fractions), layer (the best layer, numbered from 1; NA for
    aggregation), layer_fraction (layer / blocks)."""
    wide = pd.read_csv(path, comment="#")
    parts = []
    for prefix, probe in PAPER_SYSTEMS.items():
        part = pd.DataFrame({
            "corpus": wide["corpus"],
            "model": wide["model"],
            "probe": probe,
            "accuracy_mean": wide[f"{prefix}_acc"] / 100.0,
            "accuracy_sd": wide[f"{prefix}_sd"] / 100.0,
            "layer": wide[f"{prefix}_layer"] if f"{prefix}_layer" in wide else pd.NA,
        })
        parts.append(part)
    tidy = pd.concat(parts, ignore_index=True)
    tidy["layer"] = tidy["layer"].astype("Int64")
    tidy["hf_id"] = tidy["model"].map(lambda name: PAPER_MODELS[name][0])
    tidy["blocks"] = tidy["model"].map(lambda name: PAPER_MODELS[name][1])
    tidy["layer_fraction"] = tidy["layer"].astype("Float64") / tidy["blocks"]
    columns = ["corpus", "model", "hf_id", "blocks", "probe", "accuracy_mean", "accuracy_sd",
               "layer", "layer_fraction"]
    return tidy[columns].sort_values(["corpus", "model", "probe"], ignore_index=True)
