"""Model cards: the README.md every preset mlm writes, saying what the model is and how it was made."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlm_cli.atomic_files import write_text_atomic

CARD_FILE = "README.md"


def data_sources(entries: Sequence[str]) -> list[dict[str, Any]]:
    """Each --data entry with the files it names and their total size (Hub datasets by name)."""
    from mlm_cli.data.sources import CorpusSpec, HubDataset, expand_sources

    described = []
    for entry in entries:
        try:
            sources = expand_sources(CorpusSpec((entry,)))
        except Exception:  # noqa: BLE001 - a card describes what it can; the run already read these
            described.append({"source": entry})
            continue
        files = [file for source in sources if not isinstance(source, HubDataset) for file in source.files]
        record: dict[str, Any] = {"source": entry}
        if files:
            record["files"] = len(files)
            record["bytes"] = sum(os.path.getsize(file) for file in files if os.path.isfile(file))
        else:
            record["hub_dataset"] = True
        described.append(record)
    return described


def byte_size(count: int | None) -> str:
    """'13.2 KB', '512 bytes' (decimal units)."""
    if count is None:
        return "size unknown"
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:,} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return ""


def _number(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value,
        float) else f"{value:,}" if isinstance(value, int) else str(value)


def training_card(config: dict[str, Any], summary: dict[str, Any], *, family: str, version: str) -> str:
    """Markdown card of a training run: base preset, data, steps, tokens, final metrics, command line, mlm version."""
    data_lines = []
    records = config.get("data_sources") or [{"source": entry} for entry in config.get("data", [])]
    weights = config.get("data_weights")
    shares = [float(w) for w in weights.split(",")] if weights else []
    for index, record in enumerate(records):
        share = f", {shares[index] / sum(shares):.1%} of the documents" if len(shares) == len(records) else ""
        if record.get("hub_dataset"):
            data_lines.append(f"- `{record['source']}` (Hugging Face Hub dataset, streamed){share}")
        elif "bytes" in record:
            data_lines.append(f"- `{record['source']}`: {record['files']:,} file(s), {byte_size(record['bytes'])}"
                              f"{share}")
        else:
            data_lines.append(f"- `{record['source']}`{share}")
    validation = config.get("validation_data") or []
    held_out = (f"{', '.join(f'`{v}`' for v in validation)}" if validation
                else f"{config['validation_split']:.2%} of the training documents" if config.get(
                    "validation_split") else "none")
    metrics = [
        ("final training loss", _number(summary.get("final_loss"))),
        ("final training masked accuracy", _number(summary.get("final_accuracy"))),
        ("validation loss", _number(summary.get("val_loss"))),
        ("validation masked accuracy", _number(summary.get("val_accuracy"))),
        ("validation perplexity", _number(summary.get("val_perplexity"), 3)),
    ]
    settings = [
        ("base preset", f"`{config.get('preset')}`"),
        ("model family", family),
        ("parameters", _number(config.get("parameters"))),
        ("vocabulary", _vocabulary(config)),
        ("frozen while training", f"`{config['freeze']}` ({_number(config.get('trainable_parameters'))} parameters "
                                  "trained)" if config.get("freeze") else "nothing"),
        ("LoRA", _lora(config)),
        ("steps", _number(summary.get("steps"))),
        ("tokens seen (non-padding)", _number(summary.get("tokens_seen"))),
        ("sequence length", _number(config.get("sequence_length"))),
        ("global batch (sequences)", _number(config.get("global_batch_size", config.get("batch_size")))),
        ("gradient accumulation", _accumulation(config)),
        ("peak learning rate", f"{config.get('learning_rate')}"),
        ("learning-rate schedule", f"{config.get('schedule', 'linear')}, {config.get('warmup_steps')} warm-up steps"),
        ("early stopping", _early_stopping(config, summary)),
        ("published weights", _published(config, summary)),
        ("gradient clipping (global norm)", f"{config.get('max_grad_norm')}" if config.get("max_grad_norm") else "off"),
        ("mask rate", f"{config.get('mask_rate')}" + (" (whole words)" if config.get("whole_word_masking") else "")),
        ("precision / backend", f"{config.get('precision')} / {config.get('backend')}" + (
            ", gradient checkpointing" if config.get("gradient_checkpointing") else "")),
        ("devices", f"{config.get('devices', 1)} ({config.get('distribution', 'none')} parallel)" if config.get(
            "distribution", "none") != "none" else "1"),
        ("seed", f"{config.get('seed')}"),
        ("experiment tracking", "MLflow run `{run_id}` at `{tracking_uri}`".format(**summary["mlflow_run"])
         if summary.get("mlflow_run") else "none"),
    ]
    command = config.get("command_line") or "(called from Python)"
    front_matter = {"library_name": "keras-hub", "pipeline_tag": "fill-mask", "tags": ["mlm", "masked-lm", family]}
    lines = [
        "---",
        *(f"{key}: {json.dumps(value)}" for key, value in front_matter.items()),
        "---",
        "",
        f"# {Path(str(summary.get('output', 'model'))).name}",
        "",
        f"A {family} masked language model trained with mlm {version} from `{config.get('preset')}`"
        f" ({datetime.date.today().isoformat()}). It is a keras_hub preset: load it with"
        " `keras_hub.models.MaskedLM.from_preset(path)` or mlm's `MaskedLM.from_preset(path)`.",
        "",
        "## Training data",
        "",
        *data_lines,
        "",
        f"Held out for validation: {held_out}.",
        "",
        "## Training",
        "",
        "| setting | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in settings),
        "",
        "## Results",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in metrics),
        "",
        "## Reproduce",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Made with mlm {version}.",
        "",
    ]
    return "\n".join(lines)


def export_card(source_card: str | None, *, source: str, dtype: str, format: str, version: str,
                command: str | None) -> str:
    """The card of an exported model: the source's card (when it has one) plus how it was exported."""
    base = source_card.rstrip() + "\n" if source_card else (
        f"---\npipeline_tag: \"fill-mask\"\ntags: [\"mlm\", \"masked-lm\"]\n---\n\n# {Path(source).name}\n\n"
        f"A masked language model exported by mlm {version} from `{source}`.\n"
    )
    target = "a transformers checkpoint" if format == "hf" else "a keras_hub preset"
    return (
        f"{base}\n## Export\n\nExported by mlm {version} from `{source}` as {target} with {dtype} weights"
        f" ({datetime.date.today().isoformat()}).\n\n```bash\n{command or '(called from Python)'}\n```\n"
    )


