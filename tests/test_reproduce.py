"""`serlib reproduce`: the table comparison on hand-made folders, and a real rerun of a tiny profile."""

from __future__ import annotations

import hashlib
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from serlib.common.errors import SerlibError
from serlib.common.files import write_csv_atomically
from serlib.report import reproduction
from serlib.report.reproduction import (DIFFERENT, IDENTICAL, MEASUREMENT, MISSING, NEW, NOT_RERUN,
                                        WITHIN_TOLERANCE, compare_results, environment_differences, verdict)
from serlib.study import runner
from serlib.study.config import load_config

# --- hand-made folders -------------------------------------------------------------------------

INTERVALS = pd.DataFrame({
    "corpus": ["it", "it", "de"], "model": ["m", "m", "m"], "layer": [0, 1, 0],
    "accuracy": [0.5, 0.625, 0.75], "ci_low": [0.25, 0.5, 0.5], "n_utterances": [72, 72, 72],
})


def _comparison(p_holm: float = 0.04, difference: float = 0.1) -> pd.DataFrame:
    return pd.DataFrame({
        "corpus": ["it", "de"], "model": ["m", "m"], "single": ["best-layer(linear)"] * 2,
        "aggregation": ["aggregate-pooled"] * 2, "layers_chosen": ["linear 1 (2/2)", "linear 0 (2/2)"],
        "difference": [difference, -0.02], "p_value": [0.01, 0.5], "p_holm": [p_holm, 1.0], "family": [2, 2],
    })


