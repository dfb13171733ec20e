"""Small generated corpora in the published layouts of the paper's seven corpora (the rehearsal).

:func:`write_layout_corpus` writes, for EmoDB, ShEMO, AESDD, EMOVO, CaFE, RAVDESS or IEMOCAP, a
tree that the corpus's own reader parses: every file named as that corpus names its files, in
its folders, at its own sample rate (16, 44.1 or 48 kHz, so resampling runs), with IEMOCAP's
EmoEvaluation label files. The audio is a plain generated voice (a harmonic buzz with a pitch
contour, syllable-rate envelope and noise) whose pitch and loudness follow the emotion; durations
run from 1 to 3 s, and IEMOCAP's include utterances of 20 and 30 s (its longest run past 30 s).

It exists for ``params/paper-rehearsal.yaml``: the paper profile's whole pipeline on real-size
random-init models, to prove that every stage handles 25 x 1024 hidden states, long utterances
and frame stores before GPU time is spent. It says nothing about emotion.

The tree is written into a staging folder beside the root and renamed into place, with
``REHEARSAL.json`` (generator version, corpus, clip count) written last; a root holding the same
record is reused, and a non-empty root without one is refused rather than replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from serlib.common.errors import SerlibError
from serlib.common.generated import generate_folder, read_record, refuse_foreign_folder
from serlib.common.locks import folder_lock
from serlib.data.corpora.registry import get_corpus

GENERATOR_VERSION = 1
RECORD_NAME = "REHEARSAL.json"
#: The three emotions every one of the seven corpora has.
EMOTIONS = ("anger", "happiness", "sadness")
SPEAKERS = 4
TAKES = 2  # clips per speaker x emotion: 4 x 3 x 2 = 24 clips per corpus
DURATIONS_S = (1.0, 1.5, 2.0, 3.0)
IEMOCAP_LONG_S = (30.0, 20.0)  # the first two IEMOCAP clips
#: pitch (Hz) and loudness (peak) by emotion: enough for a probe to find something
VOICE = {"anger": (220.0, 0.6), "happiness": (260.0, 0.45), "sadness": (150.0, 0.2)}


@dataclass(frozen=True)
class Clip:
    """One file of a generated tree: where it goes and what it holds."""

    relative_path: str
    speaker: int  # 0..SPEAKERS-1
    emotion: str
    take: int  # 0..TAKES-1


def emotion_code(corpus: str, emotion: str) -> str:
    """``corpus``'s own code for ``emotion``: the first code its reader maps to that label."""
    codes = get_corpus(corpus).label_codes
    return next(code for code, label in codes.items() if label == emotion)


def _emodb(speaker: int, emotion: str, take: int) -> str:
    code = emotion_code("emodb", emotion)
    return f"wav/{('03', '08', '09', '10')[speaker]}a0{take + 1}{code}a.wav"


def _shemo(speaker: int, emotion: str, take: int) -> str:
    code = emotion_code("shemo", emotion)
    gender = ("F", "F", "M", "M")[speaker]
    folder = {"F": "female", "M": "male"}[gender]
    return f"{folder}/{gender}{speaker % 2 + 1:02d}{code}{take + 1:02d}.wav"


def _aesdd(speaker: int, emotion: str, take: int) -> str:
    return f"{emotion}/{emotion_code('aesdd', emotion)}{take + 1:02d} ({speaker + 1}).wav"


def _emovo(speaker: int, emotion: str, take: int) -> str:
    code = emotion_code("emovo", emotion)
    actor = ("f1", "f2", "m1", "m2")[speaker]
    return f"{actor}/{code}-{actor}-b{take + 1}.wav"


def _cafe(speaker: int, emotion: str, take: int) -> str:
    code = emotion_code("cafe", emotion)
    folder = {"C": "Colère", "J": "Joie", "T": "Tristesse"}[code]  # the published folder names
    intensity = ("Faible", "Fort")[take]
    return f"{folder}/{intensity}/{speaker + 1:02d}-{code}-{take + 1}-1.wav"


def _ravdess(speaker: int, emotion: str, take: int) -> str:
    code = emotion_code("ravdess", emotion)
    actor = f"{speaker + 1:02d}"
    return f"Actor_{actor}/03-01-{code}-{take + 1:02d}-01-01-{actor}.wav"


def _iemocap_session(speaker: int) -> int:
    return speaker // 2 + 1  # two speakers (F, M) per session, as in IEMOCAP


