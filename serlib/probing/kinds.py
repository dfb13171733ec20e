"""The probe kinds by name: what each is, what it reads, which module builds it.

Importable without torch (the command line lists the kinds in its help); the modules
themselves are in :mod:`serlib.probing.probes` and load only when a probe is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from serlib.common.errors import SerlibError


@dataclass(frozen=True)
class ProbeKind:
    """How one probe name of the command line is built and fed.

    ``scope``: ``per_layer`` (one group per hidden state), ``all_layers`` (one group over all
    hidden states) or ``cumulative`` (one group per k = 1..L). ``input``: ``pooled`` features or
    ``frames`` from the frame store. ``trainer``: ``torch`` (a module of
    :mod:`serlib.probing.probes` named ``module_name``, trained by :mod:`serlib.probing.train`)
    or ``sklearn`` (fitted with scikit-learn by its own function, named in ``module_name`` as
    ``module:function``; there is no torch module to build).
    """

    name: str
    description: str
    scope: str
    input: str
    module_name: str
    trainer: str = "torch"

    @property
    def module_class(self) -> type:
        """The ``torch.nn.Module`` class of :mod:`serlib.probing.probes` (imports torch)."""
        if self.trainer != "torch":
            raise SerlibError(f"probe {self.name!r} is not a torch module: it is fitted with "
                              f"{self.trainer} by {self.module_name}")
        from serlib.probing import probes

        return getattr(probes, self.module_name)

    def build(self, num_hidden_states: int, input_dim: int, num_classes: int,
              group_ids: Sequence[int], seed: int):
        """The module for ``group_ids`` of training run ``seed``, each group seeded on its own."""
        return self.build_runs(num_hidden_states, input_dim, num_classes, group_ids, [seed])

    def build_runs(self, num_hidden_states: int, input_dim: int, num_classes: int,
                   group_ids: Sequence[int], seeds: Sequence[int]):
        """One module for the groups ``group_ids`` of several training runs, run-major: run r
        (seeded ``seeds[r]``) owns groups ``r * len(group_ids) ..``, initialised as the module
        :meth:`build` makes for that run alone."""
        from serlib.probing.probes import group_init_seed

        group_seeds = [group_init_seed(seed, group_id) for seed in seeds for group_id in group_ids]
        if self.scope == "per_layer":
            return self.module_class(input_dim, num_classes, group_seeds)
        if self.scope == "cumulative":
            return self.module_class(num_hidden_states, input_dim, num_classes, group_seeds,
                                     list(group_ids) * len(seeds))
        return self.module_class(num_hidden_states, input_dim, num_classes, group_seeds)


PROBE_KINDS: dict[str, ProbeKind] = {
    kind.name: kind
    for kind in (
        ProbeKind("linear", "the paper's 'linear' probe (PROBING): mean-pooled features -> "
                  "Linear(D,128) -> ReLU -> Linear(128,C), one per hidden state",
                  "per_layer", "pooled", "PaperMLPProbe"),
        ProbeKind("softmax", "truly linear softmax regression on mean-pooled features, "
                  "one per hidden state (our addition)", "per_layer", "pooled", "SoftmaxLinearProbe"),
        ProbeKind("dense", "the paper's PROBING_DENSE on frames: Conv1d(D,256,1) -> ReLU -> "
                  "Conv1d(256,256,1) -> ReLU -> mean over valid frames -> Linear(256,C), one per "
                  "hidden state (needs frames.npy)", "per_layer", "frames", "DenseHead"),
        ProbeKind("dense-pooled", "the dense head on mean-pooled features (cheap variant), one per "
                  "hidden state", "per_layer", "pooled", "DenseHead"),
        ProbeKind("aggregate", "the paper's all-layer DENSE on frames: learned unnormalised layer "
                  "weights (Conv1d over layers, no bias), then the dense head (needs frames.npy)",
                  "all_layers", "frames", "AggregateDenseProbe"),
        ProbeKind("aggregate-pooled", "the paper's all-layer DENSE on mean-pooled features (cheap "
                  "variant)", "all_layers", "pooled", "AggregateDenseProbe"),
        ProbeKind("aggregate-softmax", "SUPERB-style softmax-normalised layer weights over all "
                  "hidden states, then the paper's MLP head", "all_layers", "pooled",
                  "AggregateSoftmaxProbe"),
        ProbeKind("cumulative", "the paper's CM_PROBING: softmax weights over hidden states 1..k "
                  "and a gain, then the paper's MLP head, for every k", "cumulative", "pooled",
                  "CumulativeSoftmaxProbe"),
        ProbeKind("mlp-wide", "a wider MLP on mean-pooled features: Linear(D,512) -> ReLU -> "
                  "Dropout(0.2) -> Linear(512,512) -> ReLU -> Dropout(0.2) -> Linear(512,C), one per "
                  "hidden state (our addition: a third probe capacity)", "per_layer", "pooled",
                  "WideMLPProbe"),
        ProbeKind("aggregate-softmax-linear", "SUPERB-style softmax layer weights over all hidden "
                  "states, then a strictly linear softmax regression", "all_layers", "pooled",
                  "AggregateSoftmaxLinearProbe"),
        ProbeKind("aggregate-softmax-wide", "SUPERB-style softmax layer weights over all hidden "
                  "states, then the wide MLP of mlp-wide", "all_layers", "pooled",
                  "AggregateSoftmaxWideProbe"),
        ProbeKind("aggregate-hierconv", "Shih & Harwath's hierarchical convolution over the layer "
                  "axis (floor(log3 S) Conv1d, kernel 5, stride 3, ReLU) on mean-pooled features, "
                  "then the paper's MLP head", "all_layers", "pooled", "AggregateHierConvProbe"),
        ProbeKind("aggregate-concat", "all hidden states of mean-pooled features concatenated "
                  "(S x D), then L2-regularised multinomial logistic regression (scikit-learn), "
                  "its C chosen on dev", "all_layers", "pooled",
                  "serlib.probing.concat:train_concat_probe", trainer="sklearn"),
    )
}


def group_ids_for(kind: ProbeKind, num_hidden_states: int) -> tuple[list[int], list]:
    """The group ids of a probe kind and their ``layer`` labels for the results table: one per
    hidden state, one per k = 1..L (cumulative), or the single all-layer group."""
    if kind.scope == "per_layer":
        ids = list(range(num_hidden_states))
        return ids, ids
    if kind.scope == "cumulative":
        ids = list(range(1, num_hidden_states))
        return ids, [f"1-{k}" for k in ids]
    return [0], ["all"]


def get_probe_kind(name: str) -> ProbeKind:
    """The :class:`ProbeKind` called ``name``; a clear error lists the valid names."""
    if name not in PROBE_KINDS:
        raise SerlibError(f"unknown probe {name!r}; choose one of: {', '.join(PROBE_KINDS)}")
    return PROBE_KINDS[name]
