"""serlib.data.splits: stratified random split, speaker split, speaker folds, saved split files."""

from __future__ import annotations

import pandas as pd
import pytest

from serlib.data.corpora import write_manifest
from serlib.common.errors import SerlibError
from serlib.data.splits import (
    load_or_create_split,
    make_protocol,
    protocol_of_split_file,
    random_split,
    session_cross_validation,
    speaker_cross_validation,
    speaker_split,
    split_path,
)

LABEL_COUNTS = {"anger": 50, "neutral": 30, "sadness": 20}


def make_manifest(n_speakers: int = 10) -> pd.DataFrame:
    """100 utterances: labels anger 50, neutral 30, sadness 20; speakers round-robin."""
    labels = [label for label, count in LABEL_COUNTS.items() for _ in range(count)]
    return pd.DataFrame({
        "utterance_id": [f"u{index:03d}" for index in range(len(labels))],
        "path": [f"/corpus/u{index:03d}.wav" for index in range(len(labels))],
        "corpus": "toy",
        "language": "en",
        "speaker": [f"toy_{index % n_speakers:02d}" for index in range(len(labels))],
        "gender": "",
        "label": labels,
        "label_code": labels,
        "duration_s": 1.0,
        "sample_rate": 16000,
    })


def test_random_split_is_stratified_complete_and_disjoint():
    manifest = make_manifest()
    split = random_split(manifest, seed=0)
    assert list(split.columns) == ["utterance_id", "speaker", "label", "split"]
    assert list(split["utterance_id"]) == list(manifest["utterance_id"])
    counts = split.groupby(["label", "split"]).size().unstack()
    assert counts.loc["anger"].to_dict() == {"train": 30, "dev": 10, "test": 10}
    assert counts.loc["neutral"].to_dict() == {"train": 18, "dev": 6, "test": 6}
    assert counts.loc["sadness"].to_dict() == {"train": 12, "dev": 4, "test": 4}


def test_random_split_depends_only_on_seed():
    manifest = make_manifest()
    assert random_split(manifest, seed=3).equals(random_split(manifest, seed=3))
    assert not random_split(manifest, seed=3).equals(random_split(manifest, seed=4))


def test_random_split_with_a_too_rare_label_is_explained():
    manifest = make_manifest()
    manifest.loc[0, "label"] = "fear"
    with pytest.raises(SerlibError, match="smallest label: fear with 1 utterance"):
        random_split(manifest)


def test_bad_fractions_are_rejected():
    with pytest.raises(SerlibError, match="sum to 1"):
        random_split(make_manifest(), fractions=(0.6, 0.3, 0.2))


def test_speaker_split_keeps_speakers_apart_and_approximates_fractions():
    manifest = make_manifest()
    split = speaker_split(manifest, seed=0)
    speakers_per_part = split.groupby("split")["speaker"].agg(set)
    assert not speakers_per_part["train"] & speakers_per_part["dev"]
    assert not speakers_per_part["train"] & speakers_per_part["test"]
    assert not speakers_per_part["dev"] & speakers_per_part["test"]
    assert split["split"].value_counts().to_dict() == {"train": 60, "dev": 20, "test": 20}
    assert speaker_split(manifest, seed=0).equals(split)
    assert not speaker_split(manifest, seed=1).equals(split)


def test_speaker_split_gives_every_part_a_speaker_even_when_unbalanced():
    manifest = make_manifest(n_speakers=3)
    manifest.loc[:89, "speaker"] = "toy_00"
    split = speaker_split(manifest, seed=0)
    assert split.groupby("split")["speaker"].nunique().to_dict() == {
        "train": 1, "dev": 1, "test": 1}
    assert (split.loc[split["speaker"] == "toy_00", "split"] == "train").all()


def test_speaker_split_needs_three_speakers():
    with pytest.raises(SerlibError, match="at least 3 speakers; the manifest has 2"):
        speaker_split(make_manifest(n_speakers=2))


def _parts(table, fold):
    rows = table[table["fold"] == fold]
    return {part: set(rows.loc[rows["split"] == part, "speaker"]) for part in ("train", "dev", "test")}


