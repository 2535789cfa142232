"""Choose the Keras backend once per process, before keras is imported."""

from __future__ import annotations

import os
import sys

from mlm_cli.errors import BadInputError

SUPPORTED_BACKENDS = ("torch", "jax")
# PyTorch is the default: with mixed_bfloat16 it trains fastest on CPUs with bf16 matrix
# instructions, where XLA gains nothing from bf16 (bench/train_speed.py, bert_small on
# 2 AVX-512 BF16 cores: 4,851 vs JAX's best 1,885 tokens/s). JAX stays first-class and
# is slightly faster in pure float32.
DEFAULT_BACKEND = "torch"


def requested_backend(name: str | None = None) -> str:
    """The backend to use: `name`, else KERAS_BACKEND, else the project default."""
    chosen = name or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    if chosen not in SUPPORTED_BACKENDS:
        raise BadInputError(
            f"unsupported backend {chosen!r}",
            hint=f"use one of: {', '.join(SUPPORTED_BACKENDS)} (flag --backend or KERAS_BACKEND)",
        )
    return chosen


def configure_backend(name: str | None = None) -> str:
    """Set KERAS_BACKEND for this process and return it.

    Must run before keras is imported; if keras is already loaded with a different
    backend, that is an error rather than a silent mismatch.
    """
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
    if (running or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND) == "jax":
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
