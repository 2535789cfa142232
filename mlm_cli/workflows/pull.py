"""`mlm pull`: fetch a preset into the cache (or a directory) and check that it loads."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mlm_cli.errors import BadInputError
from mlm_cli.workflows.run_lock import output_lock


@dataclass
class PullOptions:
    preset: str
    output: Path | None = None
    overwrite: bool = False
    progress: bool = True


def pull(options: PullOptions) -> Path:
    """Resolve and download the preset (converting a transformers checkpoint), check it loads, return its path."""
    from mlm_cli.hub import resolve
    from mlm_cli.models.preset.h5_weights import read_shapes
    from mlm_cli.models.preset.loader import load_preprocessor, open_preset
    from mlm_cli.models.preset.weight_files import backbone_weight_files

    directory = open_preset(
        resolve(options.preset, progress=options.progress))  # transformers checkpoints: converted once, in the cache
    path = Path(directory.root)
    load_preprocessor(directory)
    for weights in backbone_weight_files(directory):
        read_shapes(weights)
    if options.output is None:
        return path
    output = Path(options.output).expanduser().absolute()
    with output_lock(output, "mlm pull"):  # one writer per output directory, as for `mlm train`
        return _copy(path, output, options.overwrite)


def _copy(path: Path, output: Path, overwrite: bool) -> Path:
    """Copy the preset to `output` through a staging sibling, so `output` is never half-written."""
    if output.exists() and not overwrite:
        raise BadInputError(f"output {output} already exists",
                            hint="pass --overwrite to replace it or choose another --output")
    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(path, staging, symlinks=False)
    if output.exists():
        shutil.rmtree(output)
    staging.rename(output)
    return output
