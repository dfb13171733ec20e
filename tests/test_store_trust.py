"""What a feature store trusts: cache-key versions, .partial/ without its key, audio contents,
the model's preprocessor config, and store folder names of local models."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from conftest import write_tiny_manifest, write_wav
from serlib.cli import main
from serlib.features import acoustic, extract
from serlib.features.extract import extract_features
from serlib.features.models import TINY_RANDOM_CONFIGS, weights_fingerprint
from serlib.features.store import PARTIAL_DIR, PartialWork, legacy_store_folder, load_pooled

MODEL = "random:wav2vec2-tiny"


def write_manifest(folder: Path, seconds=(0.3, 0.5, 0.7)) -> Path:
    return write_tiny_manifest(folder, seconds)


def run(model, manifest, out, **options):
    return extract_features(model, manifest, out, progress=False, dtype="float32",
                            batch_seconds=0.8, **options)


def test_bumping_the_extraction_code_version_recomputes(tmp_path, monkeypatch):
    manifest = write_manifest(tmp_path)
    first = run(MODEL, manifest, tmp_path / "out")
    assert not first.cache_hit and run(MODEL, manifest, tmp_path / "out").cache_hit
    current = extract.EXTRACTION_CODE_VERSION
    assert json.loads((first.folder / "index.json").read_text())["extraction_code_version"] == current
    monkeypatch.setattr(extract, "EXTRACTION_CODE_VERSION", current + 1)
    bumped = run(MODEL, manifest, tmp_path / "out")
    assert not bumped.cache_hit and bumped.num_computed == 3
    assert json.loads((bumped.folder / "index.json").read_text())["extraction_code_version"] == current + 1


def test_bumping_the_acoustic_code_version_recomputes(tmp_path, monkeypatch):
    manifest = write_manifest(tmp_path)
    assert not run("acoustic:mfcc", manifest, tmp_path / "out").cache_hit
    assert run("acoustic:mfcc", manifest, tmp_path / "out").cache_hit
    monkeypatch.setattr(acoustic, "ACOUSTIC_CODE_VERSION", 2)
    bumped = run("acoustic:mfcc", manifest, tmp_path / "out")
    assert not bumped.cache_hit and bumped.num_computed == 3


def test_a_partial_folder_without_its_key_file_is_not_adopted(tmp_path):
    manifest = write_manifest(tmp_path)
    def stop_after_first_batch(done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(MODEL, manifest, tmp_path / "out", on_batch=stop_after_first_batch)
    folder = tmp_path / "out" / "random__wav2vec2-tiny" / "tiny"
    partial = folder / PARTIAL_DIR
    chunks = sorted(partial.glob("chunk-*.npz"))
    assert len(chunks) == 1 and (partial / "key.txt").is_file()
    (partial / "key.txt").unlink()
    resumed = run(MODEL, manifest, tmp_path / "out")
    assert resumed.num_computed == 3  # the orphaned chunk was discarded, all rows recomputed
    reference = run(MODEL, manifest, tmp_path / "reference")
    assert np.array_equal(load_pooled(resumed.folder)[0], load_pooled(reference.folder)[0])


def test_partial_work_discards_orphans_and_keeps_keyed_chunks(tmp_path):
    orphan = tmp_path / PARTIAL_DIR
    orphan.mkdir()
    (orphan / "chunk-000000.npz").write_bytes(b"x")
    PartialWork(tmp_path, "k1")
    assert sorted(path.name for path in orphan.iterdir()) == ["key.txt"]
    (orphan / "chunk-000000.npz").write_bytes(b"x")
    PartialWork(tmp_path, "k1")  # same key: kept
    assert (orphan / "chunk-000000.npz").is_file()


def test_verify_audio_puts_the_audio_bytes_into_the_key(tmp_path):
    manifest = write_manifest(tmp_path)
    out = tmp_path / "out"
    assert not run(MODEL, manifest, out, verify_audio=True).cache_hit
    assert run(MODEL, manifest, out, verify_audio=True).cache_hit
    # edit one file in place: same path, same length, same duration in the manifest
    write_wav(tmp_path / "wav" / "utt1.wav", 0.5, 16000, frequency=911)
    assert run(MODEL, manifest, out).cache_hit is False  # (key without audio hash differs anyway)
    edited = run(MODEL, manifest, out, verify_audio=True)
    assert run(MODEL, manifest, out, verify_audio=True).cache_hit
    assert not edited.cache_hit and edited.num_computed == 3


def test_verify_audio_on_the_command_line(tmp_path, capsys):
    manifest = write_manifest(tmp_path)
    arguments = ["extract", "--model", MODEL, "--manifest", str(manifest), "--out",
                 str(tmp_path / "out"), "--dtype", "float32", "--quiet", "--verify-audio"]
    assert main(arguments) == 0
    folder = tmp_path / "out" / "random__wav2vec2-tiny" / "tiny"
    assert len(json.loads((folder / "index.json").read_text())["audio_sha256"]) == 64


def save_tiny_local_model(folder: Path) -> Path:
    import transformers

    config = TINY_RANDOM_CONFIGS["wav2vec2-tiny"]()
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    return folder


def test_the_fingerprint_covers_the_preprocessor_config(tmp_path):
    folder = save_tiny_local_model(tmp_path / "w2v-local")
    before = weights_fingerprint(str(folder))
    settings = json.loads((folder / "preprocessor_config.json").read_text())
    settings["do_normalize"] = not settings.get("do_normalize", True)
    (folder / "preprocessor_config.json").write_text(json.dumps(settings))
    assert weights_fingerprint(str(folder)) != before


def test_the_fingerprint_follows_content_not_file_times(tmp_path):
    folder = save_tiny_local_model(tmp_path / "w2v-local")
    before = weights_fingerprint(str(folder))
    # a copy elsewhere, without its modification times, and a touched file: the same weights
    copy = tmp_path / "elsewhere" / "w2v-local"
    shutil.copytree(folder, copy, copy_function=shutil.copy)
    weights = next(copy.glob("*.safetensors"))
    os.utime(weights, ns=(1, 1))
    assert weights_fingerprint(str(copy)) == before
    # one byte changed, with the file's size and times kept: new weights
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(1, 1))
    assert weights_fingerprint(str(copy)) != before
    # the whole file counts, not only its first MiB
    shard = copy / "pytorch_model.bin"
    shard.write_bytes(bytes(3 << 20))
    with_shard = weights_fingerprint(str(copy))
    shard.write_bytes(bytes(3 << 20)[:-1] + b"\x01")
    assert weights_fingerprint(str(copy)) != with_shard


def test_a_local_model_store_is_named_by_folder_and_fingerprint(tmp_path):
    model = save_tiny_local_model(tmp_path / "models" / "w2v-local")
    manifest = write_manifest(tmp_path)
    out = tmp_path / "out"
    result = run(str(model), manifest, out)
    digits = weights_fingerprint(str(model)).rsplit("-", 1)[-1][:8]
    assert result.folder == out / f"w2v-local-{digits}" / "tiny"
    assert json.loads((result.folder / "index.json").read_text())["model"] == str(model)
    # a store under the old name (the slug of the absolute path) is still read when finished
    legacy = legacy_store_folder(out, str(model), "tiny")
    assert legacy.name == "tiny" and legacy.parent.name.startswith("__")
    legacy.parent.mkdir(parents=True)
    shutil.move(result.folder, legacy)
    again = run(str(model), manifest, out)
    assert again.cache_hit and again.folder == legacy


def test_atomic_writes_get_the_mode_the_umask_allows(tmp_path):
    """Temporary files are private (mkstemp's 0600) until renamed; the result must not be, or a
    results folder on a shared machine is unreadable to the user's group."""
    from serlib.common import files

    umask = os.umask(0o022)
    os.umask(umask)
    written = files.atomic_write_text(tmp_path / "table.csv", "a,b\n1,2\n")
    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask
