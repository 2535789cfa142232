"""Which processes and devices a run uses, and how it spreads over them.

mlm invents no distributed system: several devices are driven through Keras's
distribution API (`DataParallel`, `ModelParallel`) on JAX, and several hosts through
`jax.distributed`. This module validates the user's choices, starts the multi-process
runtime and sets Keras's global distribution before any model variable exists.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from mlm_cli.errors import BadInputError, MlmError

DISTRIBUTE_CHOICES = ("auto", "none", "data", "model")
COORDINATOR_PATTERN = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:(\d{1,5})$")


@dataclass(frozen=True)
class ClusterOptions:
    """What the user asked for: `--distribute`, `--model-shards` and the multi-host trio."""

    distribute: str = "auto"  # auto: data parallel when jax sees more than one device
    model_shards: int | None = None  # devices holding one model replica (--distribute model); default: every local one
    coordinator: str | None = None  # HOST:PORT of process 0
    num_processes: int | None = None
    process_id: int | None = None

    @property
    def multi_process(self) -> bool:
        return bool(self.num_processes and self.num_processes > 1)


@dataclass(frozen=True)
class Cluster:
    """What the run got: this process's place among the processes, and the device mesh shape."""

    kind: str  # none | data | model
    process_id: int = 0
    num_processes: int = 1
    devices: int = 1
    local_devices: int = 1
    model_shards: int = 1

    @property
    def is_main(self) -> bool:
        """Process 0 alone writes presets, metrics and checkpoints."""
        return self.process_id == 0

    @property
    def multi_process(self) -> bool:
        return self.num_processes > 1

    @property
    def replicas(self) -> int:
        """Model replicas over all processes: each consumes `--batch-size` sequences per step."""
        return self.devices // self.model_shards

    @property
    def local_replicas(self) -> int:
        return self.local_devices // self.model_shards

    def global_batch_size(self, batch_size: int) -> int:
        return batch_size * self.replicas

    def process_batch_size(self, batch_size: int) -> int:
        """Rows this process feeds per step (its slice of the global batch)."""
        return batch_size * self.local_replicas


SINGLE_DEVICE = Cluster(kind="none")


def validate(options: ClusterOptions, backend: str) -> None:
    """Refuse unusable combinations before anything is loaded."""
    if options.distribute not in DISTRIBUTE_CHOICES:
        raise BadInputError(f"unknown --distribute {options.distribute!r}",
                            hint=f"use one of: {', '.join(DISTRIBUTE_CHOICES)}")
    trio = (options.coordinator, options.num_processes, options.process_id)
    if options.num_processes is not None and options.num_processes < 1:
        raise BadInputError("--num-processes must be at least 1")
    if options.multi_process or options.coordinator is not None:
        if any(value is None for value in trio):
            raise BadInputError("a multi-host run needs --coordinator, --num-processes and --process-id together",
                                hint="or the environment variables MLM_COORDINATOR, MLM_NUM_PROCESSES, MLM_PROCESS_ID")
        address = COORDINATOR_PATTERN.match(options.coordinator or "")
        if not address or not 0 < int(address.group(1)) < 65536:
            raise BadInputError(f"--coordinator {options.coordinator!r} is not HOST:PORT",
                                hint="e.g. --coordinator 10.0.0.1:1234 (the address of process 0)")
        if not 0 <= int(options.process_id) < int(options.num_processes):
            raise BadInputError(f"--process-id {options.process_id} is outside 0..{int(options.num_processes) - 1}",
                                hint="number the processes 0 to --num-processes minus 1")
    if options.model_shards is not None:
        if options.distribute != "model":
            raise BadInputError("--model-shards only applies with --distribute model")
        if options.model_shards < 1:
            raise BadInputError("--model-shards must be at least 1")
    if backend != "jax" and (options.distribute in ("data", "model") or options.multi_process):
        raise BadInputError(
            f"Keras distributes training over devices and hosts only on the jax backend, not {backend}",
            hint="add --backend jax (or drop --distribute / --num-processes)",
        )


def start(options: ClusterOptions, backend: str) -> Cluster:
    """Join the processes (multi-host), pick the distribution and install it as Keras's global one."""
    validate(options, backend)
    if backend != "jax":
        return SINGLE_DEVICE
    import jax

    if options.multi_process:
        _join_processes(options)
    devices, local = jax.device_count(), jax.local_device_count()
    kind = options.distribute
    if kind == "auto":
        kind = "data" if devices > 1 else "none"
    if kind == "none":
        if options.multi_process:
            raise BadInputError("--distribute none cannot span several processes",
                                hint="use --distribute data or model")
        return SINGLE_DEVICE
    shards = 1
    if kind == "model":
        shards = options.model_shards or local
        if shards > local or local % shards:
            raise BadInputError(
                f"--model-shards {shards} must divide the {local} devices of each process",
                hint="one model replica lives on one host; choose a divisor of the local device count",
            )
    cluster = Cluster(kind=kind, process_id=jax.process_index(), num_processes=jax.process_count(),
                      devices=devices, local_devices=local, model_shards=shards)
    import keras

    from mlm_cli.distributed.layouts import make_distribution

    keras.distribution.set_distribution(make_distribution(cluster))
    return cluster


def _join_processes(options: ClusterOptions) -> None:
    import jax

    if jax.distributed.is_initialized():
        return
    try:
        jax.distributed.initialize(
            coordinator_address=options.coordinator,
            num_processes=int(options.num_processes),
            process_id=int(options.process_id),
            initialization_timeout=int(os.environ.get("MLM_CONNECT_TIMEOUT", "300")),
        )
    except Exception as error:  # noqa: BLE001 - jaxlib raises its own runtime error types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MlmError(
            f"process {options.process_id} could not join the run at {options.coordinator}: {first}",
            hint="start every process with the same --coordinator and --num-processes; process 0 listens on that port",
        ) from None


def leave_abruptly_if_distributed(exit_code: int) -> None:
    """End this process at once when it failed inside a multi-process run.

    After a failure (often: another process died) jax's exit handler waits at a shutdown
    barrier for processes that will never arrive, then aborts with a native stack
    trace. The error line is already printed, so leave without running exit handlers.
    """
    jax = sys.modules.get("jax")
    if jax is None or not jax.distributed.is_initialized():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
