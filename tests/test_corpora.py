"""Corpus parsers and the manifest builder, on tiny trees in each corpus's real naming."""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_wav

from serlib.data.corpora import (
    CANONICAL_LABELS,
    MANIFEST_COLUMNS,
    build_manifest,
    corpus_names,
    get_corpus,
    write_manifest,
)
from serlib.data.corpora.manifest import read_manifest
from serlib.common.errors import SerlibError


def make_tree(root: Path, relative_paths: list[str]) -> Path:
    """Write a 0.3 s 16 kHz tone at each relative path under root."""
    for relative in relative_paths:
        write_wav(root / relative)
    return root


def described(table: pd.DataFrame) -> list[tuple[str, str, str, str, str]]:
    """(utterance_id, speaker, gender, label, label_code) per row."""
    columns = ["utterance_id", "speaker", "gender", "label", "label_code"]
    return [tuple(row) for row in table[columns].itertuples(index=False)]


def texts(table: pd.DataFrame) -> dict[str, str]:
    """utterance_id -> text."""
    return dict(zip(table["utterance_id"], table["text"]))


def test_emodb(tmp_path):
    root = make_tree(tmp_path, ["wav/16a05Tc.wav", "wav/03a01Fa.wav", "wav/08b02Wb.wav",
                                "wav/09B10Nd.wav"])
    table = build_manifest("emodb", root)
    assert list(table.columns) == list(MANIFEST_COLUMNS)
    assert texts(table) == {"wav/03a01Fa": "a01", "wav/08b02Wb": "b02", "wav/09B10Nd": "b10",
                            "wav/16a05Tc": "a05"}
    table = table[table["utterance_id"] != "wav/09B10Nd"]
    assert described(table) == [
        ("wav/03a01Fa", "emodb_03", "male", "happiness", "F"),
        ("wav/08b02Wb", "emodb_08", "female", "anger", "W"),
        ("wav/16a05Tc", "emodb_16", "female", "sadness", "T"),
    ]
    first = table.iloc[0]
    assert first["path"] == str(root / "wav/03a01Fa.wav")
    assert (first["corpus"], first["language"], first["sample_rate"]) == ("emodb", "de", 16000)
    assert first["duration_s"] == pytest.approx(0.3)


def test_shemo_keeps_fear_and_gendered_speakers(tmp_path):
    root = make_tree(tmp_path, ["female/F01A01.wav", "male/M01N03.wav", "female/F03F02.wav"])
    table = build_manifest("shemo", root)
    assert list(table["text"]) == ["", "", ""]  # ShEMO's utterance number is not a sentence
    assert described(table) == [
        ("female/F01A01", "shemo_F01", "female", "anger", "A"),
        ("female/F03F02", "shemo_F03", "female", "fear", "F"),
        ("male/M01N03", "shemo_M01", "male", "neutral", "N"),
    ]


def test_aesdd_folder_case_and_take_suffix(tmp_path):
    root = make_tree(tmp_path, ["Anger/a01 (1).wav", "fear/f12 (4)b.wav", "sadness/s03 (5).wav"])
    assert described(build_manifest("aesdd", root)) == [
        ("Anger/a01 (1)", "aesdd_1", "", "anger", "a"),
        ("fear/f12 (4)b", "aesdd_4", "", "fear", "f"),
        ("sadness/s03 (5)", "aesdd_5", "", "sadness", "s"),
    ]


def test_emovo(tmp_path):
    root = make_tree(tmp_path, ["f1/dis-f1-b1.wav", "m3/gio-m3-n5.wav", "m3/pau-m3-l2.wav",
                                "m2/tri-m2-D2.wav"])
    table = build_manifest("emovo", root)
    assert texts(table) == {"f1/dis-f1-b1": "b1", "m2/tri-m2-D2": "d2", "m3/gio-m3-n5": "n5",
                            "m3/pau-m3-l2": "l2"}
    table = table[table["utterance_id"] != "m2/tri-m2-D2"]
    assert described(table) == [
        ("f1/dis-f1-b1", "emovo_f1", "female", "disgust", "dis"),
        ("m3/gio-m3-n5", "emovo_m3", "male", "happiness", "gio"),
        ("m3/pau-m3-l2", "emovo_m3", "male", "fear", "pau"),
    ]


