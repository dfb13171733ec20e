"""`serlib extract`: per-layer pooled features of a speech model for every manifest utterance."""

from __future__ import annotations

import argparse
import textwrap

from serlib.features.registry import DEVICES, DTYPES, MODEL_REGISTRY, POOLINGS, WHISPER_WINDOWS

NAME = "extract"
HELP = "run a speech model over a manifest and store every layer's pooled features"
DESCRIPTION = f"""\
Run a speech model over every utterance of a manifest and store, per utterance, every hidden
state mean-pooled over its valid frames (hidden state 0 = input to the first transformer
block, k = output of block k; see docs/layers.md).

{textwrap.fill(
    f"MODEL is a short name ({', '.join(MODEL_REGISTRY)}), a Hugging Face Hub id, a local "
    "model folder, random:<family>-tiny (tiny random test models), random:<name> (the real "
    "architecture with random weights; for the short names above it builds offline from the "
    "architecture bundled with serlib when the model's config is not cached), or an acoustic baseline: acoustic:egemaps (eGeMAPSv02 "
    "functionals via opensmile) or acoustic:mfcc (MFCC, pitch and level statistics), stored "
    "as a single hidden state [N, 1, D].", width=92)} Models are read from the folder or the Hugging Face cache
first; the network is used only when they are not there (never with HF_HUB_OFFLINE=1).

Output folder: OUT/<model slug>/<corpus>/  (slug: MODEL with '/' and ':' replaced by '__'; for
a local model folder: its folder name plus a short weights fingerprint, e.g. whisper-base-1a2b3c4d,
the full path kept in index.json; corpus: the manifest's `corpus` column, else the manifest
file name)

  pooled.npy         float32 [N, L+1, D] (--pooling mean) or [N, L+1, 2D] (mean+std: means
                     in [..., :D], standard deviations in [..., D:]); row i = utterances.csv row i
  utterances.csv     utterance_id, num_frames (valid frames pooled), in manifest row order
  frames.npy         (--keep-frames) float16 [total_frames, L+1, D], memory-mappable
  frame_offsets.npy  (--keep-frames) int64 [N+1]; utterance i owns frames[offsets[i]:offsets[i+1]]
  index.json         model id, weights fingerprint, manifest sha256, pooling, sample rate,
                     layers (L+1), dim, frame rate, dtype, cache key, and "complete": true.
                     Written last: a folder without it is unfinished and must not be read.
  .partial/          finished batches of an interrupted run (removed when complete)

Read without serlib:
  pooled = numpy.load("pooled.npy"); ids = pandas.read_csv("utterances.csv")["utterance_id"]

A rerun with the same model weights, manifest content, pooling and dtype is a cache hit; any
change recomputes and replaces the folder. An interrupted run resumes where it stopped. Two
runs on one store never write at once: the second waits (saying who holds the lock) and then
finds the work done, or stops with --no-wait.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model name, Hub id or folder (see above)")
    parser.add_argument("--manifest", required=True, help="manifest CSV (serlib manifest)")
    parser.add_argument("--out", required=True, help="feature store root folder")
    parser.add_argument("--pooling", choices=POOLINGS, default="mean", help="default: mean")
    parser.add_argument(
        "--batch-seconds", type=float, default=None,
        help="padded audio seconds per batch (default: 16 on CPU, 240 on GPU)",
    )
    parser.add_argument("--device", choices=DEVICES, default="auto", help="default: auto")
    parser.add_argument(
        "--dtype", choices=DTYPES, default="auto",
        help="compute dtype of the weights; auto = bfloat16 on GPUs (float16 without bfloat16) "
        "and on CPUs with bfloat16 instructions, float32 on other CPUs (docs/performance.md); "
        "float32 = exact",
    )
    parser.add_argument(
        "--keep-frames", action="store_true", help="also store frame-level features (float16)"
    )
    parser.add_argument("--corpus", default=None, help="corpus folder name (default: see above)")
    parser.add_argument(
        "--whisper-window", choices=WHISPER_WINDOWS, default="full",
        help="Whisper only: full = exact 30 s window (default); audio = only the frames that "
        "cover the audio (much faster on short clips, features differ; see docs/layers.md)",
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--no-wait", action="store_true",
        help="if another run is writing the same store, stop at once (saying who: pid, host, "
        "since when) instead of waiting for it",
    )
    parser.add_argument(
        "--verify-audio", action="store_true",
        help="hash every audio file's bytes into the cache key (for audio edited in place; "
        "reads the whole corpus once more)",
    )


def run(args: argparse.Namespace) -> int:
    from serlib.features.extract import extract_features  # loads torch: only when it runs

    result = extract_features(
        args.model,
        args.manifest,
        args.out,
        pooling=args.pooling,
        batch_seconds=args.batch_seconds,
        device=args.device,
        dtype=args.dtype,
        keep_frames=args.keep_frames,
        corpus_name=args.corpus,
        progress=not args.quiet,
        whisper_window=args.whisper_window,
        num_threads=args.threads,
        wait=not args.no_wait,
        verify_audio=args.verify_audio,
    )
    print(result.summary())
    return 0
