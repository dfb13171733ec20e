"""The synthetic stand-in corpus: determinism, layout, prosody rules, caching, parsing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from serlib.data import synthetic
from serlib.cli import main
from serlib.data.corpora.manifest import build_manifest
from serlib.data.corpora.synthetic import list_files
from serlib.common.errors import SerlibError

LANGUAGES = ("de", "fa")  # one Latin-script and one Arabic-script language keep the tests fast
CLIPS_PER_SPEAKER = 6 * 3  # emotions x sentences


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "corpus"
    result = synthetic.generate_synthetic_corpus(root, languages=LANGUAGES)
    assert result.generated and result.clips == 144
    return root


@pytest.fixture(scope="module")
def manifest(corpus_root: Path) -> pd.DataFrame:
    return pd.read_csv(corpus_root / synthetic.MANIFEST_NAME)


def wav_hashes(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*.wav"))}


def median_f0(samples: np.ndarray, sample_rate: int) -> float:
    """Median F0 (Hz) of the voiced 40 ms frames, from the normalised autocorrelation peak."""
    frame, hop = int(0.04 * sample_rate), int(0.01 * sample_rate)
    shortest, longest = sample_rate // 500, sample_rate // 60
    gate = 0.1 * np.sqrt(np.mean(samples**2))
    estimates = []
    for start in range(0, samples.size - frame, hop):
        window = samples[start:start + frame] - samples[start:start + frame].mean()
        if np.sqrt(np.mean(window**2)) < gate:
            continue
        autocorrelation = np.correlate(window, window, "full")[frame - 1:]
        autocorrelation = autocorrelation / autocorrelation[0]
        lag = shortest + int(np.argmax(autocorrelation[shortest:longest]))
        if autocorrelation[lag] > 0.5:
            estimates.append(sample_rate / lag)
    return float(np.median(estimates))  # the median ignores occasional octave errors


def prosody(root: Path, relative_path: str) -> tuple[float, float, float]:
    """(duration s, RMS, median F0 Hz) of one clip."""
    samples, sample_rate = soundfile.read(root / relative_path)
    return samples.size / sample_rate, float(np.sqrt(np.mean(samples**2))), median_f0(samples, sample_rate)


def test_counts_per_language_speaker_and_emotion(manifest: pd.DataFrame) -> None:
    assert len(manifest) == 144
    assert manifest.groupby("language").size().to_dict() == {"de": 72, "fa": 72}
    assert manifest.groupby("emotion").size().to_dict() == {
        "anger": 24, "boredom": 24, "fear": 24, "happiness": 24, "neutral": 24, "sadness": 24}
    assert sorted(manifest["speaker"].unique()) == [
        "de_f1", "de_f2", "de_m1", "de_m3", "fa_f1", "fa_f2", "fa_m1", "fa_m3"]
    assert set(manifest.groupby("speaker").size()) == {CLIPS_PER_SPEAKER}
    assert set(manifest["corpus"]) == {"synthetic"}


def test_clips_are_short_16khz_mono_pcm16(corpus_root: Path, manifest: pd.DataFrame) -> None:
    infos = [soundfile.info(str(corpus_root / path)) for path in manifest["path"]]
    assert {(info.samplerate, info.channels, info.subtype) for info in infos} == {(16000, 1, "PCM_16")}
    durations = np.array([info.frames / info.samplerate for info in infos])
    assert 0.7 < durations.min() and durations.max() < 2.7
    np.testing.assert_allclose(durations, manifest["duration_s"], atol=1e-4)


def test_version_file_records_parameters_hash_and_disclaimer(corpus_root: Path) -> None:
    version = synthetic.read_version(corpus_root)
    parameters = synthetic.corpus_parameters(list(LANGUAGES), list(synthetic.EMOTIONS))
    assert version["parameters_hash"] == synthetic.parameters_hash(parameters)
    assert version["clips"] == 144
    assert "synthetic stand-in speech" in version["note"]


def test_same_parameters_give_byte_identical_files(corpus_root: Path, tmp_path: Path) -> None:
    again = synthetic.generate_synthetic_corpus(tmp_path / "again", languages=LANGUAGES, workers=1)
    assert again.generated
    assert wav_hashes(tmp_path / "again") == wav_hashes(corpus_root)
    assert ((tmp_path / "again" / synthetic.MANIFEST_NAME).read_bytes()
            == (corpus_root / synthetic.MANIFEST_NAME).read_bytes())


def test_a_language_sounds_the_same_whatever_else_is_generated(corpus_root: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    assert main(["synth", str(tmp_path / "fa"), "--languages", "fa"]) == 0
    assert capsys.readouterr().out.startswith("72 synthetic stand-in clips generated in ")
    fa_only = wav_hashes(tmp_path / "fa")
    assert fa_only == {path: digest for path, digest in wav_hashes(corpus_root).items() if path.startswith("fa/")}


def test_anger_is_faster_louder_and_higher_than_sadness(corpus_root: Path, manifest: pd.DataFrame) -> None:
    for (speaker, sentence), clips in manifest.groupby(["speaker", "sentence"]):
        paths = clips.set_index("emotion")["path"]
        anger_duration, anger_rms, anger_f0 = prosody(corpus_root, paths["anger"])
        sad_duration, sad_rms, sad_f0 = prosody(corpus_root, paths["sadness"])
        assert anger_duration < 0.8 * sad_duration, (speaker, sentence)
        assert anger_rms > 2.0 * sad_rms, (speaker, sentence)
        assert anger_f0 > 1.3 * sad_f0, (speaker, sentence)


def test_fear_is_faster_and_higher_boredom_slower_and_lower_than_neutral(corpus_root: Path,
                                                                       manifest: pd.DataFrame) -> None:
    for (speaker, sentence), clips in manifest.groupby(["speaker", "sentence"]):
        paths = clips.set_index("emotion")["path"]
        neutral_duration, _, neutral_f0 = prosody(corpus_root, paths["neutral"])
        fear_duration, _, fear_f0 = prosody(corpus_root, paths["fear"])
        bored_duration, _, bored_f0 = prosody(corpus_root, paths["boredom"])
        assert fear_duration < 0.9 * neutral_duration and fear_f0 > 1.2 * neutral_f0, (speaker, sentence)
        assert bored_duration > 1.1 * neutral_duration and bored_f0 < 0.95 * neutral_f0, (speaker, sentence)


def test_prosodic_stats_separate_emotions_across_speakers(corpus_root: Path, manifest: pd.DataFrame) -> None:
    stats = np.array([prosody(corpus_root, path) for path in manifest["path"]])
    features = np.column_stack([stats[:, 0], np.log(stats[:, 1]), np.log(stats[:, 2])])
    variant = manifest["speaker"].str.split("_").str[1]  # leave one voice out, in both languages
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    accuracy = cross_val_score(classifier, features, manifest["emotion"], cv=LeaveOneGroupOut(),
                               groups=variant).mean()
    assert accuracy > 0.5  # chance is 1/6


def test_jitter_makes_repetitions_differ(manifest: pd.DataFrame) -> None:
    neutral_m1 = manifest[(manifest["speaker"] == "de_m1") & (manifest["emotion"] == "neutral")]
    assert neutral_m1["rate_wpm"].nunique() == 3
    assert manifest["seed"].nunique() == 144


def test_up_to_date_corpus_is_not_regenerated(corpus_root: Path) -> None:
    version_file = corpus_root / synthetic.VERSION_NAME
    clip = corpus_root / "de" / "de_m1" / "de_m1_anger_01.wav"
    before = (version_file.stat().st_mtime_ns, clip.stat().st_mtime_ns)
    result = synthetic.generate_synthetic_corpus(corpus_root, languages=LANGUAGES)
    assert not result.generated and result.clips == 144
    assert (version_file.stat().st_mtime_ns, clip.stat().st_mtime_ns) == before


def test_changed_parameters_replace_the_corpus(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    synthetic.generate_synthetic_corpus(root, languages=("fa",), emotions=("anger", "neutral"))
    result = synthetic.generate_synthetic_corpus(root, languages=("fa",), emotions=("sadness",))
    assert result.generated and result.clips == 12
    assert sorted(path.name for path in (root / "fa" / "fa_m1").iterdir()) == [
        "fa_m1_sadness_01.wav", "fa_m1_sadness_02.wav", "fa_m1_sadness_03.wav"]
    # no staging or retired folders left (the writer's lock file `.corpus.lock` stays, empty)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".corpus.lock", "corpus"]


def test_interrupted_generation_leaves_nothing_that_looks_complete(tmp_path: Path, monkeypatch) -> None:
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "_render_all", crash)
    with pytest.raises(KeyboardInterrupt):
        synthetic.generate_synthetic_corpus(tmp_path / "corpus", languages=("en",))
    assert [path.name for path in tmp_path.iterdir()] == [".corpus.lock"]  # the empty lock file only


def test_a_foreign_folder_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SerlibError, match="refusing to replace it"):
        synthetic.generate_synthetic_corpus(tmp_path, languages=("en",))
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_unknown_language_or_emotion_is_rejected() -> None:
    with pytest.raises(SerlibError, match="unknown or empty language choice"):
        synthetic.plan_clips(languages=("de", "xx"))
    with pytest.raises(SerlibError, match="unknown or empty emotion choice"):
        synthetic.plan_clips(emotions=("contempt",))


def test_voice_quality_keeps_level_and_moves_spectral_balance() -> None:
    sample_rate = 16000
    times = np.arange(sample_rate) / sample_rate
    vowel = sum(np.sin(2 * np.pi * 150 * k * times) / k for k in range(1, 30))

    def high_share(signal: np.ndarray) -> float:
        power = np.abs(np.fft.rfft(signal)) ** 2
        return float(power[2000:].sum() / power.sum())  # energy above 2 kHz (1 Hz bins)

    shaped = {quality: synthetic.apply_voice_quality(vowel, quality, np.random.default_rng(0), sample_rate)
              for quality in ("modal", "tense", "lax", "breathy")}
    for signal in shaped.values():
        assert np.sqrt(np.mean(signal**2)) == pytest.approx(np.sqrt(np.mean(vowel**2)), rel=1e-9)
    assert high_share(shaped["tense"]) > 2 * high_share(shaped["modal"])
    assert high_share(shaped["lax"]) < 0.5 * high_share(shaped["modal"])


def test_manifest_rows_from_the_layout(corpus_root: Path) -> None:
    table = build_manifest("synthetic", corpus_root)
    assert len(table) == 144
    row = table.set_index("utterance_id").loc["fa/fa_f2/fa_f2_fear_03"]
    assert (row["corpus"], row["language"], row["speaker"], row["gender"], row["label"], row["label_code"]) == (
        "synthetic", "fa", "synthetic_fa_f2", "female", "fear", "fear")
    assert row["sample_rate"] == 16000
    assert table.groupby(["language", "gender"]).size().to_dict() == {
        ("de", "female"): 36, ("de", "male"): 36, ("fa", "female"): 36, ("fa", "male"): 36}


def test_parser_refuses_a_folder_without_version_file(tmp_path: Path) -> None:
    with pytest.raises(SerlibError, match=r"serlib synth"):
        list_files(tmp_path)


def test_parser_reports_files_outside_the_layout(corpus_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "de" / "de_m1").mkdir(parents=True)
    (root / synthetic.VERSION_NAME).write_text((corpus_root / synthetic.VERSION_NAME).read_text())
    good = root / "de" / "de_m1" / "de_m1_anger_01.wav"
    good.write_bytes((corpus_root / "de" / "de_m1" / "de_m1_anger_01.wav").read_bytes())
    misplaced = root / "de" / "de_m1" / "fa_m1_anger_01.wav"  # speaker does not match its folder
    misplaced.write_bytes(good.read_bytes())
    listing = list_files(root)
    assert [corpus_file.audio_path for corpus_file in listing.files] == [good]
    assert listing.nonconforming == [misplaced]
