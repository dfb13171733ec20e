"""The extraction engine on tiny random models of every family (float32 exact mode)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import write_wav
from serlib.cli import main
from serlib.common.errors import SerlibError
from serlib.features.extract import extract_features, plan_batches, pool_hidden_states
from serlib.features.models import TINY_RANDOM_CONFIGS, load_model
from serlib.features.store import FrameReader, load_pooled

# Durations in seconds: mixed lengths, plus two pairs of equal length (batchable for group norm).
CLIP_SECONDS = (0.3, 0.55, 0.55, 0.8, 1.0, 1.0)
TINY_MODELS = [f"random:{name}" for name in TINY_RANDOM_CONFIGS]


def write_manifest(folder: Path, seconds=CLIP_SECONDS, sample_rate: int = 16000) -> Path:
    """Generated wavs and their manifest CSV (the columns the engine reads)."""
    rows = []
    for number, duration in enumerate(seconds):
        path = write_wav(
            folder / "wav" / f"utt{number}.wav", duration, sample_rate, frequency=200 + 90 * number
        )
        rows.append({
            "utterance_id": f"utt{number}", "path": str(path), "corpus": "tiny",
            "duration_s": duration, "sample_rate": sample_rate,
        })
    manifest = folder / "tiny.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write_manifest(tmp_path / "corpus")


def run(model: str, manifest, out: Path, **options):
    options = {"dtype": "float32", "progress": False, **options}
    return extract_features(model, manifest, out, **options)


@pytest.mark.parametrize("model", TINY_MODELS)
def test_batched_equals_one_by_one_for_every_family(model, manifest, tmp_path):
    batched = run(model, manifest, tmp_path / "batched", batch_seconds=100.0)
    alone = run(model, manifest, tmp_path / "alone", batch_seconds=0.01)
    batched_pooled, ids, index = load_pooled(batched.folder)
    alone_pooled, _, _ = load_pooled(alone.folder)
    assert batched_pooled.shape == (6, 3, 32)
    assert ids == [f"utt{number}" for number in range(6)]
    assert index["layers"] == 3 and index["dim"] == 32 and index["complete"] is True
    scale = np.abs(alone_pooled).max()
    assert np.abs(batched_pooled - alone_pooled).max() <= 1e-4 * scale


def test_whisper_audio_window_batched_equals_one_by_one(manifest, tmp_path):
    options = {"whisper_window": "audio"}
    batched = run("random:whisper-tiny", manifest, tmp_path / "b", batch_seconds=100.0, **options)
    alone = run("random:whisper-tiny", manifest, tmp_path / "a", batch_seconds=0.01, **options)
    batched_pooled, alone_pooled = load_pooled(batched.folder)[0], load_pooled(alone.folder)[0]
    assert np.abs(batched_pooled - alone_pooled).max() <= 1e-4 * np.abs(alone_pooled).max()


def test_frame_counts_follow_each_family_frame_rule(manifest, tmp_path):
    wav2vec2 = pd.read_csv(run("random:wav2vec2-tiny", manifest, tmp_path).folder / "utterances.csv")
    whisper = pd.read_csv(run("random:whisper-tiny", manifest, tmp_path).folder / "utterances.csv")
    # wav2vec2 conv stack (kernel 400 samples, hop 320): floor((n - 400) / 320) + 1
    assert wav2vec2["num_frames"].tolist() == [14, 27, 27, 39, 49, 49]
    # Whisper: ceil(n / 320)
    assert whisper["num_frames"].tolist() == [15, 28, 28, 40, 50, 50]


def test_pooling_uses_valid_frames_only():
    hidden = torch.zeros(2, 1, 4, 1)
    hidden[0, 0, :, 0] = torch.tensor([1.0, 3.0, 100.0, 100.0])  # 2 valid frames, then padding
    hidden[1, 0, :, 0] = torch.tensor([2.0, 4.0, 6.0, 8.0])
    means = pool_hidden_states(hidden, [2, 4], "mean")
    assert means[:, 0, 0].tolist() == [2.0, 5.0]
    mean_std = pool_hidden_states(hidden, [2, 4], "mean+std")
    assert mean_std.shape == (2, 1, 2)
    assert mean_std[0, 0].tolist() == [2.0, 1.0]
    assert mean_std[1, 0, 1] == pytest.approx(np.std([2.0, 4.0, 6.0, 8.0]))


def test_mean_std_store_has_means_first(manifest, tmp_path):
    mean_only = load_pooled(run("random:hubert-tiny", manifest, tmp_path / "m").folder)[0]
    mean_std = load_pooled(
        run("random:hubert-tiny", manifest, tmp_path / "s", pooling="mean+std").folder
    )[0]
    assert mean_std.shape == (6, 3, 64)
    np.testing.assert_allclose(mean_std[..., :32], mean_only, rtol=1e-6, atol=1e-6)
    assert (mean_std[..., 32:] >= 0).all()


def test_batches_are_sorted_budgeted_and_equal_length_when_asked():
    durations = np.array([1.0, 0.5, 0.5, 2.0, 0.7])
    batches = plan_batches(durations, budget_seconds=1.5)
    assert [batch.tolist() for batch in batches] == [[1, 2], [4], [0], [3]]
    equal = plan_batches(durations, budget_seconds=10.0, equal_lengths_only=True)
    assert [batch.tolist() for batch in equal] == [[1, 2], [4], [0], [3]]
    whisper = plan_batches(durations, budget_seconds=60.0, cost_seconds=30.0)
    assert [batch.tolist() for batch in whisper] == [[1, 2], [4, 0], [3]]


def test_rerun_is_a_cache_hit(manifest, tmp_path):
    first = run("random:wav2vec2-tiny", manifest, tmp_path)
    second = run("random:wav2vec2-tiny", manifest, tmp_path)
    assert (first.cache_hit, first.num_computed) == (False, 6)
    assert (second.cache_hit, second.num_computed, second.folder) == (True, 0, first.folder)
    assert first.folder == tmp_path / "random__wav2vec2-tiny" / "tiny"


def test_changed_manifest_invalidates_the_cache(manifest, tmp_path):
    first = run("random:wav2vec2-tiny", manifest, tmp_path)
    old_key = json.loads((first.folder / "index.json").read_text())["cache_key"]
    table = pd.read_csv(manifest)
    table.drop(index=0).to_csv(manifest, index=False)
    second = run("random:wav2vec2-tiny", manifest, tmp_path)
    pooled, ids, index = load_pooled(second.folder)
    assert (second.cache_hit, second.num_computed) == (False, 5)
    assert pooled.shape == (5, 3, 32) and ids[0] == "utt1"
    assert index["cache_key"] != old_key


def test_changed_pooling_or_dtype_does_not_reuse_features(manifest, tmp_path):
    run("random:wav2vec2-tiny", manifest, tmp_path)
    assert not run("random:wav2vec2-tiny", manifest, tmp_path, pooling="mean+std").cache_hit
    assert not run("random:wav2vec2-tiny", manifest, tmp_path, dtype="bfloat16").cache_hit


class SimulatedKill(Exception):
    """Raised from the batch callback to stop a run mid-way, like a kill."""


def test_killed_run_resumes_without_recomputing_finished_batches(manifest, tmp_path):
    reference = run("random:wav2vec2-layernorm-tiny", manifest, tmp_path / "reference",
                    batch_seconds=1.2, keep_frames=True)
    finished_ids: list[str] = []

    def kill_after_two_batches(done):
        finished_ids.extend(done.utterance_ids)
        if done.batch_number == 1:
            raise SimulatedKill

    with pytest.raises(SimulatedKill):
        run("random:wav2vec2-layernorm-tiny", manifest, tmp_path / "killed", batch_seconds=1.2,
            keep_frames=True, on_batch=kill_after_two_batches)
    folder = tmp_path / "killed" / "random__wav2vec2-layernorm-tiny" / "tiny"
    assert not (folder / "index.json").exists()
    with pytest.raises(SerlibError, match="not a finished feature store"):
        load_pooled(folder)
    assert len(finished_ids) == 3  # batches [0.3 s] and [0.55 s, 0.55 s]

    resumed = run("random:wav2vec2-layernorm-tiny", manifest, tmp_path / "killed",
                  batch_seconds=1.2, keep_frames=True)
    assert (resumed.cache_hit, resumed.num_computed) == (False, 3)
    assert np.array_equal(load_pooled(resumed.folder)[0], load_pooled(reference.folder)[0])
    resumed_frames, reference_frames = FrameReader(resumed.folder), FrameReader(reference.folder)
    assert all(np.array_equal(a, b) for a, b in zip(resumed_frames, reference_frames))
    assert not (folder / ".partial").exists()


def test_damaged_chunk_is_recomputed_not_trusted(manifest, tmp_path):
    def kill_after_first(done):
        raise SimulatedKill

    with pytest.raises(SimulatedKill):
        run("random:hubert-tiny", manifest, tmp_path, on_batch=kill_after_first)
    chunk = tmp_path / "random__hubert-tiny" / "tiny" / ".partial" / "chunk-000000.npz"
    chunk.write_bytes(chunk.read_bytes()[:40])  # a torn write
    resumed = run("random:hubert-tiny", manifest, tmp_path)
    assert resumed.num_computed == 6


def test_frame_store_is_ragged_and_matches_pooled_means(manifest, tmp_path):
    result = run("random:data2vec-audio-tiny", manifest, tmp_path, keep_frames=True)
    pooled, _, _ = load_pooled(result.folder)
    frames = FrameReader(result.folder)
    counts = pd.read_csv(result.folder / "utterances.csv")["num_frames"].tolist()
    assert [len(utterance) for utterance in frames] == counts
    assert frames.frames.dtype == np.float16 and frames.frames.shape == (sum(counts), 3, 32)
    np.testing.assert_allclose(frames[3].astype(np.float32).mean(axis=0), pooled[3], atol=2e-2)


def test_manifest_without_required_columns_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"utterance_id": ["a"]}).to_csv(bad, index=False)
    with pytest.raises(SerlibError, match=r"bad\.csv lacks the column"):
        run("random:hubert-tiny", bad, tmp_path)


def test_cli_extract_writes_the_store_and_documents_the_format(manifest, tmp_path, capsys):
    status = main([
        "extract", "--model", "random:wavlm-tiny", "--manifest", str(manifest),
        "--out", str(tmp_path / "features"), "--dtype", "float32", "--quiet",
    ])
    assert status == 0
    assert "6/6 utterances computed" in capsys.readouterr().out
    assert np.load(tmp_path / "features" / "random__wavlm-tiny" / "tiny" / "pooled.npy").shape == (6, 3, 32)
    with pytest.raises(SystemExit):
        main(["extract", "--help"])
    help_text = capsys.readouterr().out
    for file_name in ("pooled.npy", "utterances.csv", "frames.npy", "frame_offsets.npy", "index.json"):
        assert file_name in help_text


@pytest.fixture
def emodb_clips(shared_dir: Path) -> pd.DataFrame:
    wavs = sorted((shared_dir / "data" / "emodb-2s" / "wav").glob("*.wav"))[:5]
    if len(wavs) < 5:
        pytest.skip("emodb-2s is absent")
    return pd.DataFrame({
        "utterance_id": [wav.stem for wav in wavs], "path": [str(wav) for wav in wavs],
        "corpus": "emodb", "duration_s": 2.0,
    })


@pytest.mark.real
def test_real_whisper_base_on_emodb_clips(emodb_clips, shared_dir, tmp_path):
    whisper = str(shared_dir / "models" / "whisper-base")
    exact = load_pooled(run(whisper, emodb_clips, tmp_path / "full").folder)[0]
    fast = load_pooled(run(whisper, emodb_clips, tmp_path / "audio", whisper_window="audio").folder)[0]
    assert exact.shape == fast.shape == (5, 7, 512)
    cosine = (exact * fast).sum(-1) / np.linalg.norm(exact, axis=-1) / np.linalg.norm(fast, axis=-1)
    # Measured on these clips: layer 0 identical, deeper layers cosine 0.93-0.997 (docs/layers.md).
    assert cosine[:, 0].min() > 0.99999
    assert cosine.min() > 0.9


GROUP_NORM_MODELS = ["random:wav2vec2-tiny", "random:hubert-tiny", "random:wavlm-tiny"]


@pytest.mark.parametrize("model", GROUP_NORM_MODELS)
def test_group_norm_models_batch_mixed_lengths_with_the_masked_first_norm(
        model, manifest, tmp_path, monkeypatch):
    """The GPU's batching of group-norm encoders (forced here on the CPU) changes no utterance."""
    from serlib.features import extract

    loaded = load_model(model)
    assert loaded.padding_changes_output and loaded.can_mask_padding
    assert not extract.mixes_lengths(loaded, torch.device("cpu"))
    assert extract.mixes_lengths(loaded, torch.device("cuda"))
    monkeypatch.setattr(extract, "mixes_lengths", lambda loaded, device: loaded.can_mask_padding)
    batched = run(model, manifest, tmp_path / "batched", batch_seconds=100.0)
    monkeypatch.undo()
    alone = run(model, manifest, tmp_path / "alone", batch_seconds=0.01)
    batched_pooled, alone_pooled = load_pooled(batched.folder)[0], load_pooled(alone.folder)[0]
    assert batched_pooled.shape == (6, 3, 32)
    assert np.abs(batched_pooled - alone_pooled).max() <= 1e-4 * np.abs(alone_pooled).max()


