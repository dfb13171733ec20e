"""Stage 2, the features: speech models and acoustic feature sets -> the on-disk feature store.

- :mod:`serlib.features.registry`: model short names, families and engine options (no torch);
- :mod:`serlib.features.bundled_configs`: the registry models' architectures shipped as data
  (``configs/*.json``), so ``random:<name>`` builds offline; :mod:`serlib.features.cost`:
  parameters and multiply-adds counted from an architecture (both without torch);
- :mod:`serlib.features.models`: loading a model by name (offline-aware) so that it returns
  every hidden state, numbered the same way for every family;
- :mod:`serlib.features.extract`: the batched, cached, resumable extraction engine
  (:func:`~serlib.features.extract.extract_features`, which also dispatches ``acoustic:`` names);
- :mod:`serlib.features.acoustic` and :mod:`serlib.features.acoustic_features`: the acoustic
  baselines (eGeMAPS, MFCC statistics) written in the same store format;
- :mod:`serlib.features.runs`: what a run reads (manifest checks) and reports;
- :mod:`serlib.features.store`: the store's files, cache keys, the one resume rule, readers.

May import: :mod:`serlib.common` and :mod:`serlib.data`. Probing reads the store only through
:mod:`serlib.features.store`.
"""