def write_card(directory: Path, text: str) -> Path:
    """Write `directory/README.md` atomically."""
    return write_text_atomic(Path(directory) / CARD_FILE, text)


def _lora(config: dict[str, Any]) -> str:
    """--lora-rank: the adapter's settings, what trained and what was published."""
    rank = config.get("lora_rank")
    if not rank:
        return "off"
    alpha = config.get("lora_alpha") or rank
    published = ("the adapter alone (adapter.lora.h5 + lora.json)" if config.get("lora_only")
                 else "merged into the model")
    head = " and the masked-LM head" if config.get("lora_train_head") else ""
    return (f"rank {rank}, alpha {alpha:g} on `{config.get('lora_targets') or 'query,value'}`{head} "
            f"({_number(config.get('trainable_parameters'))} parameters trained); published {published}")


def _vocabulary(config: dict[str, Any]) -> str:
    """The vocabulary size, and how many corpus words --extend-vocabulary added to it."""
    size = _number(config.get("vocabulary_size"))
    if not config.get("extend_vocabulary"):
        return f"{size} tokens"
    intermediate = config.get("added_intermediate_tokens")
    joins = f" and {_number(intermediate)} intermediate tokens of their merge chains" if intermediate else ""
    return (f"{size} tokens, {_number(config.get('added_words'))} of them whole words of the corpus{joins} added by "
            f"`--extend-vocabulary {config['extend_vocabulary']}` (`added_words.tsv`)")


def _accumulation(config: dict[str, Any]) -> str:
    steps = config.get("accumulation_steps", 1)
    if steps <= 1:
        return "none"
    return f"{steps} passes of {_number(config.get('batch_size'))} sequences per device per step"


def _published(config: dict[str, Any], summary: dict[str, Any]) -> str:
    step = summary.get("published_step", summary.get("steps"))
    if config.get("keep_best"):
        return f"step {step}, the best validation loss ({_number(summary.get('best_val_loss'))}; --keep-best)"
    return f"step {step}, the last"


def _early_stopping(config: dict[str, Any], summary: dict[str, Any]) -> str:
    patience = config.get("early_stopping_patience")
    if not patience:
        return "off"
    best = f"best validation loss {_number(summary.get('best_val_loss'))} at step {summary.get('best_val_step')}"
    if summary.get("stopped_early"):
        return f"stopped at step {summary.get('steps')} (patience {patience} evaluations); {best}"
    return f"patience {patience} evaluations, not reached; {best}"
