"""No corpus reader drops an audio file silently, and CaFE reads as its archive really unzips.

For every corpus: every audio file under the root ends up in the manifest, or is named in the
error (strict) and in the skip report (``--skip-nonconforming``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from conftest import write_wav

from serlib.common.errors import SerlibError
from serlib.data.corpora import build_manifest

VALID_TREES = {
    "emodb": ["wav/03a01Fa.wav", "wav/08b02Wb.wav"],
    "shemo": ["female/F01A01.wav", "male/M01N03.wav"],
    "aesdd": ["Anger/a01 (1).wav", "sadness/s03 (5).wav"],
    "emovo": ["f1/dis-f1-b1.wav", "m3/gio-m3-n5.wav"],
    "cafe": ["Colère/Faible/01-C-1-1.wav", "Neutre/12-N-1-6.wav"],
    "ravdess": ["Actor_01/03-01-05-01-01-01-01.wav", "Actor_02/03-01-02-02-02-02-02.wav"],
    "cremad": ["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1091_IEO_HAP_HI.wav"],
    "synthetic": ["de/de_m1/de_m1_anger_01.wav", "en/en_f1/en_f1_neutral_02.wav"],
}
#: Audio that no layout places: a stray name, a file at the root, a folder the layout lacks.
STRAYS = ["notes/take 2.wav", "stray.WAV", "extra/deeper/Copy of clip.wav"]


def make_corpus(corpus: str, root: Path) -> Path:
    if corpus == "iemocap":
        dialog = root / "Session1/sentences/wav/Ses01F_impro01"
        write_wav(dialog / "Ses01F_impro01_F000.wav")
        evaluation = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
        evaluation.parent.mkdir(parents=True)
        evaluation.write_text("[0.5 - 0.9]\tSes01F_impro01_F000\tneu\t[2.5, 3.0, 3.5]\n")
        return root
    for relative in VALID_TREES[corpus]:
        write_wav(root / relative)
    if corpus == "synthetic":
        (root / "VERSION.json").write_text(json.dumps({"corpus": "synthetic"}))
    return root


def all_audio(root: Path) -> set[str]:
    return {os.path.abspath(path) for path in root.rglob("*") if path.suffix.lower() == ".wav"}


@pytest.mark.parametrize("corpus", [*VALID_TREES, "iemocap"])
def test_every_audio_file_is_in_the_manifest_or_named(corpus, tmp_path):
    root = make_corpus(corpus, tmp_path / corpus)
    for relative in STRAYS:
        write_wav(root / relative)
    with pytest.raises(SerlibError) as raised:
        build_manifest(corpus, root)
    assert f"{len(STRAYS)} audio file(s)" in str(raised.value)
    for relative in STRAYS:
        assert str(root / relative) in str(raised.value)
    table = build_manifest(corpus, root, strict=False)
    listed = set(table["path"])
    skipped = set(table.attrs["skipped"])
    assert listed | skipped == all_audio(root) and not listed & skipped
    assert skipped == {str(root / relative) for relative in STRAYS}


def test_every_row_of_a_user_csv_is_in_the_manifest_or_named(tmp_path):
    write_wav(tmp_path / "clips/one.wav")
    corpus_csv = tmp_path / "corpus.csv"
    corpus_csv.write_text("path,speaker,label,language\nclips/one.wav,s1,happy,en\n"
                          "clips/missing.wav,s2,sad,en\n")
    with pytest.raises(SerlibError, match="missing.wav"):
        build_manifest("csv", corpus_csv)
    corpus_csv.write_text("path,speaker,label,language\nclips/one.wav,s1,happy,en\n")
    assert list(build_manifest("csv", corpus_csv)["path"]) == [str(tmp_path / "clips/one.wav")]


EMOTION_FOLDERS = {"C": "Colère", "D": "Dégoût", "J": "Joie", "N": "Neutre", "P": "Peur",
                   "S": "Surprise", "T": "Tristesse"}
LABELS = {"C": "anger", "D": "disgust", "J": "happiness", "N": "neutral", "P": "fear",
          "S": "surprise", "T": "sadness"}


def write_wav_at_bytes_path(path: bytes) -> None:
    """A tone at a path whose bytes may not be UTF-8 (written elsewhere, then renamed)."""
    with open(write_wav(Path(tempfile.mkdtemp()) / "tone.wav"), "rb") as tone:
        Path(os.fsdecode(path)).write_bytes(tone.read())


def cafe_tree(root: Path, folder_bytes) -> dict[str, str]:
    """A CaFE tree whose folder names are ``folder_bytes(name)``; returns path -> label."""
    expected = {}
    for actor, (code, folder) in enumerate(EMOTION_FOLDERS.items(), start=1):
        intensities = [("", 1)] if code == "N" else [("Faible", 1), ("Fort", 2)]
        for intensity_folder, intensity in intensities:
            parts = [os.fsencode(root), folder_bytes(folder)]
            if intensity_folder:
                parts.append(folder_bytes(intensity_folder))
            name = f"{actor:02d}-{code}-{intensity}-{actor % 6 + 1}.wav".encode()
            path = os.path.join(*parts, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_wav_at_bytes_path(path)
            expected[os.fsdecode(path)] = LABELS[code]
    return expected


@pytest.mark.parametrize("unzipped_as", ["cp850-shown-as-cp1252", "utf-8-nfd",
                                         "utf-8-shown-as-cp437"])
def test_cafe_as_it_really_unzips_gives_every_file_its_label(tmp_path, unzipped_as):
    import unicodedata

    encoders = {
        "cp437-bytes": lambda name: name.encode("cp437"),
        "cp850-bytes": lambda name: name.encode("cp850"),
        # 'ColŠre', 'D‚go–t': CP850 bytes displayed (and stored as UTF-8) through CP1252
        "cp850-shown-as-cp1252": lambda name: name.encode("cp850").decode("cp1252").encode(),
        "utf-8-nfd": lambda name: unicodedata.normalize("NFD", name).encode(),
        "utf-8-shown-as-cp437": lambda name: name.encode().decode("cp437").encode(),
    }
    expected = cafe_tree(tmp_path / "CaFE", encoders[unzipped_as])
    table = build_manifest("cafe", tmp_path / "CaFE")
    assert dict(zip(table["path"], table["label"])) == expected
    assert sorted(set(table["label"])) == sorted(LABELS.values())  # anger and disgust included
    assert len(table) == 13


@pytest.mark.parametrize("encoding", ["cp437", "cp850"])
def test_cafe_raw_code_page_bytes_are_placed_then_refused_with_the_fix(tmp_path, encoding):
    """Raw CP437/CP850 folder bytes: every file is placed by its name (nothing dropped), but a
    manifest CSV cannot hold a non-UTF-8 path, so the user is told how to convert the names."""
    from serlib.data.corpora.cafe import list_files

    expected = cafe_tree(tmp_path / "CaFE", lambda name: name.encode(encoding))
    listing = list_files(tmp_path / "CaFE")
    assert not listing.nonconforming
    labels = {os.fsdecode(os.fsencode(item.audio_path)): LABELS[item.label_code]
              for item in listing.files}
    assert labels == expected
    with pytest.raises(SerlibError, match="not valid UTF-8.*convmv -f cp850 -t utf-8"):
        build_manifest("cafe", tmp_path / "CaFE")


def test_cafe_mojibake_folder_contradicting_the_file_name_is_reported(tmp_path):
    path = os.path.join(os.fsencode(tmp_path), "Colère".encode("cp850"), b"Fort", b"01-D-2-1.wav")
    os.makedirs(os.path.dirname(path))
    write_wav_at_bytes_path(path)
    write_wav(tmp_path / "Dégoût" / "Faible" / "01-D-2-2.wav")  # intensity 2 in Faible
    write_wav(tmp_path / "Dégoût" / "Fort" / "01-D-2-3.wav")
    with pytest.raises(SerlibError, match=r"2 audio file\(s\)"):
        build_manifest("cafe", tmp_path)
    assert list(build_manifest("cafe", tmp_path, strict=False)["label"]) == ["disgust"]
