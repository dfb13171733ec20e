"""Fault suite (fast part): a few unusual inputs through `serlib extract` itself (in process,
so torch is imported once): each run succeeds, or stops with one line naming the file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from conftest import write_wav
from faults.extraction_runs import STORE, extract_in_process
from serlib.features.store import load_pooled


def clip(folder: Path, name: str, samples: np.ndarray, rate: int = 16000, **options) -> Path:
    path = folder / "audio" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples, rate, **options)
    return path


def manifest_of(folder: Path, paths: list[Path], relative: bool = False) -> Path:
    rows = [{"utterance_id": f"u{number}", "corpus": "tiny",
             "path": str(path.relative_to(folder)) if relative else str(path)}
            for number, path in enumerate(paths)]
    pd.DataFrame(rows).to_csv(folder / "tiny.csv", index=False)
    return folder / "tiny.csv"


REFUSED = {
    "nan-samples": (lambda tmp: clip(tmp, "nan clip.wav", np.full(4000, np.nan), subtype="FLOAT"),
                    "contains NaN or infinite samples"),
    "10-ms-clip": (lambda tmp: clip(tmp, "tiny.wav", np.full(160, 0.1)),
                   "lasts 0.010 s, shorter than the minimum 0.05 s"),
    "zero-byte-file": (lambda tmp: (tmp / "audio").mkdir(exist_ok=True) or
                       (tmp / "audio" / "zero.wav").write_bytes(b"") or tmp / "audio" / "zero.wav",
                       "cannot read audio file"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_clip_stops_extraction_with_one_line_naming_it(tmp_path, capsys, case):
    build, expected = REFUSED[case]
    good = write_wav(tmp_path / "audio" / "good.wav", 0.3)
    bad = build(tmp_path)
    status = extract_in_process(manifest_of(tmp_path, [good, bad]), tmp_path / "out")
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("serlib extract: error: ") and str(bad) in err and expected in err
    assert not (tmp_path / "out" / STORE / "index.json").exists()


def test_silent_clip_and_relative_paths_extract_with_a_warning(tmp_path, caplog):
    paths = [write_wav(tmp_path / "audio" / "tone é.wav", 0.3),
             clip(tmp_path, "silent.wav", np.zeros(4800), 48000, subtype="PCM_24")]
    manifest = manifest_of(tmp_path, paths, relative=True)
    with caplog.at_level(logging.WARNING, logger="serlib.data.audio"):
        assert extract_in_process(manifest, tmp_path / "out") == 0
    assert "silent.wav is all silent" in caplog.text
    pooled, ids, index = load_pooled(tmp_path / "out" / STORE)
    assert ids == ["u0", "u1"] and np.isfinite(pooled).all()
    assert not np.allclose(pooled[0], pooled[1])  # the tone and the silence differ
