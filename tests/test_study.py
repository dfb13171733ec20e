"""Profiles, the preflight check and the notebook runner."""

from __future__ import annotations

import re
import textwrap

import pytest

from serlib import study
from serlib.cli import run_all
from serlib.study import checks, runner
from serlib.study.config import expand_environment, load_config
from serlib.common.errors import SerlibError


def test_environment_references_expand_with_defaults(monkeypatch):
    monkeypatch.setenv("SERLIB_TEST_ROOT", "/data/emodb")
    monkeypatch.delenv("SERLIB_TEST_UNSET", raising=False)
    assert expand_environment("${SERLIB_TEST_ROOT}/wav") == "/data/emodb/wav"
    assert expand_environment("${SERLIB_TEST_UNSET:-fallback}") == "fallback"
    assert expand_environment("${SERLIB_TEST_UNSET}") is None


def test_every_shipped_profile_loads():
    demo = load_config("demo")
    assert [spec.language for spec in demo.corpora] == ["de", "fa", "el", "it", "fr", "en"]
    assert all(spec.source.startswith(("random:", "acoustic:")) for spec in demo.models)
    paper = load_config("paper")
    assert len(paper.corpora) == 7
    assert [spec.model_id for spec in paper.models][:8] == [
        "wav2vec2-base", "wav2vec2-large", "wav2vec2-large-960h", "xlsr-53", "xls-r-300m",
        "hubert-base", "hubert-large", "hubert-large-ft"]
    real_small = load_config("real-small")
    assert real_small.models[0].model_id == "whisper-base"
    # a random-init control of a local model resolves the folder relative to the repository
    control = real_small.model("whisper-base-random-init").source
    assert control.startswith("random:/") and control.endswith("whisper-base")


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(SerlibError, match="Known profiles: .*demo"):
        load_config("no-such-profile")


def test_paper_profile_without_data_lists_every_missing_root(monkeypatch):
    for name in ("EMODB", "SHEMO", "AESDD", "EMOVO", "CAFE", "RAVDESS", "IEMOCAP"):
        monkeypatch.delenv(f"SERLIB_{name}_ROOT", raising=False)
    monkeypatch.setattr(checks, "_hub_reachable", lambda timeout_s=3.0: False)
    problems = study.preflight(load_config("paper"))
    missing_roots = [p for p in problems if "root not set" in p]
    assert len(missing_roots) == 7
    assert "SERLIB_IEMOCAP_ROOT" in missing_roots[-1]
    # no Hub and an empty cache: the eight pretrained models are listed; the two random-init
    # controls build from serlib's bundled configs and the acoustic baselines need nothing
    missing_models = [p for p in problems if p.startswith("model ")]
    assert len(missing_models) == 8 and not any("random-init" in p for p in missing_models)


def test_run_all_stops_before_any_notebook_when_data_is_missing(monkeypatch, capsys):
    monkeypatch.delenv("SERLIB_EMODB_ROOT", raising=False)
    monkeypatch.setattr(checks, "_hub_reachable", lambda timeout_s=3.0: False)
    monkeypatch.setattr(run_all, "execute_notebook", lambda *a, **k: pytest.fail("ran a notebook"))
    assert run_all.main(["paper"]) == 2
    assert "SERLIB_EMODB_ROOT" in capsys.readouterr().err


def test_notebook_selection_by_number(tmp_path):
    for name in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb"):
        (tmp_path / name).write_text("{}")
    notebooks = runner.study_notebooks(tmp_path)
    assert [p.name for p in runner.select_notebooks(notebooks, "2", None)] == ["02_b.ipynb", "03_c.ipynb"]
    assert [p.name for p in runner.select_notebooks(notebooks, None, "01")] == ["01_a.ipynb"]
    with pytest.raises(SerlibError, match="no notebook with that number"):
        runner.select_notebooks(notebooks, "9", None)


def _tiny_italian_profile(tmp_path, settings: str):
    """A profile over a generated Italian synthetic corpus (72 clips, 4 speakers) and one tiny
    random-init model, with ``settings`` (YAML lines) appended."""
    from serlib.data.synthetic import generate_synthetic_corpus

    generate_synthetic_corpus(tmp_path / "synthetic", languages=["it"])
    profile = tmp_path / "tiny.yaml"
    profile.write_text(textwrap.dedent(f"""\
        profile: tiny
        work_dir: {tmp_path / 'work'}
        results_dir: {tmp_path / 'results'}
        corpora:
          - {{id: synthetic-it, name: synthetic, language: it, root: {tmp_path / 'synthetic'}}}
        models: [random:wav2vec2-tiny]
    """) + settings + "\n")
    return load_config(profile)


