"""End to end through the real CLI in a subprocess: train -> evaluate -> predict, and its errors."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import make_split_folder, write_bad_corpus
from clirun import vf


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    make_split_folder(data, train=12, validation=5)
    bad = write_bad_corpus(data / "train" / "red")
    proc = vf("train", data, "--epochs", "1", "--image-size", "24", "--batch-size", "8", "--project", root / "runs",
              "--name", "e2e")
    return root, data, bad, proc


def test_train_with_bad_files_finishes_and_lists_them(cli_run):
    root, data, bad, proc = cli_run
    assert proc.returncode == 0, proc.stderr
    assert f"skipped {len(bad)} file(s):" in proc.stdout
    for name in bad:
        assert name in proc.stdout
    run = root / "runs" / "e2e"
    report = json.loads((run / "data_report.json").read_text())
    assert report["skipped_count"] == len(bad)
    assert {s["path"].rsplit("/", 1)[-1] for s in report["skipped"]} == set(bad)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["validation"]["images"] == 10
    assert 0.0 <= metrics["validation"]["accuracy"] <= 1.0
    assert "Traceback" not in proc.stderr
    assert (data / "train" / "red" / "empty.jpg").stat().st_size == 0  # sources untouched


def test_evaluate_then_predict(cli_run):
    root, data, _, _ = cli_run
    run = root / "runs" / "e2e"
    ev = vf("evaluate", run, data / "validation")
    assert ev.returncode == 0, ev.stderr
    written = json.loads((run / "evaluations" / "validation" / "metrics.json").read_text())
    assert f"accuracy {written['accuracy']:.4f}" in ev.stdout and written["images"] == 10
    assert (run / "evaluations" / "validation" / "confusion_matrix.png").is_file()

    pj = vf("predict", run, data / "validation" / "red", str(data / "validation" / "green" / "green_00*.png"),
            "--format", "json", "--top-k", "2")
    assert pj.returncode == 0, pj.stderr
    rows = json.loads(pj.stdout)
    assert len(rows) == 10 and all(r["error"] is None and len(r["top"]) == 2 for r in rows)
    assert all(r["label"] in ("red", "green") for r in rows)

    bad = root / "not_image.png"
    bad.write_text("hello")
    pc = vf("predict", run, bad, data / "validation" / "red" / "red_000.png", "--format", "csv")
    assert pc.returncode == 1
    table = list(csv.DictReader(io.StringIO(pc.stdout)))
    assert table[0]["path"] == str(bad) and "not an image" in table[0]["error"]
    assert table[1]["label"] in ("red", "green") and table[1]["error"] == ""
    assert "1 of 2 image(s) could not be predicted" in pc.stderr

    pt = vf("predict", run, data / "validation" / "red" / "red_000.png")
    assert pt.returncode == 0 and pt.stdout.startswith(str(data / "validation" / "red" / "red_000.png"))


@pytest.mark.parametrize("args,message", [
    (["train", "/nonexistent/folder"], "error: Data folder /nonexistent/folder does not exist."),
    (["train", "{data}", "--model", "smal_cnn"], "Did you mean 'small_cnn'?"),
    (["train", "{data}", "--epochs", "zero"], "error: config: epochs must be int"),
    (["evaluate", "/nonexistent/run", "{data}"], "error: No model file at"),
    (["train", "--resume", "/nonexistent/run"], "is not a run folder"),
    (["train", "--resume", "/nonexistent/run", "--config", "x.yaml"], "drop --config"),
])
def test_bad_input_is_one_line_and_nonzero(cli_run, args, message):
    _, data, _, _ = cli_run
    proc = vf(*[a.format(data=data) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_config_file_unknown_key(tmp_path, cli_run):
    _, data, _, _ = cli_run
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1\nbatchsize: 4\n")
    proc = vf("train", data, "--config", cfg)
    assert proc.returncode == 2 and "Unknown setting 'batchsize'. Did you mean 'batch_size'?" in proc.stderr


def test_models_and_help():
    proc = vf("models", "--image-size", "64", "--format", "json")
    assert proc.returncode == 0
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["seed_cnn"]["input"] == "64x64x3" and rows["small_cnn"]["params"] > 100_000
    gan = {r["name"]: r for r in json.loads(vf("models", "--format", "json", "--task", "gan").stdout)}
    assert set(gan) == {name for name, r in rows.items() if "gan" in r["task"].split("/")} and "sngan" in gan
    assert gan["sngan"] == rows["sngan"]
    bad = vf("models", "--task", "clasification")
    assert bad.returncode == 2 and "Did you mean 'classification'" in bad.stderr
    help_text = vf("train", "--help").stdout
    for flag in ("--val-split", "--lr-schedule", "--label-smoothing", "--class-weight", "--resume", "--config"):
        assert flag in help_text


def test_the_console_entry_point_in_its_own_process(tmp_path):
    """The real `python -m visionflow` process: help, and the exit code and one line of a bad call."""
    from clirun import entry_point

    help_text = entry_point("evaluate", "--help")
    assert help_text.returncode == 0 and "--slices" in help_text.stdout
    missing = entry_point("evaluate", tmp_path / "no_run", tmp_path / "no_data")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
