"""Columns of the tidy tables probing writes (importable without torch).

- results: one metric of one split at the dev-chosen epoch, per fold x seed x layer;
- layer weights: learned layer weights at that epoch;
- predictions: one dev or test utterance's predicted label, per fold x seed x layer.
"""

RESULT_COLUMNS = ["corpus", "language", "model", "probe", "protocol", "fold", "layer", "seed", "split",
                  "metric", "value", "best_epoch"]
LAYER_WEIGHT_COLUMNS = ["corpus", "model", "probe", "protocol", "fold", "seed", "layer", "weight",
                        "layers"]
PREDICTION_COLUMNS = ["corpus", "model", "probe", "protocol", "fold", "seed", "layer", "split",
                      "utterance_id", "speaker", "label", "predicted"]