def test_prepare_corpora_writes_manifest_and_reuses_split(tmp_path, monkeypatch):
    config = _tiny_italian_profile(tmp_path, "split: {protocols: [speaker-cv, random], repeats: 3}")
    assert config.split_protocol == "speaker-cv" and config.split_protocols == ("speaker-cv", "random")
    assert study.preflight(config) == []
    first = study.prepare_corpora(config)
    assert list(first[0].split_paths) == ["speaker-cv", "random"]
    split_bytes = first[0].split_path.read_bytes()
    summary = study.corpus_summary(first)
    assert summary.loc[0, "utterances"] == 72 and summary.loc[0, "speakers"] == 4
    # 4 speakers: leave one out, one dev speaker, two training speakers per fold
    assert summary.loc[0, "speaker-cv: folds x train/dev/test"] == "4 x 36/18/18"
    assert summary.loc[0, "random: folds x train/dev/test"] == "3 x 43/14/15"
    second = study.prepare_corpora(config)
    assert second[0].split_path.read_bytes() == split_bytes
    assert (tmp_path / "results" / "splits" / first[0].split_path.name).is_file()


def test_runner_shows_cell_progress_and_stage_bars_without_the_tcp_warning(tmp_path, capfd):
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("profile = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import sys\nfrom tqdm import tqdm\nfor _ in tqdm(range(3), desc='stage'):\n"
                                  "    pass\nprint('careful: a real warning', file=sys.stderr)"),
        nbformat.v4.new_code_cell("print(profile)"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, tmp_path / "01_a.ipynb")
    seconds = runner.execute_notebook(tmp_path / "01_a.ipynb", tmp_path / "out" / "01_a.ipynb", "demo")
    err = capfd.readouterr().err
    assert seconds > 0
    assert "without encryption" not in err and "TCP" not in err
    # the cells bar (4 cells: parameters injected); how many states it draws depends on the load
    assert re.search(r"01_a: +\d+%.*\d/4 \[", err)
    assert "stage: 100%" in err  # the stage's own tqdm bar, as the cells bar's tail
    assert "careful: a real warning\n" in err
    executed = nbformat.read(tmp_path / "out" / "01_a.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "demo\n"


def test_run_all_lab_needs_results(monkeypatch, tmp_path, capsys):
    import dataclasses

    config = dataclasses.replace(load_config("demo"), results_dir=tmp_path / "none")
    monkeypatch.setattr(run_all, "load_config", lambda profile: config)
    assert run_all.main(["--lab"]) == 2
    assert "does not exist yet; run ./run_all.sh first" in capsys.readouterr().err


def test_findings_of_a_profile_without_controls(tmp_path):
    """Every model of the demo is random-init, so no model has a control: the controls table is
    not written and FINDINGS.md says there is nothing to report there (it once failed reading an
    empty CSV)."""
    config = _tiny_italian_profile(tmp_path, "split: {protocols: [random], repeats: 1}\n"
                                             "probes: {seeds: 1, epochs: 2}")
    prepared = study.prepare_corpora(config)
    study.extract_all(config, prepared, progress=False)
    results, _ = study.probe_all(config, prepared, "linear")
    assert set(results["layer"].astype(int)) == {0, 1, 2}  # tiny wav2vec2: 2 blocks + input
    study.layer_interval_table(config, "linear")
    assert study.controls_table(config, "linear").empty
    assert not study.table_path(config, "controls_linear").exists()
    path, text = study.write_findings(config)
    assert path == tmp_path / "results" / "FINDINGS.md" and path.read_text() == text
    assert "| random | synthetic-it | random:wav2vec2-tiny |" in text.split("## Which layer carries emotion")[1]
    controls = text.split("## Pretrained models against their controls")[1]
    assert "- (nothing to report under this profile)" in controls


def test_a_whole_run_keeps_each_notebooks_seconds(tmp_path):
    import pandas as pd

    from serlib.cli.run_all import write_run_seconds

    write_run_seconds(tmp_path / "run_seconds.csv", {"01_data_prep.ipynb": 4.04, "02_x.ipynb": 10.0})
    table = pd.read_csv(tmp_path / "run_seconds.csv")
    assert table["notebook"].tolist() == ["01_data_prep.ipynb", "02_x.ipynb", "total"]
    assert table["seconds"].tolist() == [4.0, 10.0, 14.0]