def test_speaker_cv_is_leave_one_speaker_out_up_to_twelve_speakers():
    manifest = make_manifest(n_speakers=10)
    table = speaker_cross_validation(manifest, seed=0)
    assert list(table.columns) == ["utterance_id", "speaker", "label", "fold", "split"]
    assert sorted(table["fold"].unique()) == list(range(10))
    tested = table[table["split"] == "test"]
    assert sorted(tested["utterance_id"]) == sorted(manifest["utterance_id"])  # each tested once
    for fold in range(10):
        parts = _parts(table, fold)
        assert len(parts["test"]) == 1 and len(parts["dev"]) == 2 and len(parts["train"]) == 7
        assert not (parts["train"] & parts["dev"] or parts["train"] & parts["test"]
                    or parts["dev"] & parts["test"])
    assert speaker_cross_validation(manifest, seed=0).equals(table)


def test_speaker_cv_groups_five_folds_beyond_twelve_speakers():
    manifest = make_manifest(n_speakers=20)
    table = speaker_cross_validation(manifest, seed=1)
    assert sorted(table["fold"].unique()) == [0, 1, 2, 3, 4]
    assert (table[table["split"] == "test"].groupby("speaker")["fold"].nunique() == 1).all()
    assert table[table["split"] == "test"]["utterance_id"].is_unique
    for fold in range(5):
        parts = _parts(table, fold)
        assert not (parts["train"] & parts["test"] or parts["dev"] & parts["test"])
        assert len(parts["test"]) == 4 and len(parts["dev"]) == 4


def test_random_protocol_repeats_the_papers_split_over_split_seeds():
    manifest = make_manifest()
    table = make_protocol(manifest, "random", seed=0, repeats=3)
    assert sorted(table["fold"].unique()) == [0, 1, 2]
    for fold in range(3):
        rows = table[table["fold"] == fold].reset_index(drop=True)
        assert rows["split"].tolist() == random_split(manifest, seed=fold)["split"].tolist()
    assert table[table["fold"] == 0]["split"].tolist() != table[table["fold"] == 1]["split"].tolist()


def test_session_cv_leaves_one_iemocap_session_out():
    manifest = make_manifest()
    manifest["speaker"] = [f"iemocap_Ses0{1 + index % 5}{'FM'[index % 2]}" for index in range(len(manifest))]
    table = session_cross_validation(manifest, seed=0)
    assert sorted(table["fold"].unique()) == [0, 1, 2, 3, 4]
    for fold in range(5):
        rows = table[table["fold"] == fold]
        test_sessions = {speaker[:-1] for speaker in rows.loc[rows["split"] == "test", "speaker"]}
        assert test_sessions == {f"iemocap_Ses0{fold + 1}"}
        assert (rows["split"] == "dev").sum() == 16  # 20% of the 80 training utterances
    with pytest.raises(SerlibError, match="session-cv is IEMOCAP's protocol"):
        session_cross_validation(make_manifest())


def test_split_file_names():
    assert split_path("out/emodb.csv", "random", 2).as_posix() == "out/emodb.split-random-seed2.csv"
    assert protocol_of_split_file("out/emodb.split-speaker-cv-seed0.csv") == "speaker-cv"
    assert protocol_of_split_file("mine.csv") == "custom"
    with pytest.raises(SerlibError, match="unknown split protocol 'session'"):
        split_path("out/emodb.csv", "session", 0)


def test_saved_split_is_reused_only_while_ids_labels_and_speakers_match(tmp_path, capsys):
    manifest_path = write_manifest(make_manifest(), tmp_path / "toy.csv")
    created = load_or_create_split(manifest_path, "speaker", seed=0)
    saved_path = tmp_path / "toy.split-speaker-seed0.csv"
    assert pd.read_csv(saved_path, dtype=str).equals(created.astype(str))
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.endswith(".lock")) == [
        "toy.csv", "toy.split-speaker-seed0.csv"]  # (the manifest writer's lock file stays)

    edited = created.copy()
    edited.loc[0, "split"] = "dev" if edited.loc[0, "split"] != "dev" else "train"
    edited.to_csv(saved_path, index=False)
    assert load_or_create_split(manifest_path, "speaker", seed=0).loc[0, "split"] == edited.loc[0, "split"]

    relabelled = make_manifest()
    relabelled.loc[0, "label"] = "sadness"  # a corrected label mapping
    write_manifest(relabelled, manifest_path)
    rebuilt = load_or_create_split(manifest_path, "speaker", seed=0)
    assert rebuilt.loc[rebuilt["utterance_id"] == "u000", "label"].iloc[0] == "sadness"
    assert "labels differ" in capsys.readouterr().err

    write_manifest(make_manifest().iloc[1:], manifest_path)
    assert "u000" not in set(load_or_create_split(manifest_path, "speaker", seed=0)["utterance_id"])
    assert "utterances are not the manifest's" in capsys.readouterr().err
