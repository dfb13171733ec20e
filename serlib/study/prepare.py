"""Notebook 01: each corpus of the profile -> its manifest and split CSVs (reused when unchanged)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.common.files import write_csv_atomically
from serlib.data.corpora import build_manifest, write_manifest
from serlib.data.corpora.manifest import read_manifest
from serlib.data.splits import load_or_create_split, split_path
from serlib.data.emobox import emobox_path, load_or_create_emobox_split
from serlib.study.config import EMOBOX, CorpusSpec, StudyConfig


SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class PreparedCorpus:
    """A corpus of the profile with its manifest and the split file of every protocol on disk."""

    corpus_id: str
    language: str
    manifest_path: Path
    split_paths: dict[str, Path]

    def split_file(self, protocol: str) -> Path:
        """The split CSV of ``protocol`` (one of the profile's protocols)."""
        if protocol not in self.split_paths:
            raise SerlibError(f"corpus {self.corpus_id} has no {protocol!r} split; the profile's "
                              f"protocols are {', '.join(self.split_paths)}")
        return self.split_paths[protocol]

    @property
    def split_path(self) -> Path:
        """The split CSV of the profile's main protocol."""
        return next(iter(self.split_paths.values()))

    def manifest(self) -> pd.DataFrame:
        return read_manifest(self.manifest_path)

    def split(self, protocol: str | None = None) -> pd.DataFrame:
        path = self.split_path if protocol is None else self.split_file(protocol)
        return pd.read_csv(path, dtype={"utterance_id": str, "speaker": str})


def _corpus_manifest(spec: CorpusSpec) -> pd.DataFrame:
    if spec.name == SYNTHETIC:
        from serlib.data.synthetic import generate_synthetic_corpus

        generate_synthetic_corpus(spec.root)
    if spec.generate:
        from serlib.data.layouts import write_layout_corpus

        write_layout_corpus(spec.name, spec.root)
    if spec.root is None:
        raise SerlibError(f"corpus {spec.corpus_id}: root not set: {spec.describe_root()}")
    manifest = build_manifest(spec.name, spec.root)
    if spec.language is not None:
        manifest = manifest[manifest["language"] == spec.language].reset_index(drop=True)
        if manifest.empty:
            raise SerlibError(f"corpus {spec.corpus_id}: no {spec.name} utterances in language "
                              f"{spec.language!r} under {spec.root}")
    return manifest


def prepare_corpus(config: StudyConfig, spec: CorpusSpec) -> PreparedCorpus:
    """Write the manifest of one corpus and its split (reused when the manifest is unchanged)."""
    manifest = _corpus_manifest(spec)
    manifest_path = write_manifest(manifest, config.manifest_dir / f"{spec.corpus_id}.csv")
    protocols = (config.split_protocol,
                 *(protocol for protocol in config.split_protocols if protocol != config.split_protocol))
    paths = {}
    for protocol in protocols:
        if protocol == EMOBOX:
            folds = load_or_create_emobox_split(manifest_path, config.emobox_data, config.emobox_corpus,
                                                config.split_seed)
            print(f"{spec.corpus_id}: {folds.summary()}")
            paths[protocol] = emobox_path(manifest_path, config.split_seed)
        else:
            load_or_create_split(manifest_path, protocol, config.split_seed, config.split_repeats)
            paths[protocol] = split_path(manifest_path, protocol, config.split_seed)
    language = manifest["language"].iloc[0] if manifest["language"].nunique() == 1 else "multi"
    return PreparedCorpus(spec.corpus_id, language, manifest_path, paths)


def prepare_corpora(config: StudyConfig) -> list[PreparedCorpus]:
    """Manifests and splits for every corpus of the profile; splits also copied to results."""
    prepared = [prepare_corpus(config, spec) for spec in config.corpora]
    for corpus in prepared:
        for protocol, path in corpus.split_paths.items():
            write_csv_atomically(corpus.split(protocol), config.results_dir / "splits" / path.name)
    return prepared


def corpus_summary(prepared: list[PreparedCorpus]) -> pd.DataFrame:
    """Per corpus: language, utterances, speakers, labels, hours, median duration, and per
    protocol its folds and the mean train/dev/test sizes of a fold."""
    rows = []
    for corpus in prepared:
        manifest = corpus.manifest()
        row = {
            "corpus": corpus.corpus_id,
            "language": corpus.language,
            "utterances": len(manifest),
            "speakers": manifest["speaker"].nunique(),
            "labels": manifest["label"].nunique(),
            "hours": round(manifest["duration_s"].sum() / 3600, 3),
            "median_duration_s": round(manifest["duration_s"].median(), 2),
        }
        for protocol in corpus.split_paths:
            split = corpus.split(protocol)
            folds = split["fold"].nunique()
            sizes = "/".join(f"{(split['split'] == part).sum() / folds:.0f}"
                             for part in ("train", "dev", "test"))
            row[f"{protocol}: folds x train/dev/test"] = f"{folds} x {sizes}"
        rows.append(row)
    return pd.DataFrame(rows)


def label_counts(prepared: list[PreparedCorpus]) -> pd.DataFrame:
    """Utterances per corpus (rows) and canonical label (columns)."""
    frames = [corpus.manifest().assign(corpus=corpus.corpus_id) for corpus in prepared]
    table = pd.concat(frames).pivot_table(index="corpus", columns="label", values="utterance_id",
                                          aggfunc="count", fill_value=0)
    return table.reindex([corpus.corpus_id for corpus in prepared])


def all_manifests(prepared: list[PreparedCorpus]) -> pd.DataFrame:
    """All manifests of the profile in one table, with the profile's corpus id."""
    return pd.concat([corpus.manifest().assign(corpus_id=corpus.corpus_id) for corpus in prepared],
                     ignore_index=True)