def test_without_the_masked_norm_padding_would_change_a_group_norm_model():
    """The check above can fail: the plain group norm over a padded batch moves the features."""
    from serlib.features.models import _first_conv_frames, _masked_first_group_norm

    loaded = load_model("random:wav2vec2-tiny")
    short, long = (np.sin(np.linspace(0, 900, n)).astype(np.float32) for n in (6000, 16000))
    padded = np.zeros((2, 16000), dtype=np.float32)
    padded[0, :6000], padded[1] = short, long
    mask = torch.from_numpy((padded != 0).astype(np.int64))
    mask[1] = 1
    normalise = lambda x: (x - x.mean()) / np.sqrt(x.var() + 1e-7)  # noqa: E731
    values = torch.from_numpy(np.stack([np.pad(normalise(short), (0, 10000)), normalise(long)]))
    with torch.inference_mode():
        alone, valid = loaded.hidden_states([short])
        plain = loaded.model(values, attention_mask=mask, output_hidden_states=True)
        frames = torch.tensor([_first_conv_frames(loaded.config, n) for n in (6000, 16000)])
        with _masked_first_group_norm(loaded.model, frames):
            masked = loaded.model(values, attention_mask=mask, output_hidden_states=True)
    n = valid[0]
    scale = alone.abs().max()
    assert (plain.hidden_states[0][0, :n] - alone[0, 0, :n]).abs().max() > 1e-2 * scale
    torch.testing.assert_close(masked.hidden_states[0][0, :n], alone[0, 0, :n], rtol=0,
                               atol=1e-5 * float(scale))


