"""The full fault suite of issue 11: kills, concurrent runs, malformed inputs, files lost.

Runs real `serlib` commands as subprocesses in a temporary folder and prints a table:

- kills survived: ``kill -9`` (of the whole process group) at random points, uniform over an
  uninterrupted run's duration so that imports, model loading, computing and writing are all
  hit, of `serlib extract` (random:wav2vec2-tiny), `serlib probe`, `serlib split` and
  `./run_all.sh demo --only 01` (a copy of the demo profile whose work, results and synthetic
  folders are temporary). Every kill starts from a fresh output folder; after it, one more run
  must exit 0 without a traceback, and its files must be byte-identical to an uninterrupted
  reference run;
- concurrent runs: 2 and 3 `serlib extract` at once on one store: all exit 0 (the others wait),
  the store equals the reference;
- inputs tried: the parametrised malformed/unusual input tests of ``tests/faults`` (run with
  pytest) plus an hour-long file read lazily here;
- files lost: reference files missing or different after any scenario (must be 0).

Usage: nice python benchmarks/fault_suite.py [--extract-kills 8] [--probe-kills 5]
       [--split-kills 5] [--notebook-kills 4] [--seed 0] [--skip-notebook]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SERLIB = [PYTHON, "-m", "serlib"]
STORE = Path("random__wav2vec2-tiny") / "tiny"
IGNORED = (".lock", ".lock.owner", ".takeover")


def write_corpus(folder: Path) -> Path:
    """12 short clips (4 speakers x 3 labels) and their manifest."""
    rows = []
    for number in range(12):
        speaker, label = f"s{number % 4}", ("anger", "neutral", "sadness")[number // 4]
        seconds = 0.2 + 0.05 * number
        times = np.arange(int(seconds * 16000)) / 16000
        samples = 0.4 * np.sin(2 * np.pi * (180 + 40 * number) * times)
        path = folder / "wav" / f"utt{number:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, samples, 16000, subtype="PCM_16")
        rows.append({"utterance_id": f"utt{number:02d}", "path": str(path), "corpus": "tiny",
                     "language": "en", "speaker": speaker, "gender": "", "label": label,
                     "label_code": label, "duration_s": seconds, "sample_rate": 16000})
    pd.DataFrame(rows).to_csv(folder / "tiny.csv", index=False)
    return folder / "tiny.csv"


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every data file under ``folder`` (not locks), by relative path."""
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.name.endswith(IGNORED)}


def lost_files(reference: dict[str, bytes], result: dict[str, bytes]) -> list[str]:
    return [name for name, content in reference.items() if result.get(name) != content]


def run(command: list[str], timeout: float = 900, **options) -> tuple[int, str, float]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **options)
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - started


