"""Choose the Keras backend once per process, before keras is imported.

`--backend auto` (the default) picks by the machine's accelerator, from what /dev and /proc
show, without importing either framework (start-up stays fast): jax on NVIDIA GPUs (when
jax has CUDA) and TPUs, where XLA compiles the whole step; torch on CPUs, where it is the
faster with bf16. The README's Performance section has the table and the figures behind it.
KERAS_BACKEND, when set, is the user's choice and wins over `auto`; so does `--backend`.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys

from mlm_cli.errors import BadInputError

SUPPORTED_BACKENDS = ("torch", "jax")
AUTO = "auto"
DEVICE_KINDS = ("nvidia-gpu", "tpu", "cpu")
DEVICE_KIND_VARIABLE = "MLM_DEVICE_KIND"  # what `auto` takes the machine to be, when its own look would be wrong
JAX_CUDA_PLUGINS = ("jax_cuda13_plugin", "jax_cuda12_plugin")


def device_kind() -> str:
    """The machine's accelerator: nvidia-gpu, tpu or cpu (MLM_DEVICE_KIND overrides the look)."""
    forced = os.environ.get(DEVICE_KIND_VARIABLE)
    if forced:
        if forced not in DEVICE_KINDS:
            raise BadInputError(f"{DEVICE_KIND_VARIABLE}={forced!r} is not a device kind",
                                hint=f"use one of: {', '.join(DEVICE_KINDS)}, or unset it")
        return forced
    if glob.glob("/dev/nvidia[0-9]*") or glob.glob("/proc/driver/nvidia/gpus/*"):
        return "nvidia-gpu"
    if glob.glob("/dev/accel[0-9]*") or os.environ.get("TPU_ACCELERATOR_TYPE"):
        return "tpu"
    return "cpu"


def installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def jax_has_cuda() -> bool:
    return any(importlib.util.find_spec(plugin) is not None for plugin in JAX_CUDA_PLUGINS)


def auto_backend() -> str:
    """The backend the README's table gives for this machine, among those installed."""
    kind = device_kind()
    if kind == "tpu" or (kind == "nvidia-gpu" and jax_has_cuda()):
        preferred = "jax"
    else:
        preferred = "torch"
    if installed(preferred):
        return preferred
    other = next(b for b in SUPPORTED_BACKENDS if b != preferred)
    return other if installed(other) else preferred


def requested_backend(name: str | None = None) -> str:
    """The backend to use: `name`, else KERAS_BACKEND, else the one `auto` picks for this machine."""
    chosen = name or os.environ.get("KERAS_BACKEND") or AUTO
    if chosen == AUTO:
        return auto_backend()
    if chosen not in SUPPORTED_BACKENDS:
        raise BadInputError(
            f"unsupported backend {chosen!r}",
            hint=f"use one of: {AUTO}, {', '.join(SUPPORTED_BACKENDS)} (flag --backend or KERAS_BACKEND)",
        )
    return chosen


def configure_backend(name: str | None = None) -> str:
    """Set KERAS_BACKEND for this process and return it.

    Must run before keras is imported; if keras is already loaded with a different
    backend, that is an error rather than a silent mismatch.
    """
    if name in (None, AUTO) and not os.environ.get("KERAS_BACKEND") and "keras" in sys.modules:
        running = sys.modules["keras"].backend.backend()
        if running in SUPPORTED_BACKENDS:
            return running  # nothing was asked for: keep the backend keras already runs
    chosen = requested_backend(name)
    if chosen == "jax":
        keep_xla_rematerialisation()  # harmless once jax's backend runs; needed before
    if "keras" in sys.modules:
        import keras

        active = keras.backend.backend()
        if active != chosen:
            raise BadInputError(
                f"keras is already running on the {active!r} backend, cannot switch to {chosen!r}",
                hint="choose the backend before importing keras (KERAS_BACKEND)",
            )
        return chosen
    os.environ["KERAS_BACKEND"] = chosen
    return chosen


def prepare_xla_flags() -> None:
    """On the jax backend (chosen or already running), set the XLA flags mlm relies on."""
    running = sys.modules["keras"].backend.backend() if "keras" in sys.modules else None
    if (running or requested_backend()) == "jax":
        keep_xla_rematerialisation()


DISABLE_PASSES = "--xla_disable_hlo_passes="
CSE_BARRIER_EXPANDER = "cse_barrier_expander"


def keep_xla_rematerialisation() -> None:
    """Keep XLA's CPU compiler from undoing `jax.checkpoint` (--gradient-checkpointing).

    XLA's CPU pipeline strips optimisation barriers (its cse_barrier_expander pass) before
    common-subexpression elimination, which then merges each recomputation back into the
    forward pass: the compiled step keeps every activation as if nothing were checkpointed
    (a bert_small backbone's gradient at 8 x 512 compiles to 2,184 MiB of temporaries,
    2,064 checkpointed, 936 checkpointed with this pass off). Programs without barriers are
    unaffected. XLA reads its flags when jax starts its backend, so this runs before that.
    """
    flags = os.environ.get("XLA_FLAGS", "").split()
    for index, flag in enumerate(flags):
        if flag.startswith(DISABLE_PASSES):
            passes = flag[len(DISABLE_PASSES):].split(",")
            if CSE_BARRIER_EXPANDER not in passes:
                flags[index] = DISABLE_PASSES + ",".join([*filter(None, passes), CSE_BARRIER_EXPANDER])
            break
    else:
        flags.append(DISABLE_PASSES + CSE_BARRIER_EXPANDER)
    os.environ["XLA_FLAGS"] = " ".join(flags)
