"""Training checkpoints: a loadable preset plus optimizer state and loop state, written atomically.

Layout: RUN/checkpoints/step-00000100/ holds the preset files, `optimizer.weights.h5`,
`rng_state.npz` (dropout random generators) and `state.json` (step, data stream position); with
--lora-rank, the preset files hold the base weights and `adapter.lora.h5` the adapters. A checkpoint directory
only ever appears under its final name once
complete (staged in a hidden sibling, fsynced, renamed), so a crash at any moment
leaves the previous checkpoints intact. With --keep-best, RUN/checkpoints/best-00000080/ holds
the preset files of the best evaluation so far and a `state.json` naming its step and loss.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from mlm_cli.atomic_files import staging_directory
from mlm_cli.errors import MlmError, PresetError

CHECKPOINT_PATTERN = re.compile(r"^step-(\d{8})$")
BEST_PATTERN = re.compile(r"^best-(\d{8})$")  # --keep-best: the weights of the best evaluation so far
STATE_FILE = "state.json"
OPTIMIZER_FILE = "optimizer.weights.h5"
RNG_FILE = "rng_state.npz"
SEED_STATE_SUFFIX = "seed_generator_state"


def checkpoint_root(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if CHECKPOINT_PATTERN.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _save_optimizer(optimizer, path: Path) -> None:
    from mlm_cli.models.preset.h5_weights import write_arrays

    arrays = {f"optimizer/vars/{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}
    write_arrays(path, arrays, {"optimizer/vars": optimizer.name})


def _load_optimizer(optimizer, path: Path, trainable_variables) -> None:
    import h5py

    from mlm_cli.models.preset.h5_weights import read_shapes

    optimizer.build(trainable_variables)
    variables = optimizer.variables
    shapes = read_shapes(path)
    expected = {f"optimizer/vars/{i}": tuple(v.shape) for i, v in enumerate(variables)}
    if set(shapes) != set(expected) or any(shapes[k][0] != shape for k, shape in expected.items()):
        raise PresetError(f"{path}: optimizer state does not match this model and optimizer",
                          hint="resume with the same preset and options")
    with h5py.File(path, "r") as f:
        for i, variable in enumerate(variables):
            variable.assign(np.asarray(f[f"optimizer/vars/{i}"][()]).astype(variable.dtype))


def _seed_generator_states(model) -> list:
    """Keras seed-generator state variables (dropout randomness on jax; counters on torch), in model order."""
    return [v for v in model.non_trainable_variables if v.path.endswith(SEED_STATE_SUFFIX)]


def capture_rng_state(model) -> dict[str, np.ndarray]:
    """Every random generator training draws from, so a resumed run draws the same numbers."""
    import keras

    arrays = {f"seed_generator/{i}": np.asarray(v.numpy()) for i, v in enumerate(_seed_generator_states(model))}
    if keras.backend.backend() == "torch":
        import torch

        arrays["torch/cpu"] = torch.get_rng_state().numpy()
        if torch.cuda.is_available():
            for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
                arrays[f"torch/cuda/{index}"] = cuda_state.numpy()
    return arrays


def _save_rng_state(model, path: Path) -> None:
    with open(path, "wb") as f:
        np.savez(f, **capture_rng_state(model))
        f.flush()
        os.fsync(f.fileno())


def restore_rng_state(checkpoint: Path, model) -> bool:
    """Put back the generators saved with `checkpoint`; False when it has none (older checkpoints)."""
    import keras

    path = checkpoint / RNG_FILE
    if not path.is_file():
        return False
    expected = capture_rng_state(model)
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as error:
        raise PresetError(f"{path}: unreadable random-generator state ({error})",
                          hint="delete that checkpoint to resume from the one before") from None
    if set(arrays) != set(expected) or any(arrays[k].shape != v.shape or arrays[k].dtype != v.dtype for k,
                                           v in expected.items()):
        raise PresetError(f"{path}: random-generator state does not match this model and backend",
                          hint="resume with the same preset, options and backend")
    for index, variable in enumerate(_seed_generator_states(model)):
        variable.assign(arrays[f"seed_generator/{index}"])
    if keras.backend.backend() == "torch":
        import torch

        torch.set_rng_state(torch.from_numpy(arrays["torch/cpu"].copy()))
        cuda = sorted(k for k in arrays if k.startswith("torch/cuda/"))
        if cuda:
            torch.cuda.set_rng_state_all([torch.from_numpy(arrays[k].copy()) for k in cuda])
    return True


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


def _fsync_tree(directory: Path) -> None:
    """Flush every file and folder under `directory` to disk, so a rename publishes complete files."""
    for folder, _, files in os.walk(directory):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(run_dir: Path, model, state: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint `step-{state['step']}` atomically and prune to the newest `keep`."""

    def write(staging: Path) -> None:
        _save_optimizer(model.optimizer, staging / OPTIMIZER_FILE)
        _save_rng_state(model, staging / RNG_FILE)

    final = _write_atomically(run_dir, f"step-{int(state['step']):08d}", model, state, write)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def save_best(run_dir: Path, model, step: int, val_loss: float) -> Path:
    """--keep-best: the model's weights as `best-{step}` (a loadable preset), then no other best-* directory.

    Written before the previous best is removed, so one complete best is always on disk.
    """
    final = _write_atomically(run_dir, f"best-{step:08d}", model, {"step": step, "val_loss": val_loss})
    for other in checkpoint_root(run_dir).iterdir():
        if BEST_PATTERN.match(other.name) and other != final:
            shutil.rmtree(other, ignore_errors=True)
    return final


