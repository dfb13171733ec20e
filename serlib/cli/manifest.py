"""`serlib manifest CORPUS ROOT -o OUT.csv`: list a corpus folder as a manifest CSV."""

from __future__ import annotations

import argparse

from serlib.common.errors import SerlibError
from serlib.data.corpora import build_manifest, corpus_names, write_manifest
from serlib.data.corpora.audiofolder import audiofolder_corpus, read_label_map

NAME = "manifest"
HELP = "list a corpus folder (in its published layout) as a manifest CSV"
DESCRIPTION = f"""\
List the audio files of a corpus, in the corpus's own published layout, as a manifest CSV
(one row per utterance: id, path, corpus, language, speaker, gender, label, label code,
duration, sample rate; see docs/architecture.md).

Corpora: {', '.join(corpus_names())}. For 'csv', ROOT is a CSV file with columns
path, speaker, label, language (optionally gender).

For 'audiofolder', ROOT is a Hugging Face audio folder (audio files plus metadata.csv or
metadata.jsonl with a file_name column), read with the datasets library; name its label column
(--label-column, default: label), its speaker column (--speaker-column; without it every
utterance has the speaker 'unknown'), map its labels to the canonical set with --label-map
map.yaml (lines 'their_label: canonical_label'; canonical names and common aliases such as
'happy' or 'ang' map by themselves) and give --language xx unless it has a language column.

Examples: serlib manifest emodb ../shared/data/emodb-2s -o manifests/emodb.csv
          serlib manifest audiofolder my_corpus/ --label-column emotion --speaker-column speaker \\
              --label-map map.yaml --language en -o manifests/my_corpus.csv
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
    folder = parser.add_argument_group("audiofolder options")
    folder.add_argument("--label-column", metavar="NAME", help="metadata column with the label")
    folder.add_argument("--speaker-column", metavar="NAME", help="metadata column with the speaker")
    folder.add_argument("--label-map", metavar="MAP.yaml",
                        help="YAML lines 'their_label: canonical_label'")
    folder.add_argument("--language", metavar="xx", help="ISO 639-1 code of every utterance")


def run(args: argparse.Namespace) -> int:
    """Build the manifest, write it, and print a one-line summary."""
    table = build_manifest(_corpus(args), args.root, strict=not args.skip_nonconforming)
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


def _corpus(args: argparse.Namespace):
    """The corpus name, or for 'audiofolder' the corpus built from its options."""
    options = {"--label-column": args.label_column, "--speaker-column": args.speaker_column,
               "--label-map": args.label_map, "--language": args.language}
    if args.corpus != "audiofolder":
        given = [flag for flag, value in options.items() if value is not None]
        if given:
            raise SerlibError(f"{', '.join(given)} only apply to the corpus 'audiofolder'")
        return args.corpus
    return audiofolder_corpus(
        label_column=args.label_column or "label",
        speaker_column=args.speaker_column,
        label_map=read_label_map(args.label_map) if args.label_map else None,
        language=(args.language or "").lower(),
    )