def test_masked_instance_norm_equals_group_norm_of_each_row_alone():
    from serlib.features.models import masked_instance_norm

    generator = torch.Generator().manual_seed(0)
    values = torch.randn(3, 4, 50, generator=generator) * 3 + 1
    weight, bias = torch.randn(4, generator=generator), torch.randn(4, generator=generator)
    valid = torch.tensor([50, 17, 2])
    out = masked_instance_norm(values, valid, weight, bias, 1e-5)
    for row, n in enumerate(valid.tolist()):
        alone = torch.nn.functional.group_norm(values[row:row + 1, :, :n], 4, weight, bias, 1e-5)
        torch.testing.assert_close(out[row:row + 1, :, :n], alone, rtol=0, atol=1e-5)
        assert (out[row, :, n:] == 0).all()


def test_data2vec_audio_is_never_batched_across_lengths():
    from serlib.features.extract import mixes_lengths

    loaded = load_model("random:data2vec-audio-tiny")
    assert not loaded.can_mask_padding
    assert not mixes_lengths(loaded, torch.device("cuda"))
    assert mixes_lengths(load_model("random:wav2vec2-layernorm-tiny"), torch.device("cpu"))


def test_a_bad_file_in_a_later_batch_keeps_the_batches_computed_before_it(tmp_path):
    """The engine queues batch k+1 before storing batch k; a failure in k+1 still stores k."""
    manifest = pd.read_csv(write_manifest(tmp_path / "corpus", seconds=(0.3, 0.5, 0.8)))
    broken = Path(manifest.loc[2, "path"])
    broken.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(SerlibError, match=broken.name):
        run("random:wav2vec2-layernorm-tiny", manifest, tmp_path / "out", batch_seconds=0.6)
    partial = next((tmp_path / "out").rglob(".partial"))
    assert sorted(path.name for path in partial.glob("chunk-*.npz")) == [
        "chunk-000000.npz", "chunk-000001.npz"]


