"""Sample-quality evaluation end to end on a small protocol, and the leaderboard built from eval.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import genzoo
from genzoo.cli import main
from genzoo.data.datasets import load_dataset
from genzoo.evaluate.quality import evaluate_quality


def test_quality_sections_and_the_real_data_floor(tiny_vae_run):
    model = genzoo.load(tiny_vae_run)
    data = load_dataset("mnist", train_size=600, test_size=600)
    sections = evaluate_quality(model, data, samples=600)
    quality, floor, codes = sections["quality"], sections["quality"]["floor"], sections["codes"]
    # Real training images against the test images: close, and far closer than a 16-step model's samples.
    assert floor["fd_lenet"] < 5 and floor["precision"] > 0.6 and floor["recall"] > 0.6
    assert quality["fd_lenet"] > 5 * floor["fd_lenet"]
    assert 1 <= quality["classifier_score"] <= 10 and floor["classifier_score"] > 6
    assert quality["protocol"]["feature_net_sha256"] and quality["protocol"]["samples"] == 600
    assert 0 < codes["reconstruction_mse"] < 1 and codes["knn_accuracy"] > 0.2  # chance is 0.1


def test_compare_prints_the_floor_first_and_sorts_by_fd(tmp_path, capsys):
    protocol = {"dataset": "mnist", "feature_net_sha256": "abc"}
    for name, fd in (("worse", 40.0), ("better", 12.5)):
        run = tmp_path / name
        run.mkdir()
        quality = {"fd_lenet": fd, "precision": 0.5, "floor": {"fd_lenet": 0.4}, "protocol": protocol}
        (run / "eval.json").write_text(json.dumps({"quality": quality, "nll": {"nll": 90.0}}))
    assert main(["compare", str(tmp_path / "worse"), str(tmp_path / "better"), "--markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| real data (floor) | 0.40")
    assert lines[3].startswith("| better | 12.50") and lines[4].startswith("| worse | 40.00")


def test_compare_refuses_runs_measured_with_other_sample_counts(tmp_path, capsys):
    for name, samples in (("a", 10_000), ("b", 1_000)):
        run = tmp_path / name
        run.mkdir()
        protocol = {"dataset": "mnist", "feature_net_sha256": "abc", "samples": samples}
        quality = {"fd_lenet": 3.0, "floor": {"fd_lenet": 0.4}, "protocol": protocol}
        (run / "eval.json").write_text(json.dumps({"quality": quality}))
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "evaluated with 1000 samples, the first run with 10000" in capsys.readouterr().err


def test_compare_refuses_runs_without_eval_json(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["compare", str(tmp_path / "run")]) == 2
    assert "genzoo evaluate" in capsys.readouterr().err


def test_cli_evaluate_measures_quality_by_default_and_prints_the_floor_row(tiny_vae_run, tmp_path, capsys):
    run = Path(shutil.copytree(tiny_vae_run, tmp_path / "run"))
    assert main(["evaluate", str(run), "--samples", "500"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["run", "FD-lenet"] and lines[2].startswith("real data (floor)")
    assert lines[3].startswith("run ")  # this run's row, under the floor's
    sections = json.loads((run / "eval.json").read_text())
    assert {"quality", "codes", "posterior"} <= sections.keys()
    assert sections["quality"]["protocol"]["samples"] == 500
    assert sections["quality"]["protocol"]["real_floor"] == "500 train vs 10,000 test"
    assert sections["quality"]["step"] == 16  # the checkpoint the figures describe
    # Trained on after the evaluation: compare names the step the figures are from.
    genzoo.resume(run, epochs=3, verbose=False)
    assert main(["compare", str(run)]) == 0
    assert "run (step 16 of 24)" in capsys.readouterr().out


def test_evaluate_refuses_a_sampler_with_no_quality(tiny_vae_run, capsys):
    assert main(["evaluate", str(tiny_vae_run), "--sampler", "gmm", "--no-quality"]) == 2
    assert "drop one of the two" in capsys.readouterr().err


def test_the_reference_is_cached_between_processes_and_never_changes_a_figure(tiny_vae_run, monkeypatch):
    from genzoo.evaluate import quality

    model = genzoo.load(tiny_vae_run)
    data = load_dataset("mnist", train_size=600, test_size=600)
    calls = []
    extract = quality.extract
    monkeypatch.setattr(quality, "extract", lambda net, images: calls.append(len(images)) or extract(net, images))

    def fresh_process_figures(**kwargs):
        quality._REFERENCES.clear()  # what a new process starts with
        calls.clear()
        section = evaluate_quality(model, data, **kwargs)["quality"]
        return {k: v for k, v in section.items() if k != "seconds"}

    computed = fresh_process_figures(samples=500)
    assert calls == [600, 500, 500]  # test set, the floor's training images, the samples
    (stored,) = (Path(quality.cache_dir()).parent / "quality-reference").glob("*.safetensors")
    assert fresh_process_figures(samples=500) == computed and calls == [500]  # read back: only the samples
    stored.write_bytes(stored.read_bytes()[:1000])  # torn: ignored, recomputed, rewritten
    assert fresh_process_figures(samples=500) == computed and calls == [600, 500, 500]
    assert fresh_process_figures(samples=500) == computed and calls == [500]
    fresh_process_figures(samples=400)  # another protocol: another file
    assert calls == [600, 400, 400] and len(list(stored.parent.glob("*.safetensors"))) == 2
    monkeypatch.setattr(quality, "KEEP_REFERENCES", 1)
    fresh_process_figures(samples=300)  # only the newest files are kept
    assert len(list(stored.parent.glob("*.safetensors"))) == 1 and not stored.exists()
