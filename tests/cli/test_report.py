"""`mlm report RUN_DIR`: the summary agrees with metrics.jsonl, training.png is a real plot, bad runs are one error
line.
"""

from __future__ import annotations

import json
import math
import statistics
import struct

import numpy as np
import pytest

from tests.support.cli import UNREACHABLE, run_mlm

pytestmark = pytest.mark.run_once  # the training subprocess picks its backend; reports and plots do not depend on it

TRAIN_BLUE = (0x1F, 0x77, 0xB4)
VALIDATION_RED = (0xD6, 0x27, 0x28)
LEARNING_RATE_GREEN = (0x2C, 0xA0, 0x2C)


def strict_json(text: str):
    """Parse JSON that must be standard (no NaN or Infinity)."""

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def read_records(run_dir) -> tuple[list[dict], list[dict]]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if r["type"] == "train"], [r for r in records if r["type"] == "eval"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_preset, corpus_files):
    """A real 12-step run with evaluations at steps 6 and 12."""
    root = tmp_path_factory.mktemp("report")
    output = root / "run"
    env = {"MLM_CACHE_DIR": str(root / "cache"), "KAGGLE_API_ENDPOINT": UNREACHABLE, "HF_ENDPOINT": UNREACHABLE}
    done = run_mlm(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"),
        "--validation-data", str(corpus_files / "heldout.txt"), "--output", str(output), "--max-steps", "12",
        "--log-every", "2", "--eval-every", "6", "--eval-batches", "2", "--sequence-length", "32", "--batch-size", "4",
        env=env,
    )
    assert done.code == 0, done.stderr
    return output


def test_json_summary_matches_metrics(mlm, trained_run, tiny_preset):
    (trained_run / "training.png").unlink(missing_ok=True)
    done = mlm("report", str(trained_run), "--json")
    assert done.code == 0, done.stderr
    summary = strict_json(done.stdout)  # stdout is only the JSON
    train, evals = read_records(trained_run)
    assert [r["step"] for r in train] == [2, 4, 6, 8, 10, 12] and [r["step"] for r in evals] == [6, 12]

    assert summary["preset"] == str(tiny_preset)
    assert summary["status"] == "finished" and summary["checkpoint_step"] == 12
    assert summary["steps"] == 12 and summary["max_steps"] == 12 and summary["epochs"] == train[-1]["epoch"]
    assert summary["tokens_seen"] == train[-1]["tokens_seen"] > 0
    assert summary["train_seconds"] == pytest.approx(train[-1]["elapsed_seconds"])
    assert summary["median_tokens_per_second"] == pytest.approx(
        statistics.median(r["tokens_per_second"] for r in train))
    assert summary["first_loss"] == pytest.approx(train[0]["loss"]) and summary["final_loss"] == pytest.approx(
        train[-1]["loss"])
    best = min(train, key=lambda r: r["loss"])
    assert summary["best_loss"] == pytest.approx(best["loss"]) and summary["best_loss_step"] == best["step"]
    peak = max(train, key=lambda r: r["learning_rate"])
    assert summary["peak_learning_rate"] == pytest.approx(peak["learning_rate"]) and summary[
        "peak_learning_rate_step"] == peak["step"]
    largest = max(train, key=lambda r: r["gradient_norm"])
    assert summary["max_grad_norm"] == 1.0 and train[-1]["gradient_norm"] > 0
    assert summary["final_gradient_norm"] == pytest.approx(train[-1]["gradient_norm"])
    assert summary["largest_gradient_norm"] == pytest.approx(largest["gradient_norm"]) and summary[
        "largest_gradient_norm_step"] == largest["step"]
    assert summary["final_val_step"] == 12
    for name in ("loss", "accuracy", "perplexity"):
        assert summary[f"final_val_{name}"] == pytest.approx(evals[-1][f"val_{name}"])
    best_val = min(evals, key=lambda r: r["val_loss"])
    assert summary["best_val_loss"] == pytest.approx(best_val["val_loss"]) and summary[
        "best_val_loss_step"] == best_val["step"]
    assert summary["best_val_perplexity"] == pytest.approx(min(r["val_perplexity"] for r in evals))
    assert summary["best_val_accuracy"] == pytest.approx(max(r["val_accuracy"] for r in evals))

    assert summary["plot"] == str(trained_run / "training.png")
    assert str(trained_run / "training.png") in done.stderr
    assert (trained_run / "training.png").is_file()


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def has_colour(pixels: np.ndarray, rgb: tuple[int, int, int], at_least: int = 50) -> bool:
    close = np.all(np.abs(pixels[..., :3] - np.array(rgb) / 255.0) < 0.02, axis=-1)
    return int(close.sum()) >= at_least