@pytest.mark.parametrize("model", ["random:wav2vec2-layernorm-tiny", "random:whisper-tiny"])
def test_frames_sent_to_a_sink_equal_the_frame_store_and_touch_no_disk(model, manifest, tmp_path):
    """Frames held in memory (a FrameCollector fed by the engine) are the frame store's, bit for
    bit; the pooled store is written as without a sink, and a finished pooled store is not
    rewritten when the frames are asked for again."""
    from serlib.features.frames import FrameBank, FrameCollector

    kept = run(model, manifest, tmp_path / "kept", keep_frames=True, batch_seconds=1.2)
    stored = FrameBank.from_store(kept.folder)
    collector = FrameCollector(len(stored.counts))
    first = run(model, manifest, tmp_path / "memory", batch_seconds=1.2, frame_sink=collector)
    assert not first.cache_hit and not (first.folder / "frames.npy").exists()
    np.testing.assert_array_equal(load_pooled(first.folder)[0], load_pooled(kept.folder)[0])
    bank = collector.bank(stored.utterance_ids)
    for row in range(len(stored.counts)):
        assert torch.equal(bank.utterance(row), stored.utterance(row))
    pooled_bytes = (first.folder / "pooled.npy").read_bytes()
    again = FrameCollector(len(stored.counts), layers=[0, 2])
    second = run(model, manifest, tmp_path / "memory", batch_seconds=1.2, frame_sink=again)
    assert second.cache_hit and second.num_computed == len(stored.counts)
    assert (first.folder / "pooled.npy").read_bytes() == pooled_bytes
    assert torch.equal(again.bank(stored.utterance_ids).utterance(3), stored.utterance(3)[[0, 2]])
