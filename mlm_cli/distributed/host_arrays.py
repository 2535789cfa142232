"""Host-side views of distributed state, and small agreements between processes (jax only)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mlm_cli.errors import MlmError

# Words in jaxlib's errors when another process of the run is gone.
PEER_FAILURE_MARKERS = ("gloo", "connection closed", "connection reset", "unavailable", "heartbeat",
                        "deadline_exceeded",
                        "socket closed", "broken pipe", "coordination service")


class PeerLostError(MlmError):
    """Another process of a multi-host run failed; this one cannot go on alone."""


def local_copy(array) -> np.ndarray:
    """The whole value of a jax array held (in full) by this process's devices."""
    if getattr(array, "is_fully_addressable", True):
        return np.asarray(array)
    result = np.empty(array.shape, dtype=array.dtype)
    covered = np.zeros(array.shape, dtype=bool)
    for shard in array.addressable_shards:
        result[shard.index] = np.asarray(shard.data)
        covered[shard.index] = True
    if not covered.all():
        raise MlmError("a model replica spans several processes, so this process cannot read the whole weights",
                       hint="use --model-shards no larger than one host's device count")
    return result


@contextlib.contextmanager
def readable_variables(variables: Sequence) -> Iterator[None]:
    """Within the block, `variable.numpy()` works on every variable, even those sharded across processes."""
    import jax

    swapped = []
    try:
        for variable in variables:
            value = variable._value  # noqa: SLF001 - keras exposes no public way to swap the backing array
            if isinstance(value, jax.Array) and not value.is_fully_addressable:
                swapped.append((variable, value))
                variable._value = jax.device_put(local_copy(value), jax.local_devices()[0])
        yield
    finally:
        for variable, value in swapped:
            variable._value = value


def allgather_ints(values: Sequence[int]) -> np.ndarray:
    """[processes, len(values)]: every process's `values`, in process order (a collective: all must call)."""
    from jax.experimental import multihost_utils

    with peer_failures():
        return np.asarray(multihost_utils.process_allgather(np.asarray(values, dtype=np.int64)))


def allgather_json(value: Any) -> list[Any]:
    """Every process's JSON-serialisable `value`, in process order (a collective)."""
    data = np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)
    longest = int(allgather_ints([data.size]).max())
    padded = np.zeros(longest, dtype=np.int64)
    padded[: data.size] = data
    rows = allgather_ints(padded.tolist())
    return [json.loads(bytes(row[row > 0].astype(np.uint8)).decode("utf-8")) for row in rows]


def is_peer_failure(error: BaseException) -> bool:
    if isinstance(error, MlmError):
        return False
    text = str(error).lower()
    return type(error).__module__.startswith(("jax", "jaxlib")) or any(
        marker in text for marker in PEER_FAILURE_MARKERS)


@contextlib.contextmanager
def peer_failures() -> Iterator[None]:
    """Turn jaxlib's collective failures into one PeerLostError line."""
    try:
        yield
    except Exception as error:
        if not is_peer_failure(error):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PeerLostError(
            f"lost contact with another process of the distributed run ({first[:200]})",
            hint="a process died or the network failed; the last checkpoint is intact: restart every process with "
                 "--resume",
        ) from None
