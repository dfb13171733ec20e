"""Stage 4, the report: tidy results -> tables with intervals, comparisons and figures.

- :mod:`serlib.report.analysis`: the aggregation comparison, the paper's headline, levels;
- :mod:`serlib.report.multilingual`: the best layer by language, multilingual vs English models;
- :mod:`serlib.report.layer_geometry`: norms and CKA between layers;
- :mod:`serlib.report.paper_reference`: the paper's own numbers (``paper_results_v1.5.csv``);
- :mod:`serlib.report.plots`: every figure of the notebooks.

May import: :mod:`serlib.common`, :mod:`serlib.data` and :mod:`serlib.probing` (results and
metrics); never :mod:`serlib.features`' models or engine, the study or the command line.
"""