def _iemocap_dialog(speaker: int) -> str:
    return f"Ses0{_iemocap_session(speaker)}F_impro01"


def _iemocap(speaker: int, emotion: str, take: int) -> str:
    number = EMOTIONS.index(emotion) * TAKES + take
    utterance = f"{_iemocap_dialog(speaker)}_{('F', 'M')[speaker % 2]}{number:03d}"
    return f"Session{_iemocap_session(speaker)}/sentences/wav/{_iemocap_dialog(speaker)}/{utterance}.wav"


#: corpus -> (file path of a clip, sample rate of the published corpus)
LAYOUTS: dict[str, tuple[Callable[[int, str, int], str], int]] = {
    "emodb": (_emodb, 16000),
    "shemo": (_shemo, 44100),
    "aesdd": (_aesdd, 44100),
    "emovo": (_emovo, 48000),
    "cafe": (_cafe, 48000),
    "ravdess": (_ravdess, 48000),
    "iemocap": (_iemocap, 16000),
}


def layout_clips(corpus: str) -> list[Clip]:
    """Every clip of ``corpus``'s generated tree, in a fixed order."""
    if corpus not in LAYOUTS:
        raise SerlibError(f"no generated layout for corpus {corpus!r}; choose one of: "
                          f"{', '.join(LAYOUTS)}")
    path_of = LAYOUTS[corpus][0]
    return [Clip(path_of(speaker, emotion, take), speaker, emotion, take)
            for speaker in range(SPEAKERS) for emotion in EMOTIONS for take in range(TAKES)]


def clip_seconds(corpus: str, index: int) -> float:
    """The duration of the ``index``-th clip (IEMOCAP's first two are its long ones)."""
    if corpus == "iemocap" and index < len(IEMOCAP_LONG_S):
        return IEMOCAP_LONG_S[index]
    return DURATIONS_S[index % len(DURATIONS_S)]


def generated_voice(seconds: float, rate: int, emotion: str, seed: int) -> np.ndarray:
    """A deterministic voiced signal: harmonics of a gliding pitch under a syllable envelope."""
    rng = np.random.default_rng(seed)
    pitch, peak = VOICE[emotion]
    times = np.arange(int(round(seconds * rate))) / rate
    f0 = pitch * (1.0 + 0.08 * np.sin(2 * np.pi * (0.5 + rng.random()) * times))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 9))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * (3.5 + rng.random()) * times) ** 2
    signal = voice * envelope + 0.05 * rng.standard_normal(len(times))
    return (peak * signal / np.max(np.abs(signal))).astype(np.float32)


def write_layout_corpus(corpus: str, root: str | Path) -> Path:
    """Write ``corpus``'s generated tree under ``root`` (or reuse it when already written)."""
    root = Path(root).resolve()
    clips = layout_clips(corpus)
    record = {"generator": "serlib.data.layouts", "generator_version": GENERATOR_VERSION,
              "corpus": corpus, "clips": len(clips),
              "note": "generated rehearsal audio in the corpus's published layout; not speech"}
    with folder_lock(root, what=f"generating the {corpus} rehearsal tree"):
        if read_record(root, RECORD_NAME) == record:
            return root
        refuse_foreign_folder(root, RECORD_NAME, f"{corpus} rehearsal tree")
        generate_folder(root, lambda staging: _write_tree(staging, corpus, clips), RECORD_NAME,
                        lambda _: record)
    return root


def _write_tree(folder: Path, corpus: str, clips: list[Clip]) -> None:
    rate = LAYOUTS[corpus][1]
    labels: dict[Path, list[str]] = {}
    for index, clip in enumerate(clips):
        seconds = clip_seconds(corpus, index)
        path = folder / clip.relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, generated_voice(seconds, rate, clip.emotion, seed=index), rate,
                        subtype="PCM_16")
        if corpus == "iemocap":  # the labels live in the dialog's EmoEvaluation file
            evaluation = (folder / f"Session{_iemocap_session(clip.speaker)}/dialog/EmoEvaluation"
                          / f"{_iemocap_dialog(clip.speaker)}.txt")
            code = emotion_code("iemocap", clip.emotion)
            labels.setdefault(evaluation, []).append(
                f"[0.0000 - {seconds:.4f}]\t{path.stem}\t{code}\t[2.5000, 2.5000, 2.5000]\n")
    for evaluation, lines in labels.items():
        evaluation.parent.mkdir(parents=True, exist_ok=True)
        evaluation.write_text("".join(lines), encoding="utf-8")
