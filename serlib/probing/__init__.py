"""Stage 3, the probes: feature store + split -> tidy results, for every layer at once.

- :mod:`serlib.probing.kinds`: the probe kinds by name (no torch);
- :mod:`serlib.probing.probes`: the probe heads as ``torch.nn.Module``s holding many probes;
- :mod:`serlib.probing.inputs`: a finished feature folder and the labelled parts of a split;
- :mod:`serlib.probing.train`: training every layer x seed in one batched pass, dev-chosen epoch;
- :mod:`serlib.probing.metrics`: pure metric functions on arrays;
- :mod:`serlib.probing.summary`: seed summaries, the best layer on dev;
- :mod:`serlib.probing.layer_selection`, :mod:`~serlib.probing.scaling`,
  :mod:`~serlib.probing.transfer`: choosing a layer, learning curves, cross-corpus transfer.

May import: :mod:`serlib.common`, :mod:`serlib.data`, and of :mod:`serlib.features` only the
store's readers (:mod:`serlib.features.store`); never a model or the extraction engine.
"""