def best_weights(run_dir: Path, step: int) -> Path:
    """The best-{step} directory written by `save_best` (a one-line error if it is missing)."""
    found = checkpoint_root(run_dir) / f"best-{step:08d}"
    if not (found / STATE_FILE).is_file():
        raise MlmError(f"the weights of step {step} (the best evaluation) are missing from {found.parent}",
                       hint="publish without --keep-best, or resume from a checkpoint taken after that step")
    return found


def _write_atomically(run_dir: Path, name: str, model, state: dict[str, Any], write_more=None) -> Path:
    """RUN/checkpoints/NAME: the model's preset files, whatever `write_more(staging)` adds, state.json; atomic."""
    from mlm_cli.models.lora import lora_settings
    from mlm_cli.models.preset.saver import write_preset_files
    from mlm_cli.workflows.lora_training import ADAPTER_FILE

    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    staging = staging_directory(root, f".{final.name}.partial-")
    try:
        write_preset_files(model, staging)
        if lora_settings(model.backbone) is not None:  # the base weights above, the adapters beside them
            model.backbone.save_lora_weights(staging / ADAPTER_FILE)
        if write_more is not None:
            write_more(staging)
        _write_json(staging / STATE_FILE, state)
        _fsync_tree(staging)
        if final.exists():
            shutil.rmtree(final)
        os.rename(staging, final)
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise MlmError(f"could not write checkpoint {final}: {error.strerror or error}",
                       hint="check free disk space and permissions") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def read_state(checkpoint: Path) -> dict[str, Any]:
    try:
        return json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PresetError(f"{checkpoint / STATE_FILE}: unreadable checkpoint state ({error})") from None


def restore_optimizer(checkpoint: Path, model) -> None:
    _load_optimizer(model.optimizer, checkpoint / OPTIMIZER_FILE, model.trainable_variables)


def clean_partial_checkpoints(run_dir: Path) -> None:
    """Remove staging directories left behind by a crash mid-write."""
    root = checkpoint_root(run_dir)
    if root.is_dir():
        for pattern in (".step-*.partial-*", ".best-*.partial-*"):
            for leftover in root.glob(pattern):
                shutil.rmtree(leftover, ignore_errors=True)
