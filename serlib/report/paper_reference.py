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


#: Our registry's short model names (``serlib.features.registry``) -> the paper's names.
OUR_MODEL_NAMES: dict[str, str] = {
    "wav2vec2-base": "WAV2VEC2_BASE",
    "wav2vec2-large": "WAV2VEC2_LARGE",
    "wav2vec2-large-960h": "WAV2VEC2_ASR_LARGE_960H",
    "xlsr-53": "WAV2VEC2_LARGE_XLSR",
    "xls-r-300m": "WAV2VEC2_LARGE_XLSR300M",
    "hubert-base": "HUBERT_BASE",
    "hubert-large": "HUBERT_LARGE",
    "hubert-large-ft": "HUBERT_ASR_LARGE",
}
SAME_MODEL = "same model"
BEST_MODEL = "paper's best model on this corpus"


def paper_model_name(model: str) -> str | None:
    """The paper's name of one of our model ids (short name, Hub id, or the paper's own name);
    None for a model the paper did not run (random-init copies, acoustic baselines, others)."""
    if model in OUR_MODEL_NAMES:
        return OUR_MODEL_NAMES[model]
    if model in PAPER_MODELS:
        return model
    by_hub_id = {hf_id: name for name, (hf_id, _) in PAPER_MODELS.items()}
    return by_hub_id.get(model)


def paper_corpus_name(corpus: str, paper: pd.DataFrame) -> str | None:
    """The paper's name of one of our corpus ids (``emodb`` -> ``EmoDB``; case-insensitive)."""
    names = {name.lower(): name for name in paper["corpus"].unique()}
    return names.get(corpus.lower())


def paper_row(paper: pd.DataFrame, corpus: str, model: str) -> tuple[str | None, str | None, dict]:
    """The paper's numbers for one of our corpus x model pairs: (paper model, how it matches,
    numbers). The same model where the paper ran it on that corpus; else the paper's best
    model on the corpus (highest accuracy of any of its systems); nothing for a corpus the
    paper did not use. Numbers: ``paper_<system>_accuracy``, ``_sd`` and, for linear and
    dense, ``_layer`` (the paper's layer k = our hidden state k)."""
    paper_corpus = paper_corpus_name(corpus, paper)
    if paper_corpus is None:
        return None, None, {}
    rows = paper[paper["corpus"] == paper_corpus]
    name, match = paper_model_name(model), SAME_MODEL
    if name is None or name not in set(rows["model"]):
        name = rows.loc[rows["accuracy_mean"].idxmax(), "model"]
        match = BEST_MODEL
    numbers = {}
    for row in rows[rows["model"] == name].itertuples():
        numbers[f"paper_{row.probe}_accuracy"] = row.accuracy_mean
        numbers[f"paper_{row.probe}_sd"] = row.accuracy_sd
        if row.probe != "aggregate":
            numbers[f"paper_{row.probe}_layer"] = row.layer
    return name, match, numbers


#: The paper's three systems and, per system, our probes in order of preference: the paper's
#: frame-level probe where it ran, its pooled variant otherwise.
PAPER_STYLE_SYSTEMS = {"aggregation": ("aggregate", "aggregate-pooled"), "linear": ("linear",),
                       "dense": ("dense", "dense-pooled")}
PAPER_STYLE_COLUMNS = [
    "protocol", "corpus", "model",
    "aggregation_probe", "aggregation_accuracy", "aggregation_ci_low", "aggregation_ci_high",
    "linear_probe", "linear_layer", "linear_accuracy", "linear_ci_low", "linear_ci_high",
    "dense_probe", "dense_layer", "dense_accuracy", "dense_ci_low", "dense_ci_high",
    "layer_choice", "n_utterances", "n_speakers", "n_folds", "n_seeds",
    "paper_model", "paper_match",
    "paper_aggregate_accuracy", "paper_aggregate_sd",
    "paper_linear_layer", "paper_linear_accuracy", "paper_linear_sd",
    "paper_dense_layer", "paper_dense_accuracy", "paper_dense_sd",
]
LAYER_CHOICE = "highest mean test accuracy (as the paper's tables choose it)"


def _best_of(intervals: pd.DataFrame) -> pd.Series:
    """The row of highest test accuracy (ties: the lower hidden state)."""
    rows = intervals.assign(_layer=pd.to_numeric(intervals["layer"], errors="coerce"))
    return rows.sort_values(["accuracy", "_layer"], ascending=[False, True]).iloc[0]


def paper_style_summary(intervals: dict[str, pd.DataFrame], paper: pd.DataFrame) -> pd.DataFrame:
    """One row per corpus x model of our results in the paper's table layout, the paper's
    numbers beside.

    ``intervals`` maps a probe to its ``layer_intervals_<probe>`` table of one protocol (rows of
    :func:`serlib.report.uncertainty.layer_intervals`). Per corpus x model with a curve of the
    linear probe (more than one hidden state): the aggregation's accuracy (``aggregate`` where it
    ran, else ``aggregate-pooled``), and the best layer of the linear and of the dense probe
    (``dense`` where it ran, else ``dense-pooled``) with their accuracies, each with its 95%
    interval; the best layer is the one of highest mean test accuracy, as the paper's tables
    choose it (:data:`LAYER_CHOICE`, optimistic). The n columns are those of the linear probe.
    ``paper`` is :func:`load_paper_results`; see :func:`paper_row` for which numbers go beside."""
    linear = intervals.get("linear", pd.DataFrame())
    rows = []
    for (corpus, model), curve in (linear.groupby(["corpus", "model"], sort=False) if not linear.empty else []):
        if len(curve) < 2:
            continue
        row = {"protocol": curve["protocol"].iloc[0], "corpus": corpus, "model": model,
               "layer_choice": LAYER_CHOICE}
        for system, probes in PAPER_STYLE_SYSTEMS.items():
            for probe in probes:
                table = intervals.get(probe, pd.DataFrame())
                run = table[(table["corpus"] == corpus) & (table["model"] == model)] if not table.empty else table
                if run.empty:
                    continue
                best = _best_of(run)
                row.update({f"{system}_probe": probe, f"{system}_accuracy": best["accuracy"],
                            f"{system}_ci_low": best["ci_low"], f"{system}_ci_high": best["ci_high"]})
                if system != "aggregation":
                    row[f"{system}_layer"] = int(best["layer"])
                if system == "linear":
                    row.update({key: int(best[key]) for key in ("n_utterances", "n_speakers", "n_folds", "n_seeds")})
                break
        name, match, numbers = paper_row(paper, corpus, model)
        rows.append({**row, "paper_model": name, "paper_match": match, **numbers})
    table = pd.DataFrame(rows, columns=PAPER_STYLE_COLUMNS)
    for column in ("linear_layer", "dense_layer", "paper_linear_layer", "paper_dense_layer"):
        table[column] = table[column].astype("Int64")
    return table
