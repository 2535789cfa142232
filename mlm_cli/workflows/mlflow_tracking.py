"""`mlm train --mlflow`: the run's parameters, metrics, plot, model card and final preset in MLflow.

Where it logs: `--mlflow-uri`, else `MLFLOW_TRACKING_URI`, else a file store inside the run
directory (RUN/mlruns; MLflow 3 keeps file stores only when `MLFLOW_ALLOW_FILE_STORE` is
set, which mlm sets for its own default). The experiment is `MLFLOW_EXPERIMENT_NAME` or
"mlm"; the MLflow run is named after the run directory, and its id is kept in
RUN/mlflow_run.json so `--resume` goes on logging into the same MLflow run. MLflow is an
optional extra (`pip install 'mlm-cli[mlflow]'`), imported only here.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from mlm_cli.atomic_files import write_text_atomic
from mlm_cli.errors import BadInputError, MlmError

RUN_ID_FILE = "mlflow_run.json"
DEFAULT_EXPERIMENT = "mlm"
PARAM_VALUE_LIMIT = 6000  # MLflow refuses longer parameter values
RUN_FILES = ("training.png", "README.md", "train_config.json", "metrics.jsonl")


def tracking_uri(explicit: str | None, run_dir: Path) -> str:
    """--mlflow-uri, else MLFLOW_TRACKING_URI, else a file store in the run directory."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or (Path(run_dir) / "mlruns").absolute().as_uri()


def require_mlflow() -> None:
    """A one-line error (exit 2) when MLflow is not installed, before anything is written."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise BadInputError("--mlflow needs MLflow, which is not installed",
                            hint="pip install 'mlm-cli[mlflow]' (or mlflow)") from None


SERVER_CHECK_TIMEOUT_S = 10.0  # one request, no retries: MLflow's own client retries for minutes


def check_tracking_server(uri: str) -> None:
    """A one-line error (exit 1) when an http(s) tracking server cannot be reached or refuses access, before the run
    writes anything; other stores (a file store, databricks) are left to MLflow's client."""
    from urllib.error import HTTPError, URLError
    from urllib.request import urlopen

    if not uri.startswith(("http://", "https://")):
        return
    probe = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search?max_results=1"
    hint = "check --mlflow-uri / MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_TOKEN), or train without --mlflow"
    try:
        with urlopen(probe, timeout=SERVER_CHECK_TIMEOUT_S):  # noqa: S310 - an http(s) URL, checked above
            pass
    except HTTPError as error:
        if error.code in (401, 403):
            raise MlmError(f"the MLflow tracking server at {uri} refused access (HTTP {error.code})",
                           hint=hint) from None
        # Any other answer means a server is there: MLflow's client reports what it says.
    except (URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise MlmError(f"could not reach the MLflow tracking server at {uri}: {reason}", hint=hint) from None


class MlflowTracker:
    """One MLflow run, fed by the training run (process 0 only)."""

    def __init__(self, uri: str, run_dir: Path, config: dict[str, Any], resume: bool):
        require_mlflow()
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        self._metric, self._param = Metric, Param
        if uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses file stores otherwise
        self.uri = uri
        self.run_dir = Path(run_dir)
        self.disabled_because: str | None = None
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.run_id = self._resumed_run() if resume else None
            if self.run_id is None:
                self.run_id = self._new_run(config)
            else:
                self.client.update_run(self.run_id, status="RUNNING")
        except MlmError:
            raise
        except Exception as error:  # noqa: BLE001 - any client or server failure is one line
            raise MlmError(f"could not start an MLflow run at {uri}: {_first_line(error)}",
                           hint="check --mlflow-uri / MLFLOW_TRACKING_URI, or train without --mlflow") from None

    def _resumed_run(self) -> str | None:
        path = self.run_dir / RUN_ID_FILE
        if not path.is_file():
            return None
        recorded = json.loads(path.read_text(encoding="utf-8"))
        return recorded["run_id"] if recorded.get("tracking_uri") == self.uri else None

    def _new_run(self, config: dict[str, Any]) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment is not None else self.client.create_experiment(name)
        run = self.client.create_run(experiment_id, run_name=self.run_dir.name,
                                     tags={"mlm.run_directory": str(self.run_dir), "mlm.preset": str(
                                         config.get("preset"))})
        params = [self._param(key, _param_text(value)) for key, value in sorted(config.items())
                  if value is not None and value != [] and key != "data_sources"]
        for first in range(0, len(params), 100):  # MLflow takes at most 100 parameters a call
            self.client.log_batch(run.info.run_id, params=params[first:first + 100])
        write_text_atomic(self.run_dir / RUN_ID_FILE, json.dumps({"tracking_uri": self.uri,
                                                                  "run_id": run.info.run_id}) + "\n")
        return run.info.run_id

    def log_record(self, record: dict[str, Any]) -> None:
        """One metrics.jsonl record: its numbers, at its step (a failure stops tracking, never training)."""
        if self.disabled_because is not None:
            return
        step = int(record.get("step", 0))
        stamp = int(time.time() * 1000)
        metrics = [self._metric(key, float(value), stamp, step) for key, value in record.items()
                   if key not in ("type", "step") and isinstance(value, (int, float)) and not isinstance(value, bool)
                   and math.isfinite(value)]
        if metrics:
            self._guarded(lambda: self.client.log_batch(self.run_id, metrics=metrics))

    def finish(self, preset_names: list[str]) -> None:
        """The plot, card, config, metrics and the published preset (`preset_names` in the run directory) as
        artifacts; the run marked finished."""
        def upload():
            for name in RUN_FILES:
                if (self.run_dir / name).is_file():
                    self.client.log_artifact(self.run_id, str(self.run_dir / name))
            for name in preset_names:
                path = self.run_dir / name
                if path.is_dir():
                    self.client.log_artifacts(self.run_id, str(path), artifact_path=f"preset/{name}")
                else:
                    self.client.log_artifact(self.run_id, str(path), artifact_path="preset")
            self.client.set_terminated(self.run_id, "FINISHED")

        self._guarded(upload)

    def end(self, status: str) -> None:
        """The run stopped early: "KILLED" (interrupted, resumable) or "FAILED"."""
        self._guarded(lambda: self.client.set_terminated(self.run_id, status))

    def _guarded(self, call) -> None:
        if self.disabled_because is not None:
            return
        try:
            call()
        except Exception as error:  # noqa: BLE001 - tracking must never lose a training run
            self.disabled_because = f"MLflow logging stopped: {_first_line(error)}"


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= PARAM_VALUE_LIMIT else text[:PARAM_VALUE_LIMIT - 3] + "..."


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
