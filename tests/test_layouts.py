"""The paper rehearsal's generated corpora: each tree is read by its corpus's own reader."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from serlib.common.errors import SerlibError
from serlib.common.memory import PeakMemory
from serlib.data.corpora import build_manifest
from serlib.data.layouts import LAYOUTS, RECORD_NAME, write_layout_corpus
from serlib.study import plan
from serlib.study.config import load_config

RATES = {"emodb": 16000, "shemo": 44100, "aesdd": 44100, "emovo": 48000, "cafe": 48000,
         "ravdess": 48000, "iemocap": 16000}


@pytest.mark.parametrize("corpus", sorted(LAYOUTS))
def test_each_generated_tree_is_read_by_its_corpus_reader(corpus, tmp_path):
    root = write_layout_corpus(corpus, tmp_path / corpus)
    manifest = build_manifest(corpus, root)
    assert len(manifest) == 24 and manifest["speaker"].nunique() == 4
    assert manifest["label"].value_counts().to_dict() == {"anger": 8, "happiness": 8, "sadness": 8}
    assert set(manifest["sample_rate"]) == {RATES[corpus]}
    longest = 30.0 if corpus == "iemocap" else 3.0
    assert manifest["duration_s"].max() == pytest.approx(longest)
    # every audio file the generator wrote is in the manifest
    assert len([p for p in root.rglob("*.wav")]) == 24


def test_a_written_tree_is_reused_and_a_foreign_folder_refused(tmp_path):
    root = write_layout_corpus("emodb", tmp_path / "emodb")
    first = (root / "wav" / "03a01Wa.wav").read_bytes()
    assert write_layout_corpus("emodb", root) == root
    assert (root / "wav" / "03a01Wa.wav").read_bytes() == first
    samples, rate = soundfile.read(root / "wav" / "03a01Wa.wav")
    assert rate == 16000 and len(samples) == 16000 and 0.5 < np.abs(samples).max() < 0.7
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my own corpus")
    with pytest.raises(SerlibError, match=f"holds no {RECORD_NAME}.*refusing to replace it"):
        write_layout_corpus("emodb", tmp_path / "mine")
    with pytest.raises(SerlibError, match="no generated layout for corpus 'cremad'"):
        write_layout_corpus("cremad", tmp_path / "cremad")


def test_the_rehearsal_profile_plans_from_the_generated_sizes(monkeypatch, tmp_path):
    monkeypatch.setenv("SERLIB_REHEARSAL_ROOT", str(tmp_path))
    config = load_config("paper-rehearsal")
    assert [spec.generate for spec in config.corpora] == ["layout"] * 7
    assert {model.source for model in config.models if model.source.startswith("random:")} == {
        "random:wav2vec2-base", "random:wav2vec2-large", "random:wav2vec2-large-960h",
        "random:xlsr-53", "random:xls-r-300m", "random:hubert-base", "random:hubert-large",
        "random:hubert-large-ft"}
    iemocap = plan.corpus_size(config, "iemocap")
    assert (iemocap.utterances, iemocap.max_seconds) == (24, 30.0)
    assert iemocap.total_seconds == pytest.approx(30 + 20 + 6 * (1 + 1.5 + 2 + 3) - (1 + 1.5))


def test_generate_needs_a_root_and_a_known_value(tmp_path):
    profile = tmp_path / "bad.yaml"
    profile.write_text("profile: bad\ncorpora:\n  - {name: emodb, generate: layout}\nmodels: [acoustic:mfcc]\n")
    with pytest.raises(SerlibError, match="has generate: layout but no root"):
        load_config(profile)
    profile.write_text("profile: bad\ncorpora:\n  - {name: emodb, root: x, generate: copy}\n"
                       "models: [acoustic:mfcc]\n")
    with pytest.raises(SerlibError, match="the only value is 'layout'"):
        load_config(profile)


def test_peak_memory_sees_an_allocation():
    with PeakMemory() as idle:
        pass
    with PeakMemory() as busy:
        block = np.ones((64, 1024, 1024))  # 512 MiB
        block.sum()
        del block
    assert busy.peak_bytes - idle.peak_bytes > 400 * 2**20
