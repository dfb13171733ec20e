"""What a corpus module provides, and the shared file-name matching it uses.

Every corpus module in ``serlib/data/corpora/`` defines one module-level object::

    CORPUS = Corpus(
        name="emodb",                      # registry name, also the manifest's `corpus` column
        language="de",                     # ISO 639-1 code
        label_codes={"W": "anger", ...},   # the corpus's own code -> canonical label
        layout="wav/SSTTTEV.wav, e.g. wav/03a01Fa.wav",  # shown in error messages
        list_files=list_emodb_files,       # corpus root -> Listing
    )

``list_files(root)`` reads the corpus in its own published layout and returns a
:class:`Listing`: one :class:`CorpusFile` per audio file whose name follows the corpus's
naming scheme (audio path, corpus-local speaker, gender, label code, and the sentence where
the name encodes it), plus the audio files whose names do not (``nonconforming``) and counts
of files the corpus's protocol leaves out on purpose (``excluded``). It does not open the audio and does not judge label codes:
:func:`serlib.data.corpora.manifest.build_manifest` does both, so the checks live in one place.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

CANONICAL_LABELS = (
    "anger",
    "boredom",
    "calm",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)

AUDIO_SUFFIX = ".wav"


@dataclass(frozen=True)
class CorpusFile:
    """One audio file of a corpus, described from its name (or its annotation line).

    ``speaker`` is the corpus-local id (e.g. ``"03"``); the manifest prefixes it with the
    corpus name. ``gender`` is ``"female"``, ``"male"`` or ``""`` when not encoded.
    ``language`` overrides the corpus language for this file (used by the generic CSV corpus).
    ``text`` is the corpus-local id of the sentence spoken (e.g. EmoDB's ``"a01"``): files with
    the same ``text`` read the same words; ``""`` where the corpus does not say.
    """

    audio_path: Path
    speaker: str
    gender: str
    label_code: str
    language: str = ""
    text: str = ""


@dataclass
class Listing:
    """What a corpus lister found under a root.

    ``excluded`` maps a human-readable reason to the number of files the corpus's protocol
    leaves out on purpose (e.g. RAVDESS song recordings); they are reported, not errors, and
    their paths are kept in ``excluded_paths``. Every audio file under a corpus root must end
    up in one of ``files``, ``nonconforming`` or ``excluded_paths``:
    :func:`serlib.data.corpora.manifest.build_manifest` reports any other as nonconforming.
    """

    files: list[CorpusFile] = field(default_factory=list)
    nonconforming: list[Path] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    excluded_paths: list[Path] = field(default_factory=list)

    def extend(self, other: "Listing") -> None:
        """Add another listing's files, nonconforming files and exclusions to this one."""
        self.files.extend(other.files)
        self.nonconforming.extend(other.nonconforming)
        self.excluded_paths.extend(other.excluded_paths)
        for reason, count in other.excluded.items():
            self.excluded[reason] = self.excluded.get(reason, 0) + count


@dataclass(frozen=True)
class Corpus:
    """A corpus description: name, language, label codes and how to list its files."""

    name: str
    language: str
    label_codes: Mapping[str, str]
    layout: str
    list_files: Callable[[Path], Listing]
    excluded_label_codes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.label_codes.values()) - set(CANONICAL_LABELS))
        if unknown:
            raise ValueError(f"corpus {self.name!r} maps to non-canonical labels {unknown}")


def normalized_name(name: str) -> str:
    """A folder or file name in Unicode NFC and case-folded, for layout comparisons.

    macOS file systems hand out decomposed (NFD) names such as ``Cole\\u0300re``; comparing
    normalized names makes ``Colère`` match in either form and in any letter case.
    """
    return unicodedata.normalize("NFC", name).casefold()


def audio_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The ``.wav`` files (any letter case) in ``folder``, sorted; hidden files are ignored.

    Hidden files include the AppleDouble ``._name.wav`` companions that macOS archives add.
    """
    if not folder.is_dir():
        return []
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path
        for path in candidates
        if path.suffix.lower() == AUDIO_SUFFIX
        and not path.name.startswith(".")
        and path.is_file()
    )


def matching_folders(root: Path, pattern: re.Pattern[str]) -> list[Path]:
    """The sub-folders of ``root`` whose whole name matches ``pattern``, sorted (none if ``root``
    is not a folder)."""
    if not root.is_dir():
        return []
    return [path for path in sorted(root.iterdir()) if path.is_dir() and pattern.fullmatch(path.name)]


def match_file_names(
    paths: Iterable[Path],
    pattern: re.Pattern[str],
    describe: Callable[[Path, re.Match[str]], CorpusFile | str],
) -> Listing:
    """Match each file name against ``pattern`` and describe the matches.

    ``describe(path, match)`` returns the :class:`CorpusFile`, or a reason (``str``) when the
    file is a valid part of the corpus that its protocol leaves out; those are counted per
    reason in ``Listing.excluded``. Names that do not match go to ``Listing.nonconforming``.
    """
    listing = Listing()
    for path in paths:
        match = pattern.fullmatch(unicodedata.normalize("NFC", path.name))
        if match is None:
            listing.nonconforming.append(path)
            continue
        described = describe(path, match)
        if isinstance(described, str):
            listing.excluded[described] = listing.excluded.get(described, 0) + 1
            listing.excluded_paths.append(path)
        else:
            listing.files.append(described)
    return listing
