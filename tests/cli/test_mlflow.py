"""`mlm train --mlflow` against a real local MLflow file store, read back with MLflow's own client."""

from __future__ import annotations

import http.server
import json
import shutil
import sys
import threading

import pytest

from tests.support.cli import UNREACHABLE, run_mlm_in_process

pytestmark = pytest.mark.run_once  # logging is the same on every backend

mlflow = pytest.importorskip("mlflow")


def train(tiny_preset, corpus_files, tmp_path, *extra: str, env: dict | None = None):
    return run_mlm_in_process(
        "train", "--preset", str(tiny_preset), "--data", str(corpus_files / "train.txt"), "--output",
        str(tmp_path / "run"), "--max-steps", "4", "--batch-size", "2", "--sequence-length", "32", "--log-every", "1",
        "--save-every", "2", "--validation-data", str(corpus_files / "heldout.txt"), "--eval-every", "2",
        "--eval-batches", "1", *extra, env={"MLM_CACHE_DIR": str(tmp_path / "cache"), **(env or {})},
    )


def only_run(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("mlm")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def test_a_run_logs_params_metrics_plot_card_and_preset(tiny_preset, corpus_files, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    done = train(tiny_preset, corpus_files, tmp_path, "--mlflow")
    assert done.code == 0, done.stderr
    run_dir = tmp_path / "run"
    client, run = only_run((run_dir / "mlruns").as_uri())
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["preset"] == str(tiny_preset) and run.data.params["batch_size"] == "2"
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "loss")}
    assert logged == pytest.approx({r["step"]: r["loss"] for r in records if r["type"] == "train"})
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_loss")) == [2, 4]
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"training.png", "README.md", "train_config.json", "metrics.jsonl", "preset"} <= artifacts
    preset = {item.path for item in client.list_artifacts(run.info.run_id, "preset")}
    assert {"preset/config.json", "preset/model.weights.h5", "preset/task.json"} <= preset
    assert f"| experiment tracking | MLflow run `{run.info.run_id}` at `{(run_dir / 'mlruns').as_uri()}` |" in (
        run_dir / "README.md").read_text()
    report = run_mlm_in_process("report", str(run_dir), "--json", "--no-plot")
    assert json.loads(report.stdout)["mlflow_run"]["run_id"] == run.info.run_id
    downloaded = client.download_artifacts(run.info.run_id, "preset/model.weights.h5", str(tmp_path / "down"))
    assert open(downloaded, "rb").read() == (run_dir / "model.weights.h5").read_bytes()

    # --resume logs into the same MLflow run (trimmed back to the step-2 checkpoint, then finished again).
    for name in ("config.json", "model.weights.h5", "README.md"):
        (run_dir / name).unlink()
    shutil.rmtree(run_dir / "checkpoints" / "step-00000004")
    resumed = train(tiny_preset, corpus_files, tmp_path, "--mlflow", "--resume")
    assert resumed.code == 0, resumed.stderr
    _, again = only_run((run_dir / "mlruns").as_uri())
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"


def test_the_tracking_uri_comes_from_the_environment_or_the_flag(tiny_preset, corpus_files, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = (tmp_path / "shared-store").as_uri()
    done = train(tiny_preset, corpus_files, tmp_path, "--mlflow", env={"MLFLOW_TRACKING_URI": store})
    assert done.code == 0, done.stderr
    assert not (tmp_path / "run" / "mlruns").exists()
    assert only_run(store)[1].info.status == "FINISHED"

    flagged = (tmp_path / "flag-store").as_uri()
    shutil.rmtree(tmp_path / "run")
    done = train(tiny_preset, corpus_files, tmp_path, "--mlflow-uri", flagged, env={"MLFLOW_TRACKING_URI": store})
    assert done.code == 0, done.stderr
    assert only_run(flagged)[1].info.status == "FINISHED"


def test_without_mlflow_installed_the_option_is_one_line(tiny_preset, corpus_files, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # an import of it raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    monkeypatch.setitem(sys.modules, "mlflow.entities", None)
    done = train(tiny_preset, corpus_files, tmp_path, "--mlflow")
    assert done.code == 2 and "--mlflow needs MLflow" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


class RefusingTrackingServer(http.server.BaseHTTPRequestHandler):
    """A tracking server that answers every request with 401, as one does without the right token."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RefusingTrackingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_unreachable_or_refusing_server_is_one_line_before_anything_is_written(tiny_preset, corpus_files, tmp_path,
                                                                                   refusing_server):
    done = train(tiny_preset, corpus_files, tmp_path, "--mlflow-uri", UNREACHABLE)
    assert done.code == 1 and "could not reach the MLflow tracking server at " + UNREACHABLE in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()
    done = train(tiny_preset, corpus_files, tmp_path, "--mlflow", env={"MLFLOW_TRACKING_URI": refusing_server})
    assert done.code == 1 and "refused access (HTTP 401)" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