def test_cafe_accented_folders_in_nfc_and_nfd(tmp_path):
    nfd_disgust = unicodedata.normalize("NFD", "Dégoût")
    root = make_tree(tmp_path, [
        "Colère/Faible/01-C-1-1.wav",
        f"{nfd_disgust}/Fort/02-D-2-3.wav",
        "Neutre/12-N-1-6.wav",
    ])
    table = build_manifest("cafe", root)
    assert list(table["text"]) == ["1", "3", "6"]
    assert described(table) == [
        ("Colère/Faible/01-C-1-1", "cafe_01", "", "anger", "C"),
        ("Dégoût/Fort/02-D-2-3", "cafe_02", "", "disgust", "D"),
        ("Neutre/12-N-1-6", "cafe_12", "", "neutral", "N"),
    ]
    assert all(unicodedata.is_normalized("NFC", text) for text in table["utterance_id"])


def test_cafe_file_in_the_wrong_emotion_folder_is_reported(tmp_path):
    root = make_tree(tmp_path, ["Joie/Fort/01-C-2-1.wav", "Joie/Fort/01-J-2-1.wav"])
    with pytest.raises(SerlibError, match=r"1 audio file\(s\) .*Joie/Fort/01-C-2-1.wav"):
        build_manifest("cafe", root)


def test_ravdess_keeps_audio_only_speech(tmp_path):
    root = make_tree(tmp_path, [
        "Actor_01/03-01-05-01-01-01-01.wav",
        "Actor_02/03-01-02-02-02-02-02.wav",
        "Actor_01/03-02-05-01-01-01-01.wav",
    ])
    table = build_manifest("ravdess", root)
    assert described(table) == [
        ("Actor_01/03-01-05-01-01-01-01", "ravdess_01", "male", "anger", "05"),
        ("Actor_02/03-01-02-02-02-02-02", "ravdess_02", "female", "calm", "02"),
    ]
    assert list(table["text"]) == ["01", "02"]  # the statement field
    assert sum(table.attrs["excluded"].values()) == 1


def make_iemocap(root: Path) -> Path:
    """Two sessions; one label of each kind the protocols treat differently."""
    labels = {
        "Session1": ("Ses01F_impro01", {
            "Ses01F_impro01_F000": "neu", "Ses01F_impro01_M001": "exc",
            "Ses01F_impro01_F002": "fru", "Ses01F_impro01_M003": "sur",
        }),
        "Session2": ("Ses02M_script01_1", {"Ses02M_script01_1_F003": "ang"}),
    }
    for session, (dialog, utterances) in labels.items():
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for index, (utterance, code) in enumerate(utterances.items()):
            write_wav(root / session / "sentences/wav" / dialog / f"{utterance}.wav")
            lines += [
                f"[{index}.5000 - {index}.9000]\t{utterance}\t{code}\t[2.5000, 3.0000, 3.5000]",
                f"C-E1:\t{code};\t()",
                "",
            ]
        evaluation = root / session / "dialog/EmoEvaluation" / f"{dialog}.txt"
        evaluation.parent.mkdir(parents=True, exist_ok=True)
        evaluation.write_text("\n".join(lines))
    return root


def test_iemocap_four_class_protocol(tmp_path):
    table = build_manifest("iemocap", make_iemocap(tmp_path))
    prefix = "Session1/sentences/wav/Ses01F_impro01/"
    assert described(table) == [
        (prefix + "Ses01F_impro01_F000", "iemocap_Ses01F", "female", "neutral", "neu"),
        (prefix + "Ses01F_impro01_M001", "iemocap_Ses01M", "male", "happiness", "exc"),
        ("Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_F003",
         "iemocap_Ses02F", "female", "anger", "ang"),
    ]
    assert sorted(table.attrs["excluded"].values()) == [1, 1]


def test_iemocap_full_label_set(tmp_path):
    table = build_manifest("iemocap_full", make_iemocap(tmp_path))
    assert list(table["label"]) == ["neutral", "happiness", "surprise", "anger"]
    assert list(table["speaker"]) == ["iemocap_full_Ses01F", "iemocap_full_Ses01M",
                                      "iemocap_full_Ses01M", "iemocap_full_Ses02F"]
    assert table.attrs["excluded"] == {"label fru not in the iemocap_full label set": 1}


