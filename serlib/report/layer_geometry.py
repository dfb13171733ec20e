"""How representations change with depth: per-layer norms and layer-to-layer similarity.

Pure functions on the pooled features ``[N, L+1, D]`` of one model x corpus.
"""

from __future__ import annotations

import numpy as np


def layer_norms(pooled_features: np.ndarray) -> np.ndarray:
    """Mean L2 norm of the pooled feature vector of each hidden state: ``[L+1]``."""
    return np.linalg.norm(pooled_features.astype(np.float64), axis=2).mean(axis=0)


def linear_cka_matrix(pooled_features: np.ndarray) -> np.ndarray:
    """Linear CKA (Kornblith et al., 2019) between every pair of hidden states: ``[L+1, L+1]``.

    1 on the diagonal; close to 1 where two layers hold the same information up to a rotation
    and scaling of the utterances' representations.
    """
    centred = pooled_features.astype(np.float64) - pooled_features.mean(axis=0, keepdims=True)
    grams = np.einsum("nld,mld->lnm", centred, centred)  # [L+1, N, N] utterance Gram matrices
    cross = np.einsum("anm,bnm->ab", grams, grams)
    norms = np.sqrt(np.diag(cross))
    return cross / np.outer(norms, norms)
