"""Stage 1, the data: corpus folders -> manifest and split CSVs, and audio as the models want it.

- :mod:`serlib.data.corpora`: one module per corpus (its published layout and label codes),
  the registry, and :func:`~serlib.data.corpora.build_manifest`;
- :mod:`serlib.data.audio`: any soundfile-readable file -> mono float32 at 16 kHz (soxr), checked;
- :mod:`serlib.data.splits`: the paper's stratified 60/20/20, speaker-independent splits, folds;
- :mod:`serlib.data.synthetic`: the embedded offline corpus (eSpeak NG speech, prosody rules);
- :mod:`serlib.data.layouts`: small generated trees in the seven paper corpora's published
  layouts, for the paper rehearsal (``params/paper-rehearsal.yaml``).

May import: :mod:`serlib.common` only (and NumPy, pandas, scikit-learn, soundfile, soxr);
never torch, transformers, or any higher serlib package.
"""
