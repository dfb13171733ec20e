"""`serlib manifest CORPUS ROOT -o OUT.csv`: list a corpus folder as a manifest CSV."""

from __future__ import annotations

import argparse

from serlib.data.corpora import build_manifest, corpus_names, write_manifest

NAME = "manifest"
HELP = "list a corpus folder (in its published layout) as a manifest CSV"
DESCRIPTION = f"""\
List the audio files of a corpus, in the corpus's own published layout, as a manifest CSV
(one row per utterance: id, path, corpus, language, speaker, gender, label, label code,
duration, sample rate; see docs/architecture.md).

Corpora: {', '.join(corpus_names())}. For 'csv', ROOT is a CSV file with columns
path, speaker, label, language (optionally gender).

Example: serlib manifest emodb ../shared/data/emodb-2s -o manifests/emodb.csv
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("corpus", metavar="CORPUS", help="corpus name, e.g. emodb")
    parser.add_argument("root", metavar="ROOT", help="corpus folder (or CSV file for 'csv')")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.csv",
                        help="manifest CSV to write")
    parser.add_argument("--skip-nonconforming", action="store_true",
                        help="skip audio files whose names do not follow the corpus naming "
                        "scheme (with a warning) instead of stopping")


def run(args: argparse.Namespace) -> int:
    """Build the manifest, write it, and print a one-line summary."""
    table = build_manifest(args.corpus, args.root, strict=not args.skip_nonconforming)
    path = write_manifest(table, args.output)
    label_counts = ", ".join(
        f"{label} {count}" for label, count in table["label"].value_counts().items()
    )
    excluded = table.attrs.get("excluded", {})
    excluded_note = (
        "; excluded: " + ", ".join(f"{count} {reason}" for reason, count in excluded.items())
        if excluded else ""
    )
    skipped = table.attrs.get("skipped", [])
    skipped_note = (f"; skipped {len(skipped)} nonconforming file(s): {', '.join(skipped)}"
                    if skipped else "")
    print(f"{path}: {len(table)} utterances, {table['speaker'].nunique()} speakers, "
          f"labels: {label_counts}{excluded_note}{skipped_note}")
    return 0