def _folders(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> tuple[Path, Path]:
    """A committed folder and a byte-identical rerun folder holding ``tables`` (paths under tables/)."""
    committed, rerun = tmp_path / "committed", tmp_path / "rerun"
    for name, table in tables.items():
        write_csv_atomically(table, committed / "tables" / name)
    shutil.copytree(committed, rerun)
    return committed, rerun


def _status(report, path: str):
    (table,) = [table for table in report.tables if table.path == path]
    return table


def test_identical_bytes_are_identical_and_exit_0(tmp_path):
    committed, rerun = _folders(tmp_path, {"layer_intervals_linear.random.csv": INTERVALS,
                                           "aggregation_comparison.random.csv": _comparison()})
    report = compare_results(committed, rerun)
    assert [table.status for table in report.tables] == [IDENTICAL, IDENTICAL]
    assert report.conclusions_checked == 2 and report.conclusion_changes == []
    assert report.exit_status == 0
    lines = report.lines()
    assert "tables/layer_intervals_linear.random.csv: identical" in "\n".join(lines)
    assert "conclusions: 2 checked, 0 changed" in lines
    assert lines[0].startswith("tolerances: numbers within 1e-06 relative or 1e-09 absolute")


def test_a_change_of_one_in_a_billion_is_within_tolerance(tmp_path):
    committed, rerun = _folders(tmp_path, {"layer_intervals_linear.random.csv": INTERVALS})
    changed = INTERVALS.copy()
    changed.loc[1, "accuracy"] = 0.625 * (1 + 1e-9)
    write_csv_atomically(changed, rerun / "tables" / "layer_intervals_linear.random.csv")
    table = _status(compare_results(committed, rerun), "tables/layer_intervals_linear.random.csv")
    assert table.status == WITHIN_TOLERANCE
    assert "largest relative difference 1e-09 in accuracy" in table.detail


def test_a_change_of_one_in_a_thousand_is_different_naming_the_column(tmp_path):
    committed, rerun = _folders(tmp_path, {"layer_intervals_linear.random.csv": INTERVALS})
    changed = INTERVALS.copy()
    changed.loc[2, "ci_low"] = 0.5 * (1 + 1e-3)
    write_csv_atomically(changed, rerun / "tables" / "layer_intervals_linear.random.csv")
    report = compare_results(committed, rerun)
    table = _status(report, "tables/layer_intervals_linear.random.csv")
    assert table.status == DIFFERENT
    assert table.detail == "first differing column ci_low; largest relative difference 0.000999 in ci_low"
    assert report.exit_status == 0  # a number moved, no conclusion did


def test_rows_in_another_order_match_but_a_changed_text_cell_or_row_does_not(tmp_path):
    committed, rerun = _folders(tmp_path, {"t.csv": INTERVALS})
    write_csv_atomically(INTERVALS.iloc[::-1], rerun / "tables" / "t.csv")
    assert _status(compare_results(committed, rerun), "tables/t.csv").status == WITHIN_TOLERANCE
    renamed = INTERVALS.assign(model=["m", "m", "other"])
    write_csv_atomically(renamed, rerun / "tables" / "t.csv")
    table = _status(compare_results(committed, rerun), "tables/t.csv")
    assert table.status == DIFFERENT and table.detail.startswith("rows differ: 1 only in the committed table")
    write_csv_atomically(INTERVALS.iloc[:2], rerun / "tables" / "t.csv")
    assert "3 vs 2 rows" in _status(compare_results(committed, rerun), "tables/t.csv").detail


def test_timing_columns_and_measurement_tables_are_not_compared(tmp_path):
    timed = INTERVALS.assign(seconds=[1.0, 2.0, 3.0], audio_s_per_s=[10.0, 11.0, 12.0],
                             median_duration_s=[1.5, 1.5, 1.5])
    runs = pd.DataFrame({"model": ["m"], "corpus": ["it"], "seconds": [4.2], "cache_hit": [True]})
    committed, rerun = _folders(tmp_path, {"t.csv": timed, "extraction_runs.csv": runs})
    write_csv_atomically(timed.assign(seconds=[9.0, 9.0, 9.0], audio_s_per_s=[1.0, 1.0, 1.0]),
                         rerun / "tables" / "t.csv")
    write_csv_atomically(runs.assign(seconds=[99.0], cache_hit=[False]), rerun / "tables" / "extraction_runs.csv")
    report = compare_results(committed, rerun)
    assert _status(report, "tables/extraction_runs.csv").status == MEASUREMENT
    table = _status(report, "tables/t.csv")
    assert table.status == WITHIN_TOLERANCE
    assert "timing columns not compared: seconds, audio_s_per_s" in table.detail
    # an audio duration is data, not a timing: a change in it is a difference
    write_csv_atomically(timed.assign(median_duration_s=[1.5, 1.5, 2.0]), rerun / "tables" / "t.csv")
    assert _status(compare_results(committed, rerun), "tables/t.csv").status == DIFFERENT


def test_a_flipped_verdict_is_a_changed_conclusion_and_exit_1(tmp_path):
    committed, rerun = _folders(tmp_path, {"aggregation_comparison.random.csv": _comparison(p_holm=0.04)})
    write_csv_atomically(_comparison(p_holm=0.06), rerun / "tables" / "aggregation_comparison.random.csv")
    report = compare_results(committed, rerun)
    assert report.conclusions_checked == 2
    assert [change.line() for change in report.conclusion_changes] == [
        "tables/aggregation_comparison.random.csv: it / m / best-layer(linear) / aggregate-pooled: "
        "A better -> no clear difference"]
    assert report.exit_status == 1
    assert "conclusions: 2 checked, 1 changed" in report.lines()


def test_changed_chosen_layers_are_listed_without_failing(tmp_path):
    committed, rerun = _folders(tmp_path, {"aggregation_comparison.random.csv": _comparison()})
    write_csv_atomically(_comparison().assign(layers_chosen=["linear 2 (2/2)", "linear 0 (2/2)"]),
                         rerun / "tables" / "aggregation_comparison.random.csv")
    report = compare_results(committed, rerun)
    assert report.conclusion_changes == [] and report.exit_status == 0
    assert [change.line() for change in report.layer_changes] == [
        "tables/aggregation_comparison.random.csv: it / m / best-layer(linear) / aggregate-pooled: "
        "layers_chosen: 'linear 1 (2/2)' -> 'linear 2 (2/2)'"]


def test_verdicts():
    assert verdict(0.04, 0.1) == "A better"
    assert verdict("0.01", "-0.3") == "B better"
    assert verdict(0.05, 0.3) == "no clear difference"
    assert verdict(0.01, 0.0) == "no clear difference"
    assert verdict("", 0.2) == "no clear difference"


def test_missing_new_and_not_rerun_tables(tmp_path):
    committed, rerun = _folders(tmp_path, {"a.csv": INTERVALS, "b.csv": INTERVALS})
    (rerun / "tables" / "b.csv").unlink()
    write_csv_atomically(INTERVALS, rerun / "tables" / "c.csv")
    report = compare_results(committed, rerun)
    assert [(table.path, table.status) for table in report.tables] == [
        ("tables/a.csv", IDENTICAL), ("tables/b.csv", MISSING), ("tables/c.csv", NEW)]
    assert report.exit_status == 1
    # a partial rerun that wrote only a.csv: b.csv (present, a copy) is "not rerun", exit 0
    shutil.copy2(committed / "tables" / "b.csv", rerun / "tables" / "b.csv")
    partial = compare_results(committed, rerun, rewritten={"tables/a.csv"}, whole_run=False)
    assert _status(partial, "tables/b.csv").status == NOT_RERUN and partial.exit_status == 0
    # the same as a whole rerun: b.csv should have been written
    whole = compare_results(committed, rerun, rewritten={"tables/a.csv"}, whole_run=True)
    assert _status(whole, "tables/b.csv").status == MISSING and whole.exit_status == 1


def _predictions(rows: int = 200) -> pd.DataFrame:
    labels = ["anger", "neutral", "sadness", "fear"]
    return pd.DataFrame({
        "corpus": "it", "model": "m", "probe": "linear", "protocol": "random", "fold": 0, "seed": 0,
        "layer": [str(i % 3) for i in range(rows)], "split": "test",
        "utterance_id": [f"it/u{i:03d}" for i in range(rows)], "speaker": [f"s{i % 4}" for i in range(rows)],
        "label": [labels[i % 4] for i in range(rows)], "predicted": [labels[(i * 7) % 4] for i in range(rows)],
        "p_anger": [0.25] * rows,
    })


@pytest.mark.parametrize("changed, status", [(1, WITHIN_TOLERANCE), (5, DIFFERENT)])
def test_predictions_pass_when_99_percent_of_labels_agree(tmp_path, changed, status):
    path = "predictions/linear.random.csv.gz"
    committed, rerun = _folders(tmp_path, {path: _predictions()})
    moved = _predictions()
    moved.loc[:changed - 1, "predicted"] = "happiness"
    moved.loc[0, "p_anger"] = 0.3
    write_csv_atomically(moved, rerun / "tables" / path)
    table = _status(compare_results(committed, rerun), f"tables/{path}")
    assert table.status == status
    assert table.detail.startswith(f"predicted label agrees on {(200 - changed) / 2:.2f}% of 200 rows "
                                   f"({changed} changed)")
    assert table.detail.endswith("largest probability difference 0.05")


def test_an_unreadable_table_names_the_file(tmp_path):
    committed, rerun = _folders(tmp_path, {"t.csv": INTERVALS})
    (rerun / "tables" / "t.csv").write_bytes(b"")  # a writer killed before the atomic helpers
    with pytest.raises(SerlibError, match=r"rerun/tables/t.csv cannot be read as a CSV table"):
        compare_results(committed, rerun)


def test_environment_records_side_by_side_show_only_what_differs():
    before = {"python": "3.11.7", "cpu": {"flags": ["avx2", "fma"], "numerics_flags": {"avx512f": False}},
              "versions": {"torch": "2.13.0"}}
    after = {"python": "3.11.7", "cpu": {"flags": ["avx2", "avx512f", "fma"], "numerics_flags": {"avx512f": True}},
             "versions": {"torch": "2.14.0"}}
    assert environment_differences(before, after) == [
        ("cpu.flags", "2 items; only here: -", "3 items; only here: avx512f"),
        ("cpu.numerics_flags.avx512f", "False", "True"),
        ("versions.torch", "2.13.0", "2.14.0"),
    ]
    lines = reproduction.environment_lines(before, after)
    assert lines[0] == "environment records, the fields that differ (3): committed | rerun"
    assert lines[-1].split() == ["versions.torch", "2.13.0", "|", "2.14.0"]
    assert "no environment.json" in reproduction.environment_lines(None, after)[0]


# --- the folders a run writes to --------------------------------------------------------------


def test_notebook_selection_up_to_a_bound(tmp_path):
    for name in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb", "04_d.ipynb"):
        (tmp_path / name).write_text("{}")
    notebooks = runner.study_notebooks(tmp_path)
    names = lambda selected: [path.name[:2] for path in selected]  # noqa: E731
    assert names(runner.select_notebooks(notebooks, None, None, "03")) == ["01", "02", "03"]
    assert names(runner.select_notebooks(notebooks, "2", None, "3")) == ["02", "03"]
    with pytest.raises(SerlibError, match="--to 7: no notebook with that number"):
        runner.select_notebooks(notebooks, None, None, "7")
    with pytest.raises(SerlibError, match="--from 04 comes after --to 02"):
        runner.select_notebooks(notebooks, "04", None, "02")


def test_results_and_feature_folders_follow_the_environment_and_the_profile(tmp_path, monkeypatch):
    profile = tmp_path / "p.yaml"
    profile.write_text(f"profile: p\nwork_dir: {tmp_path / 'w'}\nresults_dir: {tmp_path / 'r'}\n")
    for name in ("SERLIB_WORK_DIR", "SERLIB_RESULTS_DIR", "SERLIB_FEATURE_DIR"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(profile)
    assert (config.results_dir, config.feature_dir) == (tmp_path / "r", tmp_path / "w" / "features")
    profile.write_text(profile.read_text() + f"feature_dir: {tmp_path / 'f'}\n")
    assert load_config(profile).feature_dir == tmp_path / "f"
    monkeypatch.setenv("SERLIB_RESULTS_DIR", str(tmp_path / "r2"))
    monkeypatch.setenv("SERLIB_FEATURE_DIR", str(tmp_path / "f2"))
    monkeypatch.setenv("SERLIB_WORK_DIR", str(tmp_path / "w2"))
    config = load_config(profile, results_dir=str(tmp_path / "ignored"))
    assert (config.work_dir, config.results_dir, config.feature_dir) == (
        tmp_path / "w2", tmp_path / "r2", tmp_path / "f2")
    assert config.tables_dir == tmp_path / "r2" / "tables"


# --- a real rerun ------------------------------------------------------------------------------


def _digest(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def committed_run(tmp_path_factory):
    """A tiny profile (Italian synthetic corpus, tiny random-init wav2vec2, one fold, 2 epochs)
    whose notebooks 01-03 ran through ./run_all.sh's entry point: its committed results."""
    from serlib.cli import run_all
    from serlib.data.synthetic import generate_synthetic_corpus

    root = tmp_path_factory.mktemp("reproduce")
    generate_synthetic_corpus(root / "synthetic", languages=["it"])
    profile = root / "tiny.yaml"
    profile.write_text(textwrap.dedent(f"""\
        profile: tiny
        work_dir: {root / 'work'}
        results_dir: {root / 'results'}
        corpora:
          - {{id: synthetic-it, name: synthetic, language: it, root: {root / 'synthetic'}}}
        models: [random:wav2vec2-tiny]
        split: {{protocols: [random], repeats: 1}}
        probes: {{seeds: 1, epochs: 2}}
    """))
    assert run_all.main([str(profile), "--to", "03"]) == 0
    return profile, root


def test_a_rerun_of_the_committed_notebooks_reproduces_every_table(committed_run, tmp_path, capsys):
    from serlib.cli.main import main

    profile, root = committed_run
    committed = root / "results"
    assert (committed / "environment.json").is_file()  # a partial run records its environment too
    before = _digest(committed)
    capsys.readouterr()
    code = main(["reproduce", str(profile), "--to", "03", "--scratch", str(tmp_path / "scratch"),
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    table_lines = [line.strip() for line in out.splitlines() if line.startswith("  tables/")]
    assert table_lines, out
    for line in table_lines:
        assert line.endswith((": identical", ": measurement, not compared")) or \
            ": equal within tolerance" in line, line
    for table in ("tables/corpus_summary.csv", "tables/probe_linear.random.csv",
                  "tables/layer_vs_last_linear.random.csv", "tables/predictions/linear.random.csv.gz"):
        assert any(line.startswith(f"{table}: ") for line in table_lines), (table, out)
    assert "conclusions: 1 checked, 0 changed" in out
    assert out.rstrip().endswith("reproduced: no conclusion changed, no table missing")
    assert _digest(committed) == before  # the committed folder is never written
    scratch = tmp_path / "scratch"
    assert (scratch / "results" / "environment.json").is_file() and not (scratch / "work").exists()
    # the feature stores were shared: every one was a cache hit (the probes were retrained: the
    # scratch caches started empty)
    runs = pd.read_csv(scratch / "results" / "tables" / "extraction_runs.csv")
    assert len(runs) == 1 and runs["cache_hit"].all()


def test_a_hand_edited_table_and_a_flipped_conclusion_are_reported(committed_run, tmp_path, capsys):
    from serlib.cli.main import main

    profile, root = committed_run
    committed = tmp_path / "committed"
    shutil.copytree(root / "results", committed)
    edited = tmp_path / "edited.yaml"
    edited.write_text(profile.read_text().replace(f"results_dir: {root / 'results'}", f"results_dir: {committed}"))
    intervals = committed / "tables" / "layer_intervals_linear.random.csv"
    table = pd.read_csv(intervals)
    table.loc[1, "accuracy"] += 0.01
    table.to_csv(intervals, index=False)
    comparison = committed / "tables" / "layer_vs_last_linear.random.csv"
    table = pd.read_csv(comparison)
    was = verdict(table.loc[0, "p_holm"], table.loc[0, "difference"])
    flipped = ({"p_holm": 0.001, "difference": 0.2} if was == "no clear difference"
               else {"p_holm": 0.9, "difference": table.loc[0, "difference"]})
    for column, value in flipped.items():
        table.loc[0, column] = value
    table.to_csv(comparison, index=False)
    capsys.readouterr()
    code = main(["reproduce", str(edited), "--from", "03", "--to", "03", "--scratch",
                 str(tmp_path / "scratch"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "  tables/layer_intervals_linear.random.csv: different (first differing column accuracy" in out
    assert "  tables/corpus_summary.csv: not rerun" in out  # notebook 01 did not run
    assert "conclusions: 1 checked, 1 changed" in out
    assert (f"  tables/layer_vs_last_linear.random.csv: synthetic-it / random:wav2vec2-tiny / random / linear / "
            f"best layer (linear) / last layer 2: {verdict(**flipped)} -> {was}") in out
    assert "NOT reproduced" in out


def test_a_scratch_folder_that_is_not_a_reruns_is_never_deleted(committed_run, tmp_path):
    from serlib.study.reproduce import reproduce

    profile, root = committed_run
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "precious.txt").write_text("mine")
    with pytest.raises(SerlibError, match="that serlib reproduce did not make"):
        reproduce(profile, start="03", end="03", scratch=tmp_path, progress=False)
    assert (tmp_path / "results" / "precious.txt").read_text() == "mine"
    with pytest.raises(SerlibError, match="would hold the committed results"):
        reproduce(profile, start="03", end="03", scratch=root, progress=False)
    assert (root / "results" / "tables").is_dir()


def test_a_rerun_with_another_work_folder_finds_the_degraded_copies_cached(committed_run, tmp_path, monkeypatch):
    """Notebook 09's degraded audio lives with the feature stores: a rerun with a fresh work
    folder (as ``serlib reproduce`` makes) writes no new copy and extracts nothing again."""
    from serlib.study.prepare import PreparedCorpus
    from serlib.study.robustness import degraded_store

    profile, root = committed_run
    corpus = PreparedCorpus("synthetic-it", "it", root / "work" / "manifests" / "synthetic-it.csv", {})
    monkeypatch.setenv("SERLIB_FEATURE_DIR", str(tmp_path / "features"))
    stores, written = [], []
    for work in ("first", "second"):
        monkeypatch.setenv("SERLIB_WORK_DIR", str(tmp_path / work))
        config = load_config(profile)
        stores.append(degraded_store(config, config.models[0], corpus, "telephone", progress=False))
        written.append((stores[-1] / "index.json").stat().st_mtime_ns)
    assert stores[0] == stores[1] and written[0] == written[1]
    assert not (tmp_path / "first" / "degraded").exists() and not (tmp_path / "second" / "degraded").exists()
    assert len(list((tmp_path / "features" / "_degraded-audio" / "synthetic-it" / "telephone").rglob("*.wav"))) == \
        len(pd.read_csv(corpus.manifest_path))
