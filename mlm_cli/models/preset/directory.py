"""A preset directory treated as untrusted input: every path is checked to stay inside it."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

from mlm_cli.errors import PresetError

MAX_JSON_BYTES = 8 * 1024 * 1024


def hub_snapshot_storage(root: Path) -> Path | None:
    """For a Hugging Face cache snapshot (`models--owner--repo/snapshots/<commit>`), the repo's storage folder.

    huggingface_hub stores snapshot files as links into the same folder's `blobs/`; links
    may point there, and nowhere else.
    """
    if root.parent.name == "snapshots" and root.parent.parent.name.startswith("models--"):
        return root.parent.parent
    return None


class PresetDirectory:
    """Read access to the files of one preset directory, never outside it."""

    def __init__(self, root: str | os.PathLike):
        path = Path(root).expanduser()
        if not path.exists():
            raise PresetError(f"preset directory {path} does not exist",
                              hint="check the path or use a built-in preset name")
        if not path.is_dir():
            raise PresetError(f"preset {path} is not a directory", hint="pass the directory that holds config.json")
        self.root = path.resolve()
        self.boundary = hub_snapshot_storage(self.root) or self.root

    def __repr__(self) -> str:
        return f"PresetDirectory({str(self.root)!r})"

    def path(self, relative: str) -> Path:
        """The absolute path of `relative`, refusing absolute paths, '..' and links that leave the directory."""
        if not isinstance(relative, str) or not relative or "\x00" in relative:
            raise PresetError(f"{self.root}: invalid file name {relative!r}")
        pure = PurePosixPath(relative.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or (len(relative) > 1 and relative[1] == ":"):
            raise PresetError(f"{self.root}: file name {relative!r} points outside the preset directory")
        candidate = self.root.joinpath(*pure.parts)
        resolved = candidate.resolve()
        if resolved != self.boundary and self.boundary not in resolved.parents:
            raise PresetError(f"{candidate}: links outside the preset directory")
        return resolved

    def files(self) -> list[str]:
        """Names of the regular files directly inside the directory."""
        return sorted(p.name for p in self.root.iterdir() if self.path(p.name).is_file())

    def exists(self, relative: str) -> bool:
        return self.path(relative).is_file()

    def require(self, relative: str) -> Path:
        path = self.path(relative)
        if not path.is_file():
            raise PresetError(
                f"{self.root}: missing {relative}",
                hint="the preset is incomplete; download or export it again",
            )
        return path

    def read_json(self, relative: str) -> dict[str, Any]:
        """Parse a JSON object file, with a size limit and errors that name the file."""
        path = self.require(relative)
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise PresetError(f"{path}: {size} bytes is too large for a preset JSON file")
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PresetError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise PresetError(f"{path}: expected a JSON object, found {type(data).__name__}")
        return data
