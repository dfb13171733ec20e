"""Fault suite (fast part): unusual corpus CSVs, EmoDB trees and manifests through
`serlib manifest` and the extraction's manifest check.

Each case is handled correctly or stopped with one ``serlib <command>: error: ...`` line that
names the file and the fix (exit status 2), never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_wav
from serlib.cli.main import main
from serlib.common.errors import SerlibError
from serlib.features.runs import read_manifest as read_extraction_manifest


def corpus_csv(tmp_path: Path, text: str, encoding: str = "utf-8", clips=("a.wav", "b.wav")) -> Path:
    for offset, name in enumerate(clips):
        write_wav(tmp_path / "audio" / name, 0.3, frequency=300 + 50 * offset)
    path = tmp_path / "corpus.csv"
    path.write_bytes(text.encode(encoding))
    return path


GOOD_ROWS = "audio/a.wav,s1,happy,en\naudio/b.wav,s2,anger,en\n"

# name -> (CSV text, encoding, regex of the error or None when it must succeed)
CSV_CASES = {
    "relative-paths": ("path,speaker,label,language\n" + GOOD_ROWS, "utf-8", None),
    "utf8-bom-header": ("\ufeffpath,speaker,label,language\n" + GOOD_ROWS, "utf-8", None),
    "columns-in-other-order-and-case": (
        " Language ,Label,Speaker,PATH\nen,happy,s1,audio/a.wav\nen,anger,s2,audio/b.wav\n",
        "utf-8", None),
    "crlf-line-ends": ("path,speaker,label,language\r\n" + GOOD_ROWS.replace("\n", "\r\n"),
                       "utf-8", None),
    "missing-label-column": ("path,speaker,language\naudio/a.wav,s1,en\n", "utf-8",
                             r"lacks the column\(s\) label"),
    "missing-path-column": ("file,speaker,label,language\naudio/a.wav,s1,happy,en\n", "utf-8",
                            r"lacks the column\(s\) path"),
    "missing-speaker-and-language": ("path,label\naudio/a.wav,happy\n", "utf-8",
                                     r"lacks the column\(s\) speaker, language"),
    "header-only": ("path,speaker,label,language\n", "utf-8", "no csv audio files found"),
    "empty-file": ("", "utf-8", "cannot read corpus CSV"),
    "latin1-encoded": ("path,speaker,label,language\naudio/a.wav,s\xe9,happy,en\n", "latin-1",
                       "save it as UTF-8"),
    "duplicate-rows": ("path,speaker,label,language\n" + GOOD_ROWS + "audio/a.wav,s1,happy,en\n",
                       "utf-8", "more than once"),
    "same-file-two-spellings": ("path,speaker,label,language\n" + GOOD_ROWS
                                + "audio/../audio/a.wav,s1,happy,en\n", "utf-8", "more than once"),
    "missing-audio-file": ("path,speaker,label,language\n" + GOOD_ROWS + "audio/c.wav,s1,sad,en\n",
                           "utf-8", "c.wav does not exist"),
    "empty-path-cell": ("path,speaker,label,language\n" + GOOD_ROWS + ",s1,sad,en\n", "utf-8",
                        "line 4: empty path"),
    "unknown-label": ("path,speaker,label,language\naudio/a.wav,s1,hungry,en\n", "utf-8",
                      "unknown csv label code 'hungry'"),
    "empty-speaker": ("path,speaker,label,language\naudio/a.wav,,happy,en\n", "utf-8",
                      "no speaker given"),
    "bad-gender": ("path,speaker,label,language,gender\naudio/a.wav,s1,happy,en,x\n", "utf-8",
                   "gender 'x'"),
    "ragged-row": ("path,speaker,label,language\naudio/a.wav,s1,happy,en,extra,cells\n", "utf-8",
                   "cannot read corpus CSV"),
    "folder-instead-of-file": ("path,speaker,label,language\naudio,s1,happy,en\n", "utf-8",
                               "is a folder"),
}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_corpus_csv_cases_through_serlib_manifest(tmp_path, capsys, case):
    text, encoding, error = CSV_CASES[case]
    csv_path = corpus_csv(tmp_path, text, encoding)
    out = tmp_path / "manifest.csv"
    status, stdout, stderr = run_cli(capsys, "manifest", "csv", str(csv_path), "-o", str(out))
    if error is None:
        assert (status, stderr) == (0, "")
        table = pd.read_csv(out)
        assert table["utterance_id"].tolist() == ["audio/a", "audio/b"]
        assert table["label"].tolist() == ["happiness", "anger"]
        assert all(Path(path).is_absolute() and Path(path).is_file() for path in table["path"])
        assert table["duration_s"].tolist() == pytest.approx([0.3, 0.3])
    else:
        assert status == 2 and stdout == "" and not out.exists()
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert stderr.startswith("serlib manifest: error: ")
        assert pytest.importorskip("re").search(error, stderr), stderr
        assert str(tmp_path) in stderr  # names the CSV or the audio file


EMODB_CASES = {
    # name -> (files under root: relative path -> seconds or raw bytes, regex or None)
    "well-formed": ({"wav/03a01Fa.wav": 0.3, "wav/08b02Wb.wav": 0.3}, None),
    "upper-case-suffix": ({"wav/03a01Fa.WAV": 0.3}, None),
    "macos-appledouble-ignored": ({"wav/03a01Fa.wav": 0.3, "wav/._03a01Fa.wav": b"\x00\x05\x16"},
                                  None),
    "nonconforming-name": ({"wav/03a01Fa.wav": 0.3, "wav/my clip.wav": 0.3},
                           "do not follow the emodb layout.*my clip.wav"),
    "unknown-emotion-letter": ({"wav/03a01Qa.wav": 0.3}, "unknown emodb label code 'Q'"),
    "stray-folder": ({"wav/03a01Fa.wav": 0.3, "extra/03a01Wa.wav": 0.3},
                     "do not follow the emodb layout.*extra/03a01Wa.wav"),
    "no-wav-folder": ({"03a01Fa.wav": 0.3}, "do not follow the emodb layout"),
    "zero-byte-clip": ({"wav/03a01Fa.wav": b""}, "cannot read audio file .*03a01Fa.wav"),
    "truncated-header": ({"wav/03a01Fa.wav": b"RIFF\x24\x00\x00\x00WAVEfmt "},
                         "cannot read audio file .*03a01Fa.wav"),
    "empty-root": ({}, "no emodb audio files found"),
}


@pytest.mark.parametrize("case", sorted(EMODB_CASES))
def test_emodb_trees_through_serlib_manifest(tmp_path, capsys, case):
    files, error = EMODB_CASES[case]
    root = tmp_path / "emodb"
    root.mkdir()
    for relative, content in files.items():
        if isinstance(content, bytes):
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(content)
        else:
            write_wav(root / relative, content)
    out = tmp_path / "manifest.csv"
    status, stdout, stderr = run_cli(capsys, "manifest", "emodb", str(root), "-o", str(out))
    if error is None:
        assert (status, stderr) == (0, "")
        table = pd.read_csv(out)
        expected = sum(1 for name in files if not Path(name).name.startswith("."))
        assert len(table) == expected and set(table["corpus"]) == {"emodb"}
    else:
        assert status == 2 and not out.exists()
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert pytest.importorskip("re").search(error, stderr), stderr


def extraction_manifest(tmp_path: Path, rows: list[dict] | str) -> Path:
    path = tmp_path / "lists" / "manifest.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(rows, str):
        path.write_text(rows)
    else:
        pd.DataFrame(rows).to_csv(path, index=False)
    return path


MANIFEST_CASES = {
    "no-path-column": ([{"utterance_id": "a", "file": "x.wav"}], r"lacks the column\(s\) \['path'\]"),
    "no-id-column": ([{"path": "x.wav"}], r"lacks the column\(s\) \['utterance_id'\]"),
    "duplicate-ids": ([{"utterance_id": "a", "path": "a.wav"}, {"utterance_id": "a",
                       "path": "b.wav"}], "repeats utterance_id 'a'"),
    "empty-path": ([{"utterance_id": "a", "path": "../audio/a.wav"},
                    {"utterance_id": "b", "path": None}], "row 2.*no path"),
    "empty-id": ([{"utterance_id": None, "path": "../audio/a.wav"}], "row 1.*no utterance_id"),
    "non-numeric-duration": ([{"utterance_id": "a", "path": "../audio/a.wav",
                               "duration_s": "long"}], "duration_s"),
    "not-a-csv": ("\x00\x01\x02 binary \xff", "cannot read manifest"),
    "empty-file": ("", "cannot read manifest"),
    "header-only": ("utterance_id,path\n", "has no rows"),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_CASES))
def test_extraction_manifest_problems_are_named(tmp_path, case):
    rows, error = MANIFEST_CASES[case]
    write_wav(tmp_path / "audio" / "a.wav")
    path = extraction_manifest(tmp_path, rows)
    with pytest.raises(SerlibError, match=error) as raised:
        read_extraction_manifest(path)
    assert str(path) in str(raised.value)


def test_relative_paths_in_a_manifest_are_read_from_the_manifests_folder(tmp_path, monkeypatch):
    write_wav(tmp_path / "audio" / "a.wav")
    path = extraction_manifest(tmp_path, [{"utterance_id": "a", "path": "../audio/a.wav"}])
    monkeypatch.chdir(tmp_path / "audio")  # elsewhere: the path must not depend on the cwd
    table, _ = read_extraction_manifest(path)
    assert table["path"].tolist() == [str(tmp_path / "audio" / "a.wav")]
    assert os.path.isfile(table["path"].iloc[0])
