"""`serlib manifest` and `serlib split` from the command line."""

from __future__ import annotations

import logging
import subprocess
import sys

import pandas as pd
import pytest
from conftest import write_wav

from serlib import cli
from serlib.data.corpora import MANIFEST_COLUMNS


def make_emodb(root):
    for name in ("03a01Fa", "03a02Wa", "08a01Fa", "08a02Wb", "09b01Fa", "09b02Wc"):
        write_wav(root / "wav" / f"{name}.wav")
    return root


def test_manifest_command_writes_csv_and_summary(tmp_path, capsys):
    root = make_emodb(tmp_path / "emodb")
    output = tmp_path / "out" / "emodb.csv"
    assert cli.main(["manifest", "emodb", str(root), "-o", str(output)]) == 0
    assert capsys.readouterr().out == (
        f"{output}: 6 utterances, 3 speakers, labels: happiness 3, anger 3\n"
    )
    table = pd.read_csv(output)
    assert list(table.columns) == list(MANIFEST_COLUMNS)
    assert list(table["utterance_id"]) == [
        "wav/03a01Fa", "wav/03a02Wa", "wav/08a01Fa", "wav/08a02Wb", "wav/09b01Fa", "wav/09b02Wc"]


def test_manifest_command_unknown_corpus_exits_2(tmp_path, capsys):
    code = cli.main(["manifest", "emodbb", str(tmp_path), "-o", str(tmp_path / "m.csv")])
    assert code == 2
    assert capsys.readouterr().err.startswith(
        "serlib manifest: error: unknown corpus 'emodbb'; known corpora: emodb, shemo")
    assert not (tmp_path / "m.csv").exists()


def test_manifest_command_skip_nonconforming(tmp_path, capsys, caplog):
    root = make_emodb(tmp_path / "emodb")
    write_wav(root / "wav" / "take 2.wav")
    output = tmp_path / "m.csv"
    assert cli.main(["manifest", "emodb", str(root), "-o", str(output)]) == 2
    assert "do not follow the emodb layout" in capsys.readouterr().err
    with caplog.at_level(logging.WARNING):
        assert cli.main(["manifest", "emodb", str(root), "-o", str(output),
                         "--skip-nonconforming"]) == 0
    assert "skipped 1 audio file(s)" in caplog.text
    assert len(pd.read_csv(output)) == 6


def test_split_command_writes_next_to_manifest_and_reuses(tmp_path, capsys):
    root = make_emodb(tmp_path / "emodb")
    manifest = tmp_path / "emodb.csv"
    cli.main(["manifest", "emodb", str(root), "-o", str(manifest)])
    capsys.readouterr()
    assert cli.main(["split", str(manifest), "--protocol", "speaker", "--seed", "1"]) == 0
    split_file = tmp_path / "emodb.split-speaker-seed1.csv"
    first_run = capsys.readouterr().out
    assert first_run == (
        f"{split_file}: 1 fold(s); per fold on average: train 2 (1.0 speakers), "
        "dev 2 (1.0 speakers), test 2 (1.0 speakers)\n"
    )
    written = split_file.read_bytes()
    assert cli.main(["split", str(manifest), "--protocol", "speaker", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first_run
    assert split_file.read_bytes() == written
    assert cli.main(["split", str(manifest), "--protocol", "speaker-cv"]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'emodb.split-speaker-cv-seed0.csv'}: 3 fold(s)")


def test_split_command_missing_manifest(tmp_path, capsys):
    assert cli.main(["split", str(tmp_path / "absent.csv")]) == 2
    assert "absent.csv does not exist; create it with 'serlib manifest" in capsys.readouterr().err


@pytest.mark.real
def test_real_emodb_manifest_via_subprocess(shared_dir, tmp_path):
    output = tmp_path / "m.csv"
    result = subprocess.run(
        [sys.executable, "-m", "serlib", "manifest", "emodb",
         str(shared_dir / "data/emodb-2s"), "-o", str(output)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{output}: 535 utterances, 10 speakers, labels: anger 127, boredom 81, neutral 79, "
        "happiness 71, fear 69, sadness 62, disgust 46\n"
    )
    assert len(pd.read_csv(output)) == 535