def test_training_png_is_a_plot_of_the_run(mlm, trained_run):
    import matplotlib.image

    plot = trained_run / "training.png"
    plot.unlink(missing_ok=True)
    done = mlm("report", str(trained_run), "--json")
    assert done.code == 0, done.stderr
    width, height = png_size(plot)
    assert 400 <= width <= 3000 and 400 <= height <= 3000
    pixels = matplotlib.image.imread(plot)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05  # not blank
    assert has_colour(pixels, TRAIN_BLUE) and has_colour(pixels, VALIDATION_RED) and has_colour(pixels,
                                                                                                LEARNING_RATE_GREEN)
    assert not [p.name for p in trained_run.iterdir() if p.name.startswith(".training.png")]  # no temporary left behind


def test_table_without_plot(mlm, trained_run):
    plot = trained_run / "training.png"
    plot.unlink(missing_ok=True)
    done = mlm("report", str(trained_run), "--no-plot")
    assert done.code == 0, done.stderr
    assert not plot.exists()
    rows = {line.split("  ")[0]: line for line in done.stdout.splitlines()}
    train, evals = read_records(trained_run)
    assert "finished" in rows["status"]
    assert "12 of 12" in rows["steps"]
    assert f"{train[0]['loss']:.4f} -> {train[-1]['loss']:.4f}" in rows["train loss"]
    assert f"{evals[-1]['val_loss']:.4f} (step 12)" in rows["validation loss"]
    assert f"{evals[-1]['val_perplexity']:.2f} (step 12)" in rows["validation perplexity"]
    assert "plot" not in rows


def write_run(run_dir, records: list, config: dict | None = None, extra_lines: str = "") -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "train_config.json").write_text(json.dumps(config or {"preset": "bert_tiny_scratch", "max_steps": 100}))
    lines = "".join(json.dumps(r) + "\n" for r in records)  # json.dumps writes NaN like train.py does
    (run_dir / "metrics.jsonl").write_text(lines + extra_lines)


def train_record(step: int, loss: float, accuracy: float = 0.1, lr: float = 1e-4) -> dict:
    return {"type": "train", "step": step, "epoch": 1, "loss": loss, "accuracy": accuracy, "learning_rate": lr,
            "tokens_per_second": 100.0 * step, "tokens_seen": 64 * step, "elapsed_seconds": 0.5 * step}


def eval_record(step: int, loss: float) -> dict:
    return {"type": "eval", "step": step, "val_loss": loss, "val_accuracy": 0.2, "val_perplexity": math.exp(loss)}