class Tally:
    """Rows of the printed table."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, scenario: str, **values) -> None:
        self.rows.append({"scenario": scenario, **values})
        print(f"  {scenario}: {values}", flush=True)


def kill_scenario(tally: Tally, name: str, command: list[str], outputs: Path,
                  reset: Callable[[], None], kills: int, rng: random.Random,
                  reference: dict[str, bytes], **options) -> None:
    """Kill ``command`` at ``kills`` random points, each time from a fresh start, and check that
    a rerun then finishes with every file byte-identical to the uninterrupted reference (runs
    that end before their kill point are rerun too, and counted apart).

    One uninterrupted run from a fresh start (``reset``) times the command first, with the caches
    it shares with the reference (the synthetic corpus) already warm, so the kill points fall
    inside the run rather than after it. Each kill is ``SIGKILL`` to the command's whole process
    group (a notebook's kernel included), as a crash or the OOM killer would deliver it.
    """
    reset()
    status, output, seconds = run(command, **options)
    assert status == 0, output
    delivered = survived = finished_early = lost = 0
    worst_exit, traceback = 0, False
    # a run that ends before its kill point (runs vary) does not count: draw again, up to 3x
    while delivered < kills and delivered + finished_early < 3 * kills:
        reset()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True, **options)
        time.sleep(rng.uniform(0.05, 0.95) * seconds)
        killed = process.poll() is None
        if killed:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        delivered += killed
        finished_early += not killed
        status, output, _ = run(command, **options)
        missing = lost_files(reference, tree_bytes(outputs))
        survived += killed and status == 0 and not missing and "Traceback" not in output
        lost += len(missing)
        worst_exit, traceback = max(worst_exit, status), traceback or "Traceback" in output
    tally.add(name, kills=delivered, survived=survived, runs_finished_before_kill=finished_early,
              rerun_exit=worst_exit, traceback=traceback, files_lost=lost)


def extraction(tally: Tally, root: Path, manifest: Path, kills: int, rng: random.Random):
    def command(out: Path) -> list[str]:
        return [*SERLIB, "extract", "--model", "random:wav2vec2-tiny", "--manifest",
                str(manifest), "--out", str(out), "--dtype", "float32", "--batch-seconds",
                "0.5", "--threads", "1", "--quiet"]

    status, output, seconds = run(command(root / "reference"))
    assert status == 0, output
    reference = tree_bytes(root / "reference" / STORE)
    print(f"reference extraction: {seconds:.1f} s", flush=True)
    kill_scenario(tally, "serlib extract", command(root / "killed"), root / "killed" / STORE,
                  lambda: shutil.rmtree(root / "killed", ignore_errors=True), kills, rng, reference)
    for runs in (2, 3):
        out = root / f"concurrent{runs}"
        processes = [subprocess.Popen(command(out), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True) for _ in range(runs)]
        outputs = [process.communicate(timeout=900)[0] for process in processes]
        statuses = [process.returncode for process in processes]
        lost = lost_files(reference, tree_bytes(out / STORE))
        tally.add(f"{runs} concurrent serlib extract", runs=runs,
                  exited_0=sum(status == 0 for status in statuses),
                  waited=sum("serlib: waiting" in text for text in outputs),
                  traceback=any("Traceback" in text for text in outputs), files_lost=len(lost))
    return root / "reference" / STORE


def splitting(tally: Tally, root: Path, manifest: Path, kills: int, rng: random.Random) -> Path:
    def prepared(name: str) -> Path:
        folder = root / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        shutil.copy(manifest, folder / "tiny.csv")
        return folder

    reference_folder = prepared("split-reference")
    command = [*SERLIB, "split", "tiny.csv", "--protocol", "speaker-cv"]
    status, output, _ = run(command, cwd=reference_folder)
    assert status == 0, output
    reference = tree_bytes(reference_folder)
    killed = root / "split-killed"
    kill_scenario(tally, "serlib split", command, killed, lambda: prepared("split-killed"), kills,
                  rng, reference, cwd=killed)
    return reference_folder / "tiny.split-speaker-cv-seed0.csv"


def probing(tally: Tally, root: Path, store: Path, split: Path, kills: int, rng: random.Random):
    def command(out: Path) -> list[str]:
        return [*SERLIB, "probe", "--features", str(store), "--split", str(split), "--probe",
                "linear", "--seeds", "2", "--epochs", "5", "--out", str(out / "results.csv")]

    def fresh(folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()

    fresh(root / "probe-reference")
    status, output, _ = run(command(root / "probe-reference"))
    assert status == 0, output
    reference = tree_bytes(root / "probe-reference")
    kill_scenario(tally, "serlib probe", command(root / "probe-killed"), root / "probe-killed",
                  lambda: fresh(root / "probe-killed"), kills, rng, reference)


def notebook(tally: Tally, root: Path, kills: int, rng: random.Random) -> None:
    """`./run_all.sh PROFILE --only 01` with a copy of demo writing under ``root``."""
    def profile(name: str) -> tuple[Path, Path]:
        folder = root / name
        text = (REPO / "params" / "demo.yaml").read_text()
        text = text.replace("work_dir: work/demo", f"work_dir: {folder / 'work'}")
        text = text.replace("results_dir: results/demo", f"results_dir: {folder / 'results'}")
        folder.mkdir()
        (folder / "demo.yaml").write_text(text)
        return folder / "demo.yaml", folder

    def command(path: Path) -> list[str]:
        return [str(REPO / "run_all.sh"), str(path), "--only", "01"]

    environment = {**os.environ, "SERLIB_SYNTHETIC_ROOT": str(root / "synthetic")}
    environment.pop("SERLIB_WORK_DIR", None)
    reference_profile, reference_folder = profile("notebook-reference")
    status, output, seconds = run(command(reference_profile), env=environment)
    assert status == 0, output
    reference = tree_bytes(reference_folder / "work")
    print(f"reference notebook 01: {seconds:.1f} s", flush=True)
    killed_profile, killed_folder = profile("notebook-killed")

    def fresh() -> None:
        for folder in ("work", "results"):
            shutil.rmtree(killed_folder / folder, ignore_errors=True)

    kill_scenario(tally, "run_all.sh --only 01", command(killed_profile), killed_folder / "work",
                  fresh, kills, rng, reference, env=environment)


def malformed_inputs(tally: Tally, root: Path) -> None:
    status, output, _ = run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/faults/test_malformed_audio.py",
                             "tests/faults/test_malformed_manifests.py",
                             "tests/faults/test_malformed_extract.py"], cwd=REPO)
    passed = int(re.search(r"(\d+) passed", output).group(1)) if "passed" in output else 0
    failed = int(re.search(r"(\d+) failed", output).group(1)) if "failed" in output else 0
    hour_ok = hour_long_file(root / "hour.wav")
    tally.add("malformed/unusual inputs", tried=passed + failed + 1,
              handled=passed + int(hour_ok), failed=failed + int(not hour_ok))


def hour_long_file(path: Path) -> bool:
    """A 3600 s, 8 kHz float file (115 MB) written in blocks, read, deleted."""
    from serlib.data.audio import audio_info, load_audio

    with soundfile.SoundFile(path, "w", 8000, 1, subtype="FLOAT") as handle:
        block = (0.3 * np.sin(2 * np.pi * 200 * np.arange(8000 * 60) / 8000)).astype(np.float32)
        for _ in range(60):
            handle.write(block)
    try:
        duration_s, rate = audio_info(path)
        samples = load_audio(path)
        return duration_s == 3600.0 and rate == 8000 and len(samples) == 3600 * 16000
    finally:
        path.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extract-kills", type=int, default=8)
    parser.add_argument("--probe-kills", type=int, default=5)
    parser.add_argument("--split-kills", type=int, default=5)
    parser.add_argument("--notebook-kills", type=int, default=4)
    parser.add_argument("--skip-notebook", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tally = Tally()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="serlib-faults-") as temporary:
        root = Path(temporary)
        manifest = write_corpus(root / "corpus")
        store = extraction(tally, root, manifest, args.extract_kills, rng)
        split = splitting(tally, root, manifest, args.split_kills, rng)
        probing(tally, root, store, split, args.probe_kills, rng)
        if not args.skip_notebook:
            notebook(tally, root, args.notebook_kills, rng)
        malformed_inputs(tally, root)
    table = pd.DataFrame(tally.rows).astype(object).fillna("")
    print(f"\nfault suite in {time.perf_counter() - started:.0f} s\n")
    print(table.to_string(index=False))
    kills = int(pd.to_numeric(table.get("kills"), errors="coerce").fillna(0).sum())
    survived = int(pd.to_numeric(table.get("survived"), errors="coerce").fillna(0).sum())
    lost = int(pd.to_numeric(table.get("files_lost"), errors="coerce").fillna(0).sum())
    print(f"\nkills survived: {survived}/{kills}; files lost: {lost}")
    return 0 if survived == kills and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
