"""Feature store: slugs, content hashes, chunk trust rules, final assembly order."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from serlib.common.errors import SerlibError
from serlib.features.store import (
    Chunk,
    PartialWork,
    load_pooled,
    manifest_sha256,
    read_complete_index,
    store_folder,
    write_store,
)


def test_store_folder_uses_the_model_slug(tmp_path):
    folder = store_folder(tmp_path, "random:facebook/wav2vec2-base", "emodb")
    assert folder == tmp_path / "random__facebook__wav2vec2-base" / "emodb"


def test_manifest_hash_changes_with_any_audio_cell_and_not_with_labels():
    table = pd.DataFrame({"utterance_id": ["a", "b"], "path": ["/x/a.wav", "/x/b.wav"],
                          "duration_s": [1.0, 2.0], "sample_rate": [16000, 16000], "label": ["x", "y"]})
    assert manifest_sha256(table) == manifest_sha256(table.copy())
    for column, values in (("path", ["/x/a.wav", "/y/b.wav"]), ("utterance_id", ["a", "c"]),
                           ("duration_s", [1.0, 2.5]), ("sample_rate", [16000, 8000])):
        assert manifest_sha256(table) != manifest_sha256(table.assign(**{column: values})), column
    assert manifest_sha256(table) != manifest_sha256(table.iloc[::-1])  # row order is the store's
    relabelled = table.assign(label=["y", "x"], text=["a01", "b02"])
    assert manifest_sha256(table) == manifest_sha256(relabelled)


def chunk(number: int, rows: list[int], value_of_row=float) -> Chunk:
    pooled = np.array([[[value_of_row(row)] * 2] for row in rows], dtype=np.float32)
    return Chunk(number, np.array(rows), pooled, np.array([row + 1 for row in rows]))


def test_chunks_of_another_cache_key_are_discarded(tmp_path):
    PartialWork(tmp_path, "key-1").save_chunk(chunk(0, [0, 1]), None)
    assert PartialWork(tmp_path, "key-1").load_chunk(0, np.array([0, 1]), False) is not None
    assert PartialWork(tmp_path, "key-2").load_chunk(0, np.array([0, 1]), False) is None


def test_chunk_with_other_rows_or_without_its_frames_is_not_trusted(tmp_path):
    partial = PartialWork(tmp_path, "key")
    partial.save_chunk(chunk(0, [0, 1]), None)
    assert partial.load_chunk(0, np.array([0, 2]), False) is None
    assert not (tmp_path / ".partial" / "chunk-000000.npz").exists()
    partial.save_chunk(chunk(1, [2]), None)
    assert partial.load_chunk(1, np.array([2]), with_frames=True) is None


def test_leftover_temporary_files_are_removed(tmp_path):
    PartialWork(tmp_path, "key")
    (tmp_path / ".partial" / "chunk-000003.tmp").write_bytes(b"half a chunk")
    PartialWork(tmp_path, "key")
    assert not list((tmp_path / ".partial").glob("*.tmp"))


def test_final_store_is_in_manifest_order_with_the_index_written_last(tmp_path):
    partial = PartialWork(tmp_path, "key")
    chunks = [chunk(0, [2, 0]), chunk(1, [1])]
    frames = {0: np.full((4, 1, 2), 7.0), 1: np.full((2, 1, 2), 5.0)}
    for item in chunks:
        partial.save_chunk(item, frames[item.number])
    write_store(tmp_path, partial, chunks, ["u0", "u1", "u2"], (3, 1, 2), (1, 2), {"cache_key": "key"})
    pooled, ids, index = load_pooled(tmp_path)
    assert pooled[:, 0, 0].tolist() == [0.0, 1.0, 2.0] and ids == ["u0", "u1", "u2"]
    assert index == {"cache_key": "key", "complete": True}
    assert pd.read_csv(tmp_path / "utterances.csv")["num_frames"].tolist() == [1, 2, 3]
    assert np.load(tmp_path / "frame_offsets.npy").tolist() == [0, 1, 3, 6]
    stored_frames = np.load(tmp_path / "frames.npy")
    assert stored_frames.dtype == np.float16
    assert stored_frames[:, 0, 0].tolist() == [7.0, 5.0, 5.0, 7.0, 7.0, 7.0]


def test_unfinished_folder_is_never_read(tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"cache_key": "k", "complete": False}))
    assert read_complete_index(tmp_path) is None
    with pytest.raises(SerlibError, match="not a finished feature store"):
        load_pooled(tmp_path)