def test_unfinished_run_with_nan_and_a_cut_short_line(mlm, tmp_path):
    run = tmp_path / "run"
    write_run(run, [train_record(2, 5.0, accuracy=float("nan")), train_record(4, float("nan")),
                    train_record(6, 4.0, lr=3e-4)],
              extra_lines='{"type": "train", "step": 8, "lo')
    checkpoint = run / "checkpoints" / "step-00000004"
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.json").write_text(json.dumps({"step": 4}))
    done = mlm("report", str(run), "--json")
    assert done.code == 0, done.stderr
    summary = strict_json(done.stdout)
    assert summary["status"] == "stopped" and summary["checkpoint_step"] == 4
    assert summary["steps"] == 6 and summary["max_steps"] == 100
    assert summary["first_loss"] == 5.0 and summary["final_loss"] == 4.0 and summary["best_loss"] == 4.0 and summary[
        "best_loss_step"] == 6
    assert summary["peak_learning_rate"] == 3e-4
    assert summary["final_val_loss"] is None and summary["best_val_loss"] is None and summary["eval_records"] == 0
    assert png_size(run / "training.png")[0] > 0

    done = mlm("report", str(run))
    assert done.code == 0, done.stderr
    assert "last checkpoint at step 4" in done.stdout and "--resume" in done.stdout


@pytest.mark.parametrize(
    "records",
    [
        pytest.param([eval_record(10, 3.0), eval_record(20, 2.5)], id="eval-only"),
        pytest.param([train_record(1, 6.0)], id="single-point"),
        pytest.param([train_record(1, float("nan")), train_record(2, float("nan"))], id="all-nan"),
    ],
)
def test_sparse_runs_still_report_and_plot(mlm, tmp_path, records):
    import matplotlib.image

    run = tmp_path / "run"
    write_run(run, records)
    done = mlm("report", str(run), "--json")
    assert done.code == 0, done.stderr
    summary = strict_json(done.stdout)
    assert summary["steps"] == max(r["step"] for r in records)
    pixels = matplotlib.image.imread(run / "training.png")
    assert pixels[..., :3].std() > 0.05


def test_single_point_is_visible(tmp_path):
    import matplotlib.image

    from mlm_cli.workflows.training_plot import draw_training_plot

    write_run(tmp_path, [train_record(1, 6.0)])
    pixels = matplotlib.image.imread(draw_training_plot(tmp_path))
    width = pixels.shape[1]
    middle = pixels[:, int(width * 0.4):int(width * 0.6)]  # a lone point sits mid-axis; legends sit at the edge
    assert has_colour(middle, TRAIN_BLUE, at_least=20) and has_colour(middle, LEARNING_RATE_GREEN, at_least=20)


def test_failed_plot_keeps_the_old_one(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from mlm_cli.workflows.training_plot import draw_training_plot

    write_run(tmp_path, [train_record(1, 6.0), train_record(2, 5.0)])
    (tmp_path / "training.png").write_bytes(b"old plot")

    def broken(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError):
        draw_training_plot(tmp_path)
    assert (tmp_path / "training.png").read_bytes() == b"old plot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl", "train_config.json", "training.png"]


def test_no_metrics_is_bad_input(tmp_path):
    from mlm_cli.errors import BadInputError
    from mlm_cli.workflows.training_plot import draw_training_plot

    write_run(tmp_path, [], extra_lines="\n")
    with pytest.raises(BadInputError, match="no metrics yet"):
        draw_training_plot(tmp_path)
    assert not (tmp_path / "training.png").exists()


def one_error_line(done, *fragments: str) -> None:
    assert done.code == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_run_directories_are_one_error_line(mlm_in_process, tmp_path):
    mlm = mlm_in_process
    one_error_line(mlm("report", str(tmp_path / "missing")), "missing", "no such directory", "mlm train")
    (tmp_path / "notes.txt").write_text("hello")
    one_error_line(mlm("report", str(tmp_path / "notes.txt")), "not a directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_error_line(mlm("report", str(empty)), "not an mlm training run", "train_config.json")
    started = tmp_path / "started"
    write_run(started, [])
    one_error_line(mlm("report", str(started)), "no metrics yet", "--log-every")
    broken = tmp_path / "broken"
    write_run(broken, [train_record(1, 6.0)])
    (broken / "train_config.json").write_text("{not json")
    one_error_line(mlm("report", str(broken), "--no-plot"), "train_config.json", "unreadable")
