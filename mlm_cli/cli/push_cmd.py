"""`mlm push`."""

from __future__ import annotations

import json
import shlex
import sys

import typer

from mlm_cli.cli import console
from mlm_cli.cli.options import BACKEND_OPTION, use_backend

EPILOG = (
    "Examples:\n\n  mlm push my-bert hf://my-org/my-bert --private\n\n"
    "  mlm push my-bert hf://my-org/my-bert-hf --format hf   # transformers: from_pretrained('my-org/my-bert-hf')\n\n"
    "  mlm push my-bert kaggle://my-user/my-bert/keras/base --message 'after 2000 more steps'\n\n"
    "Credentials: HF_TOKEN or `hf auth login`; KAGGLE_USERNAME and KAGGLE_KEY, KAGGLE_API_TOKEN or "
    "~/.kaggle/kaggle.json."
)


def push(
    preset: str = typer.Argument(...,
        help="Local directory: a finished run (mlm train --output), a preset or checkpoint directory, or a "
             "transformers checkpoint (mlm export --format hf)."),
    handle: str = typer.Argument(...,
        help="hf://owner/repo or kaggle://owner/model/framework/variation (framework keras; transformers with "
             "--format hf)."),
    format: str = typer.Option(None, "--format",
        help="keras_hub (a preset) or hf (config.json, model.safetensors and tokenizer files for transformers), "
             "converted as mlm export does [default: the directory's own format]."),
    private: bool = typer.Option(False, "--private",
        help="Create the Hugging Face repository private (an existing one keeps its visibility; new Kaggle models "
             "are always private)."),
    message: str = typer.Option(None, "--message", "-m",
        help="Commit message on the Hub, version notes on Kaggle [default: 'Upload NAME with mlm VERSION']."),
    backend: str = BACKEND_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON: url, target, format, files and bytes sent."),
) -> None:
    """Upload a local preset to the Hugging Face Hub or Kaggle after checking that it loads; print where it lives.

    Only the preset's own files are sent (config, weights, tokenizer files, model card):
    never checkpoints, metrics or anything outside the directory.
    """
    use_backend(backend)
    from mlm_cli.push import PushOptions
    from mlm_cli.push import push as run_push

    result = run_push(PushOptions(preset=preset, target=handle, format=format, private=private, message=message,
                                  progress=not console.settings.quiet,
                                  command_line=shlex.join(["mlm", *sys.argv[1:]])),
                      report=console.info)
    console.stdout.print(json.dumps(result, indent=2) if as_json else result["url"], markup=False)
