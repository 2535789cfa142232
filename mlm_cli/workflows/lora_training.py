"""`--lora-rank`: train LoRA adapters instead of the model, checkpoint them, and publish either the merged model or
the adapter alone (`--lora-only`) beside a reference to its base preset.

Only the adapters train: the backbone is frozen by `enable_lora` (as keras_hub's), and the masked-LM head (its dense
layer, layer norm and output bias) is frozen here too, so the merged model differs from the base only by the low-rank
changes and the adapter file alone reproduces it. `--lora-train-head` leaves the head trainable, as keras_hub's LoRA
does (its head lives outside the backbone): needed when the checkpoint's head is fresh; the published preset is then
the merged model with that head (an adapter file cannot hold it, so --lora-only is refused).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlm_cli.atomic_files import write_text_atomic

ADAPTER_FILE = "adapter.lora.h5"  # keras_hub's `save_lora_weights` layout; in checkpoints and --lora-only output
REFERENCE_FILE = "lora.json"  # --lora-only: the base preset and the adapter's settings


def enable_for_run(model, rank: int | None, alpha: float | None, targets: str | None, checkpoint: Path | None,
                   train_head: bool = False):
    """Enable LoRA on `model` for a run (None without --lora-rank), its head frozen unless `train_head`; a resumed
    run's adapters come from its checkpoint (its head, trained or not, from the checkpoint's preset). Returns the
    LoraSettings."""
    if rank is None:
        return None
    from mlm_cli.lora_targets import ALL, parse_targets
    from mlm_cli.models.lora import available_targets

    names = available_targets(model.backbone) if (targets or "").strip() == ALL else parse_targets(targets)
    settings = model.backbone.enable_lora(rank, names, alpha)
    if not train_head:
        for layer in model.layers:
            if layer is not model.backbone:
                layer.trainable = False
    if checkpoint is not None:
        model.backbone.load_lora_weights(checkpoint / ADAPTER_FILE)
    return settings


def describe(settings, trainable: int, total: int, train_head: bool = False) -> str:
    """E.g. "LoRA rank 8 on query,value: 147,456 trainable parameters of 22.7 M (0.65%)" (", and the head" with
    --lora-train-head)."""
    of = f"{total / 1e6:.1f} M" if total >= 1e6 else f"{total:,}"
    head = " and the head" if train_head else ""
    return f"{settings.describe()}{head}: {trainable:,} trainable parameters of {of} ({trainable / total:.2%})"


def reference(options, settings) -> dict[str, Any]:
    """lora.json: what the adapter applies to and how to load it."""
    base = options.preset
    local = Path(str(base)).expanduser()
    return {
        "base_preset": base,
        "base_preset_path": str(local.absolute()) if local.is_dir() else None,
        "adapter": ADAPTER_FILE,
        "rank": settings.rank,
        "alpha": settings.alpha,
        "targets": list(settings.targets),
        "load": "backbone.enable_lora(rank, targets, alpha); backbone.load_lora_weights(adapter) on "
                "MaskedLM.from_preset(base_preset)",
    }


def write_adapter_files(model, options, settings, directory: Path) -> None:
    """--lora-only's published files: the adapter and lora.json."""
    model.backbone.save_lora_weights(directory / ADAPTER_FILE)
    write_text_atomic(directory / REFERENCE_FILE, json.dumps(reference(options, settings), indent=2) + "\n")


def lora_publishing(run, weights_from: Path | None) -> tuple[Path | None, Callable[[Path], object] | None]:
    """`publish_preset`'s (weights_from, write_files) for a run: unchanged without LoRA. With it, the adapters of
    `weights_from` (--keep-best's checkpoint) are loaded first; then --lora-only writes them alone, else they are
    merged into the kernels and the model's preset is published."""
    if run.lora is None:
        return weights_from, None
    backbone = run.model.backbone
    if weights_from is not None:
        backbone.load_lora_weights(weights_from / ADAPTER_FILE)
    if run.options.lora_only:
        return None, lambda directory: write_adapter_files(run.model, run.options, run.lora, directory)
    backbone.merge_lora_weights()
    return None, None
