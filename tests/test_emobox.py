"""serlib.data.emobox and `serlib split --protocol emobox`: EmoBox's fold files mapped onto a manifest."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from serlib import cli
from serlib.common.errors import SerlibError
from serlib.data.corpora import write_manifest
from serlib.data.emobox import EMOBOX_COLUMNS, emobox_folds

SPEAKERS = ("03", "08", "09", "10")
LABELS = {"W": "anger", "N": "neutral", "T": "sadness"}


def make_manifest() -> pd.DataFrame:
    """EmoDB-like: 4 speakers x 3 labels x 5 sentences = 60 utterances, ids wav/<stem>."""
    rows = []
    for speaker in SPEAKERS:
        for code, label in LABELS.items():
            for sentence in range(5):
                stem = f"{speaker}a0{sentence}{code}a"
                rows.append({"utterance_id": f"wav/{stem}", "path": f"/c/wav/{stem}.wav",
                             "corpus": "emodb", "language": "de", "speaker": f"emodb_{speaker}",
                             "gender": "", "label": label, "label_code": code,
                             "duration_s": 1.0, "sample_rate": 16000})
    return pd.DataFrame(rows)


def write_emobox_tree(data, manifest: pd.DataFrame, test_speakers_per_fold, skip=()):
    """EmoBox's layout: data/emodb/fold_<k>/emodb_{train,test}_fold_<k>.jsonl (folds numbered from 1)."""
    stems = [uid.split("/")[-1] for uid in manifest["utterance_id"] if uid.split("/")[-1] not in skip]
    for number, test_speakers in enumerate(test_speakers_per_fold, start=1):
        folder = data / "emodb" / f"fold_{number}"
        folder.mkdir(parents=True)
        for part in ("train", "test"):
            chosen = [s for s in stems if (s[:2] in test_speakers) == (part == "test")]
            with open(folder / f"emodb_{part}_fold_{number}.jsonl", "w") as handle:
                for stem in chosen:
                    handle.write(json.dumps({
                        "key": f"emodb-{stem}", "wav": f"downloads/emodb/wav/{stem}.wav",
                        "emo": {"W": "ang", "N": "neu", "T": "sad"}[stem[5]], "length": 2.0,
                        "sample_rate": 16000, "channel": 1, "dataset": "emodb"}) + "\n")
    return data


def test_speaker_independent_folds_map_to_train_dev_test(tmp_path):
    manifest = make_manifest()
    data = write_emobox_tree(tmp_path / "data", manifest, [("03", "08"), ("09", "10")])
    folds = emobox_folds(manifest, data, seed=0)
    table = folds.table
    assert list(table.columns) == list(EMOBOX_COLUMNS)
    assert sorted(table["fold"].unique()) == [0, 1]
    # every utterance once per fold; test = 30 of the fold's two speakers; dev = 20% of the other 30
    assert len(table) == 120 and not table.duplicated(["utterance_id", "fold"]).any()
    sizes = table.groupby(["fold", "split"]).size().unstack()
    assert sizes.loc[0].to_dict() == {"dev": 6, "test": 30, "train": 24}
    # dev is stratified by label: 2 of each label's 10 training utterances
    dev = table[(table["fold"] == 0) & (table["split"] == "dev")]
    assert dev["label"].value_counts().to_dict() == {"anger": 2, "neutral": 2, "sadness": 2}
    assert set(table.loc[(table["fold"] == 0) & (table["split"] == "test"), "speaker"]) == {
        "emodb_03", "emodb_08"}
    assert folds.speaker_independent and folds.untested == []
    assert "speaker-independent" in folds.summary() and "NOT" not in folds.summary()
    assert emobox_folds(manifest, data, seed=0).table.equals(table)
    assert not emobox_folds(manifest, data, seed=1).table.equals(table)


