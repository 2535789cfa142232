"""`mlm export`: a clean, shareable preset (no optimizer state), optionally in a smaller dtype."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlm_cli.errors import BadInputError
from mlm_cli.workflows.run_lock import output_lock

EXPORT_DTYPES = ("float32", "bfloat16", "float16")
EXPORT_FORMATS = ("keras_hub", "hf")


@dataclass
class ExportOptions:
    preset: str
    output: Path
    dtype: str = "float32"
    format: str = "keras_hub"
    overwrite: bool = False
    command_line: str | None = None  # how the export was started, for the model card


def export(options: ExportOptions) -> dict:
    """Load the preset and write it to `output` (keras_hub preset or transformers checkpoint), weights in `dtype`."""
    from mlm_cli.workflows.model_setup import is_scratch_preset

    if options.dtype not in EXPORT_DTYPES:
        raise BadInputError(f"unsupported --dtype {options.dtype!r}", hint=f"use one of: {', '.join(EXPORT_DTYPES)}")
    if options.format not in EXPORT_FORMATS:
        raise BadInputError(f"unsupported --format {options.format!r}", hint=f"use one of: {', '.join(EXPORT_FORMATS)}")
    if is_scratch_preset(options.preset):
        raise BadInputError(f"{options.preset} is a from-scratch preset without weights", hint="export a trained model")
    output = Path(options.output).expanduser().absolute()
    with output_lock(output, "mlm export"):  # one writer per output directory, as for `mlm train`
        return _export(options, output)


def _export(options: ExportOptions, output: Path) -> dict:
    """The export itself, under the output's lock."""
    from mlm_cli.workflows.model_setup import load_masked_lm

    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not options.overwrite:
        raise BadInputError(f"output {output} already exists",
                            hint="pass --overwrite to replace it or choose another --output")
    if options.format == "hf":
        from mlm_cli.models.convert.transformers_checkpoint import export_transformers

        model = load_masked_lm(options.preset, precision="float32")
        if model.preprocessor is None:
            raise BadInputError(f"{options.preset} has no tokenizer to export",
                                hint="export a preset that has tokenizer.json")
        export_transformers(model, output, dtype=options.dtype)
    else:
        model = load_masked_lm(options.preset, precision=options.dtype)
        model.save_to_preset(output, overwrite=options.overwrite)
    _write_export_card(options, output)
    return {"output": str(output), "dtype": options.dtype, "format": options.format,
            "parameters": model.backbone.parameter_count()}


def _write_export_card(options: ExportOptions, output: Path) -> None:
    from mlm_cli import __version__
    from mlm_cli.hub import resolve
    from mlm_cli.workflows.model_card import CARD_FILE, export_card, write_card

    source_card = Path(resolve(options.preset, progress=False)) / CARD_FILE
    text = source_card.read_text(encoding="utf-8", errors="replace") if source_card.is_file() else None
    write_card(output, export_card(text, source=options.preset, dtype=options.dtype, format=options.format,
                                   version=__version__,
                                   command=options.command_line))
