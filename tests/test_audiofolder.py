"""`serlib manifest audiofolder`: a Hugging Face audio folder read with the datasets library."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import write_wav

from serlib import cli
from serlib.common.errors import SerlibError
from serlib.data.corpora import build_manifest
from serlib.data.corpora.audiofolder import audiofolder_corpus, read_label_map

CLIPS = [  # file_name, emotion, speaker
    ("clips/a1.wav", "angry", "s1"),
    ("clips/a2.wav", "joyful", "s2"),
    ("clips/b1.wav", "neutral", "s1"),
    ("clips/b2.wav", "Weary", "s2"),
]


def make_audiofolder(root, metadata="csv"):
    for file_name, _, _ in CLIPS:
        write_wav(root / file_name, seconds=0.5)
    records = [{"file_name": f, "emotion": e, "speaker": s} for f, e, s in CLIPS]
    if metadata == "csv":
        pd.DataFrame(records).to_csv(root / "metadata.csv", index=False)
    else:
        (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root


@pytest.mark.parametrize("metadata", ["csv", "jsonl"])
def test_audiofolder_command_maps_labels_through_the_user_map(tmp_path, capsys, metadata):
    root = make_audiofolder(tmp_path / "corpus", metadata)
    (tmp_path / "map.yaml").write_text("joyful: happiness\nWeary: boredom\n")
    output = tmp_path / "manifest.csv"
    assert cli.main(["manifest", "audiofolder", str(root), "--label-column", "emotion",
                     "--speaker-column", "speaker", "--label-map", str(tmp_path / "map.yaml"),
                     "--language", "EN", "-o", str(output)]) == 0
    assert capsys.readouterr().out.startswith(f"{output}: 4 utterances, 2 speakers, labels: ")
    table = pd.read_csv(output, keep_default_na=False).set_index("utterance_id")
    assert table["label"].to_dict() == {"clips/a1": "anger", "clips/a2": "happiness",
                                        "clips/b1": "neutral", "clips/b2": "boredom"}
    assert table["label_code"].to_dict()["clips/b2"] == "weary"
    assert set(table["speaker"]) == {"audiofolder_s1", "audiofolder_s2"}
    assert set(table["language"]) == {"en"} and set(table["duration_s"]) == {0.5}


def test_unmapped_labels_are_refused_with_the_list(tmp_path):
    root = make_audiofolder(tmp_path / "corpus", "jsonl")
    corpus = audiofolder_corpus(label_column="emotion", speaker_column="speaker", language="en")
    with pytest.raises(SerlibError, match=r"label\(s\) that map to no canonical label: joyful, "
                                          r"weary\. Map them .*--label-map"):
        build_manifest(corpus, root)
    with pytest.raises(SerlibError, match=r"no column 'mood' \(given as --label-column\); its "
                                          r"columns: emotion, speaker"):
        build_manifest(audiofolder_corpus(label_column="mood"), root)


def test_label_map_values_must_be_canonical(tmp_path):
    (tmp_path / "map.yaml").write_text("joyful: joy\nweary: tired\n")
    with pytest.raises(SerlibError, match=r"maps to joy, tired, which are not canonical labels"):
        read_label_map(tmp_path / "map.yaml")


def test_folder_names_give_the_label_without_metadata(tmp_path):
    for name in ("anger/x1.wav", "anger/x2.wav", "sad/y1.wav"):
        write_wav(tmp_path / "corpus" / name)
    table = build_manifest(audiofolder_corpus(language="de"), tmp_path / "corpus")
    assert table.set_index("utterance_id")["label"].to_dict() == {
        "anger/x1": "anger", "anger/x2": "anger", "sad/y1": "sadness"}
    assert set(table["speaker"]) == {"audiofolder_unknown"}


def test_audiofolder_options_only_apply_to_audiofolder(tmp_path, capsys):
    assert cli.main(["manifest", "emodb", str(tmp_path), "--label-column", "x",
                     "-o", str(tmp_path / "m.csv")]) == 2
    assert "--label-column only apply to the corpus 'audiofolder'" in capsys.readouterr().err