def test_speaker_dependent_folds_and_untested_utterances_are_reported(tmp_path):
    manifest = make_manifest()
    # fold 1's test holds speaker 03 only; speaker 08 is in training of fold 1 and untested anywhere
    data = tmp_path / "data"
    write_emobox_tree(data, manifest, [("03",)], skip=())
    # make fold 1 speaker-dependent: move one of speaker 09's utterances into its test file
    folder = data / "emodb" / "fold_1"
    train_lines = (folder / "emodb_train_fold_1.jsonl").read_text().splitlines()
    moved = [line for line in train_lines if '"emodb-09a00Wa"' in line]
    (folder / "emodb_train_fold_1.jsonl").write_text(
        "\n".join(line for line in train_lines if line not in moved) + "\n")
    with open(folder / "emodb_test_fold_1.jsonl", "a") as handle:
        handle.write(moved[0] + "\n")
    folds = emobox_folds(manifest, data)
    assert not folds.speaker_independent and folds.shared_speakers == {0: 1}
    assert "NOT speaker-independent" in folds.summary()
    assert len(folds.untested) == 44  # 60 minus speaker 03's 15 minus the moved one
    assert "44 manifest utterance(s) are tested by no fold" in folds.summary()


def test_unmatched_entries_and_missing_folders_are_explained(tmp_path):
    manifest = make_manifest()
    data = write_emobox_tree(tmp_path / "data", manifest, [("03",)])
    with pytest.raises(SerlibError, match=r"15 entr\(ies\) of .*emodb_test_fold_1.jsonl match no "
                                          r"manifest utterance.*emodb-03a00Wa"):
        emobox_folds(manifest[manifest["speaker"] != "emodb_03"], data)
    with pytest.raises(SerlibError, match=r"no EmoBox folder .*ravdess.*found: emodb"):
        emobox_folds(manifest, data, corpus="ravdess")


def test_split_command_writes_the_shared_fold_format(tmp_path, capsys):
    manifest = make_manifest()
    manifest_path = write_manifest(manifest, tmp_path / "emodb.csv")
    data = write_emobox_tree(tmp_path / "EmoBox" / "data", manifest, [("03", "08"), ("09", "10")])
    assert cli.main(["split", str(manifest_path), "--protocol", "emobox",
                     "--emobox-data", str(data), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "emodb.split-emobox-seed3.csv"
    assert out.startswith(f"{path}: 2 EmoBox folds of emodb\n  fold 0: train 24, dev 6, test 30\n")
    saved = pd.read_csv(path, dtype={"utterance_id": str, "speaker": str})
    assert list(saved.columns) == list(EMOBOX_COLUMNS) and len(saved) == 120
    assert cli.main(["split", str(manifest_path), "--protocol", "emobox"]) == 2
    assert "--protocol emobox needs --emobox-data" in capsys.readouterr().err


def test_a_profile_can_name_emobox_as_a_protocol(tmp_path):
    import textwrap

    from conftest import write_wav
    from serlib import study
    from serlib.study.config import load_config

    manifest = make_manifest()
    for stem in manifest["utterance_id"]:
        write_wav(tmp_path / "emodb" / f"{stem}.wav", seconds=0.2)
    data = write_emobox_tree(tmp_path / "EmoBox" / "data", manifest, [("03", "08"), ("09", "10")])
    profile = tmp_path / "emobox.yaml"
    profile.write_text(textwrap.dedent(f"""
        profile: emobox-test
        work_dir: {tmp_path / 'work'}
        results_dir: {tmp_path / 'results'}
        corpora: [{{id: emodb, name: emodb, root: {tmp_path / 'emodb'}}}]
        models: [acoustic:mfcc]
        split: {{protocols: [emobox, speaker-cv], emobox_data: {data}}}
    """))
    config = load_config(profile)
    assert config.split_protocols == ("emobox", "speaker-cv")
    [prepared] = study.prepare_corpora(config)
    folds = prepared.split("emobox")
    assert prepared.split_file("emobox").name == "emodb.split-emobox-seed0.csv"
    assert sorted(folds["fold"].unique()) == [0, 1] and set(folds["split"]) == {"train", "dev", "test"}
    assert (tmp_path / "results" / "splits" / "emodb.split-emobox-seed0.csv").is_file()


def test_the_emobox_protocol_needs_its_data_folder(tmp_path):
    from serlib.study.config import load_config

    profile = tmp_path / "broken.yaml"
    profile.write_text("profile: broken\ncorpora: []\nmodels: []\nsplit: {protocols: [emobox]}\n")
    with pytest.raises(SerlibError, match="emobox_data"):
        load_config(profile)