def test_iemocap_wav_without_label_line_is_reported(tmp_path):
    root = make_iemocap(tmp_path)
    write_wav(root / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F009.wav")
    with pytest.raises(SerlibError, match="Ses01F_impro01_F009.wav; expected .*EmoEvaluation"):
        build_manifest("iemocap", root)


def test_cremad(tmp_path):
    root = make_tree(tmp_path, ["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1091_IEO_HAP_HI.wav",
                                "AudioWAV/1092_tai_SAD_LO.wav"])
    table = build_manifest("cremad", root)
    assert list(table["text"]) == ["DFA", "IEO", "TAI"]
    table = table[table["utterance_id"] != "AudioWAV/1092_tai_SAD_LO"]
    assert described(table) == [
        ("AudioWAV/1001_DFA_ANG_XX", "cremad_1001", "", "anger", "ANG"),
        ("AudioWAV/1091_IEO_HAP_HI", "cremad_1091", "", "happiness", "HAP"),
    ]


def test_user_csv_resolves_relative_paths_and_aliases(tmp_path):
    write_wav(tmp_path / "clips/one.wav")
    elsewhere = write_wav(tmp_path / "other/two.wav")
    listing = tmp_path / "corpus.csv"
    listing.write_text(
        "path,speaker,label,language,gender\n"
        f"clips/one.wav,s1,Happy,en,female\n"
        f"{elsewhere},s2,anger,fr,\n"
    )
    table = build_manifest("csv", listing)
    assert described(table) == [
        ("clips/one", "csv_s1", "female", "happiness", "happy"),
        ("other/two", "csv_s2", "", "anger", "anger"),
    ]
    assert list(table["language"]) == ["en", "fr"]
    assert list(table["text"]) == ["", ""]  # no text column
    assert table.iloc[0]["path"] == str(tmp_path / "clips/one.wav")


def test_user_csv_optional_text_column(tmp_path):
    write_wav(tmp_path / "clips/one.wav")
    write_wav(tmp_path / "clips/two.wav")
    listing = tmp_path / "corpus.csv"
    listing.write_text("path,speaker,label,language,text\n"
                       "clips/one.wav,s1,anger,en, s07 \n"
                       "clips/two.wav,s2,anger,en,\n")
    assert texts(build_manifest("csv", listing)) == {"clips/one": "s07", "clips/two": ""}


def test_synthetic_text_is_language_and_sentence(tmp_path):
    root = make_tree(tmp_path, ["de/de_m1/de_m1_anger_02.wav", "fr/fr_f2/fr_f2_sadness_02.wav",
                                "fr/fr_f2/fr_f2_sadness_03.wav"])
    (root / "VERSION.json").write_text("{}")
    table = build_manifest("synthetic", root)
    assert texts(table) == {"de/de_m1/de_m1_anger_02": "de_02",
                            "fr/fr_f2/fr_f2_sadness_02": "fr_02",
                            "fr/fr_f2/fr_f2_sadness_03": "fr_03"}


def test_user_csv_missing_columns(tmp_path):
    listing = tmp_path / "corpus.csv"
    listing.write_text("path,label\na.wav,anger\n")
    with pytest.raises(SerlibError, match="corpus.csv lacks the column.s. speaker, language"):
        build_manifest("csv", listing)


def test_registry_lists_every_corpus_with_canonical_labels():
    assert corpus_names() == ["emodb", "shemo", "aesdd", "emovo", "cafe", "ravdess", "iemocap",
                              "iemocap_full", "cremad", "synthetic", "csv", "audiofolder"]
    for name in corpus_names():
        corpus = get_corpus(name)
        assert corpus.name == name
        assert set(corpus.label_codes.values()) <= set(CANONICAL_LABELS)


def test_unknown_corpus_lists_known_names():
    with pytest.raises(SerlibError, match="unknown corpus 'emodbb'; known corpora: emodb, shemo"):
        get_corpus("emodbb")


def test_missing_root(tmp_path):
    with pytest.raises(SerlibError, match=r"emodb root .*absent does not exist.*wav/03a01Fa.wav"):
        build_manifest("emodb", tmp_path / "absent")


def test_empty_root(tmp_path):
    with pytest.raises(SerlibError, match=r"no emodb audio files found .*e.g. wav/03a01Fa.wav"):
        build_manifest("emodb", tmp_path)


def test_wrongly_named_file_is_reported_or_skipped_with_warning(tmp_path, caplog):
    root = make_tree(tmp_path, ["wav/03a01Fa.wav", "wav/recording 7.wav", "wav/3a01Fa.wav"])
    with pytest.raises(SerlibError) as error:
        build_manifest("emodb", root)
    message = str(error.value)
    assert "2 audio file(s)" in message
    assert "recording 7.wav" in message and "3a01Fa.wav" in message
    assert "--skip-nonconforming" in message
    with caplog.at_level(logging.WARNING):
        table = build_manifest("emodb", root, strict=False)
    assert list(table["utterance_id"]) == ["wav/03a01Fa"]
    assert "skipped 2 audio file(s)" in caplog.text


def test_unknown_label_code(tmp_path):
    root = make_tree(tmp_path, ["wav/03a01Fa.wav", "wav/03a01Xa.wav"])
    expected = r"03a01Xa.wav: unknown emodb label code 'X'; known codes: W, L"
    with pytest.raises(SerlibError, match=expected):
        build_manifest("emodb", root)


def test_corrupt_audio_in_corpus_is_named(tmp_path):
    root = make_tree(tmp_path, ["wav/03a01Fa.wav"])
    (root / "wav/03a01Wa.wav").write_bytes(b"")
    with pytest.raises(SerlibError, match=r"cannot read audio file .*03a01Wa.wav"):
        build_manifest("emodb", root)


def test_manifest_round_trip(tmp_path):
    root = make_tree(tmp_path / "corpus", ["female/F01A01.wav", "male/M01N03.wav"])
    table = build_manifest("shemo", root)
    path = write_manifest(table, tmp_path / "out/shemo.csv")
    assert path.read_text().splitlines()[0] == ",".join(MANIFEST_COLUMNS)
    pd.testing.assert_frame_equal(read_manifest(path), table, check_dtype=False)


def test_manifest_text_codes_stay_text(tmp_path):
    root = make_tree(tmp_path / "corpus", ["Actor_01/03-01-05-01-01-01-01.wav",
                                           "Actor_01/03-01-05-01-02-01-01.wav"])
    path = write_manifest(build_manifest("ravdess", root), tmp_path / "ravdess.csv")
    assert list(read_manifest(path)["text"]) == ["01", "02"]  # not the numbers 1 and 2


def test_manifest_without_text_column_reads_and_writes_with_empty_text(tmp_path):
    root = make_tree(tmp_path / "corpus", ["wav/03a01Fa.wav", "wav/08b02Wb.wav"])
    table = build_manifest("emodb", root).drop(columns="text")
    old = tmp_path / "old.csv"
    table.to_csv(old, index=False)  # a manifest written before the text column existed
    assert list(read_manifest(old)["text"]) == ["", ""]
    written = write_manifest(table, tmp_path / "new.csv")
    assert list(read_manifest(written)["text"]) == ["", ""]
    assert written.read_text().splitlines()[0].endswith(",text")


@pytest.mark.real
def test_real_emodb(shared_dir):
    table = build_manifest("emodb", shared_dir / "data/emodb-2s")
    assert len(table) == 535
    assert table["speaker"].nunique() == 10
    assert table["label_code"].value_counts().to_dict() == {
        "W": 127, "L": 81, "N": 79, "F": 71, "A": 69, "T": 62, "E": 46}
    assert table["label"].value_counts().to_dict() == {
        "anger": 127, "boredom": 81, "neutral": 79, "happiness": 71, "fear": 69,
        "sadness": 62, "disgust": 46}
    assert set(table["sample_rate"]) == {22050}
    assert table["duration_s"].tolist() == [2.0] * 535
    assert table["text"].value_counts().sort_index().to_dict() == {
        "a01": 49, "a02": 60, "a04": 51, "a05": 62, "a07": 55,
        "b01": 51, "b02": 51, "b03": 52, "b09": 52, "b10": 52}
