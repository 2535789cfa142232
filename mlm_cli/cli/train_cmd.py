"""`mlm train`: its flags come from the declarations in mlm_cli.workflows.train_options."""

from __future__ import annotations

import inspect
import json
import shlex
import sys
import typing
from pathlib import Path
from typing import Any

import typer

from mlm_cli.cli import console
from mlm_cli.cli.options import BACKEND_OPTION, merge_config, use_backend
from mlm_cli.workflows.train_options import TrainOptions, option_specs

EPILOG = (
    "Examples:\n\n"
    "  mlm train --preset bert_tiny_en_uncased --data corpus.txt --output my-bert --max-steps 1000\n\n"
    "  mlm train --preset bert_small_scratch --vocabulary-size 8000 --data docs/ --output from-scratch\n\n"
    "  mlm train --preset my-bert --data notes.jsonl --text-column body --output my-bert-2 --validation-split 0.01\n\n"
    "  mlm train --config run.toml --resume\n\n"
    "  mlm train --backend jax --distribute data --preset bert_base_en --data corpus.txt --output run --batch-size 16"
    "   (every local GPU)\n\n"
    "  mlm train --backend jax --coordinator 10.0.0.1:4321 --num-processes 2 --process-id 0 ...   (one command per "
    "host)"
)

# Flags of the command itself, not of the training run.
COMMAND_PARAMETERS = {
    "backend": (str | None, BACKEND_OPTION),
    "config": (Path | None,
               typer.Option(None, "--config", help="TOML file with any of these options (long names); flags win.")),
    "print_config": (bool, typer.Option(False, "--print-config",
                                        help="Print the resolved options as TOML (usable with --config) and exit.")),
    "as_json": (bool, typer.Option(False, "--json", help="Print the final summary as JSON.")),
}


def train(ctx: typer.Context, **values: Any) -> None:
    """Train (fine-tune, continue pretraining, or pretrain from scratch) a masked language model."""
    values = merge_config(ctx, dict(ctx.params), values.get("config"))
    if values.pop("print_config"):
        from mlm_cli.cli.toml_text import options_as_toml

        shown = {k: v for k, v in values.items() if k not in ("config", "as_json")}
        console.stdout.print(options_as_toml(shown), markup=False, end="")
        return
    use_backend(values.pop("backend"))
    values.pop("config")
    as_json = values.pop("as_json")
    values["data"] = list(values["data"] or [])
    values["validation_data"] = list(values["validation_data"] or [])
    values["output"] = Path(values["output"]) if values["output"] else None
    values["command_line"] = shlex.join(["mlm", *sys.argv[1:]])

    from mlm_cli.cli.progress import make_reporter
    from mlm_cli.workflows.train import train as run_training

    reporter = make_reporter()
    try:
        summary = run_training(TrainOptions(**values), reporter)
    finally:
        close = getattr(reporter, "close", None)
        if close:
            close()
    if as_json:
        console.stdout.print(json.dumps(summary, indent=2), markup=False)
    else:
        console.stdout.print(summary["output"], markup=False)


def _typer_option(name: str, default: Any, spec) -> Any:
    flags = spec.flags or (f"--{name.replace('_', '-')}" + (
        f"/--no-{name.replace('_', '-')}" if default is True else ""),)
    return typer.Option(default, *flags, help=spec.help, envvar=list(spec.envvar) or None)


def _command_signature() -> tuple[inspect.Signature, dict[str, Any]]:
    """The signature Typer reads: one parameter per command-line option of TrainOptions, then the command's own."""
    hints = typing.get_type_hints(TrainOptions)
    parameters = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    annotations: dict[str, Any] = {"ctx": typer.Context}
    for name, (default, spec) in option_specs().items():
        if not spec.cli:
            continue
        annotation = hints[name]
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                            default=_typer_option(name, default, spec),
                                            annotation=annotation))
        annotations[name] = annotation
    for name, (annotation, default) in COMMAND_PARAMETERS.items():
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=annotation))
        annotations[name] = annotation
    return inspect.Signature(parameters), annotations


train.__signature__, train.__annotations__ = _command_signature()
