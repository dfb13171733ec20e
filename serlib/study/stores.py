"""Where the study's feature stores live, and the model kept loaded between extraction runs."""

from __future__ import annotations

import gc
from pathlib import Path

from serlib.common.errors import SerlibError
from serlib.study.config import ModelSpec, StudyConfig


def feature_folder(config: StudyConfig, model: ModelSpec, corpus_id: str) -> Path:
    """Where the feature store of ``model`` on ``corpus_id`` lives."""
    from serlib.features.store import store_folder

    return store_folder(config.feature_dir, model.model_id, corpus_id)


class LastModel:
    """A model loader that keeps the model it loaded last.

    The runs of one model over the profile's corpora come in a row, so the model is loaded
    once for all of them (a large random-init model takes seconds to build, a pretrained one to
    read). Only one model is held at a time; :meth:`clear` lets it go.
    """

    def __init__(self):
        self.key: tuple[str, str] | None = None
        self.loaded = None

    def __call__(self, name: str, device):
        from serlib.features.models import load_model

        if self.key != (name, str(device)):
            self.clear()
            self.loaded = load_model(name, device)
            self.key = (name, str(device))
        return self.loaded

    def clear(self) -> None:
        self.key, self.loaded = None, None
        gc.collect()


#: The loader of this process's extraction runs (each SLURM job is its own process).
LAST_MODEL = LastModel()


def finished_index(config: StudyConfig, model: ModelSpec, corpus_id: str) -> dict:
    """The ``index.json`` of a finished feature store; a clear error when there is none."""
    from serlib.features.store import read_complete_index

    features = feature_folder(config, model, corpus_id)
    index = read_complete_index(features)
    if index is None:
        raise SerlibError(f"no finished features in {features}; run notebook 02 "
                          f"(or `serlib extract`) for {model.model_id} on {corpus_id} first")
    return index


#: Keys of a profile's ``extraction:`` section that the study reads and the engine does not.
STUDY_EXTRACTION_KEYS = ("frame_memory_gb",)


def engine_settings(config: StudyConfig) -> dict:
    """The profile's ``extraction:`` settings that :func:`serlib.features.extract.extract_features` takes."""
    return {key: value for key, value in config.extraction.items() if key not in STUDY_EXTRACTION_KEYS}
