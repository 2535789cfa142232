"""Preset handles: built-in names, kaggle://, hf:// and local directories, with a download cache.

Handles resolve to a local directory. Downloads go through kagglehub and huggingface_hub,
both pointed at mlm's cache (`MLM_CACHE_DIR`), so their own offline modes and caches work.
Nothing here imports keras; kagglehub and huggingface_hub are imported only to download.
"""

from __future__ import annotations

import difflib
import functools
import os
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mlm_cli.errors import BadInputError, MlmError

KAGGLE_SCHEME = "kaggle://"
HF_SCHEME = "hf://"
# Files a preset (keras_hub or transformers format) can need; nothing else is downloaded.
HF_ALLOW_PATTERNS = ["*.json", "*.h5", "*.txt", "*.safetensors", "*.model", "assets/**"]


@dataclass(frozen=True)
class PresetInfo:
    """One row of presets.toml."""

    name: str
    family: str
    task: str
    parameters: int
    description: str
    handle: str | None = None
    scratch: bool = False
    config: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """keras_hub-style metadata, as `MaskedLM.presets[name]` returns it."""
        return {"description": self.description, "params": self.parameters, "path": self.family, "handle": self.handle}


@functools.cache
def builtin_presets() -> dict[str, PresetInfo]:
    """Every built-in preset, by name, in presets.toml order."""
    text = resources.files("mlm_cli").joinpath("presets.toml").read_text(encoding="utf-8")
    table = tomllib.loads(text).get("presets", {})
    presets = {}
    for name, row in table.items():
        presets[name] = PresetInfo(
            name=name,
            family=row["family"],
            task=row["task"],
            parameters=int(row["parameters"]),
            description=row["description"],
            handle=row.get("handle"),
            scratch=bool(row.get("scratch", False)),
            config=dict(row.get("config", {})),
        )
    return presets


def cache_dir() -> Path:
    """mlm's download cache: $MLM_CACHE_DIR, else the platform's user cache directory."""
    configured = os.environ.get("MLM_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "mlm"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "mlm" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlm"


def kaggle_cache_dir() -> Path:
    """Where kagglehub keeps models: $KAGGLEHUB_CACHE if the user set it, else inside mlm's cache."""
    return Path(os.environ.get("KAGGLEHUB_CACHE") or cache_dir() / "kaggle").expanduser()


def hf_cache_dir() -> Path:
    return cache_dir() / "huggingface"


@dataclass(frozen=True)
class KaggleHandle:
    owner: str
    model: str
    framework: str
    variation: str
    version: int | None

    def __str__(self) -> str:
        base = f"{self.owner}/{self.model}/{self.framework}/{self.variation}"
        return base if self.version is None else f"{base}/{self.version}"

    def cached_path(self) -> Path | None:
        """The complete local copy in kagglehub's cache layout, if there is one (versioned handles only)."""
        if self.version is None:
            return None
        variation = kaggle_cache_dir() / "models" / self.owner / self.model / self.framework / self.variation
        if (variation / f"{self.version}.complete").is_file() and (variation / str(self.version)).is_dir():
            return variation / str(self.version)
        return None


def parse_kaggle_handle(text: str) -> KaggleHandle:
    """`kaggle://owner/model/framework/variation[/version]`."""
    parts = text[len(KAGGLE_SCHEME):].strip("/").split("/")
    if len(parts) not in (4, 5) or not all(parts):
        raise BadInputError(
            f"malformed Kaggle handle {text!r}",
            hint="use kaggle://owner/model/framework/variation[/version], e.g. kaggle://keras/bert/keras/bert_base_en/3",
        )
    version = None
    if len(parts) == 5:
        if not parts[4].isdigit():
            raise BadInputError(f"malformed Kaggle handle {text!r}: the version must be a number")
        version = int(parts[4])
    return KaggleHandle(*parts[:4], version)


@dataclass(frozen=True)
class HfHandle:
    repo_id: str
    revision: str | None

    def __str__(self) -> str:
        return self.repo_id if self.revision is None else f"{self.repo_id}@{self.revision}"


def parse_hf_handle(text: str) -> HfHandle:
    """`hf://owner/repo[@revision]`."""
    body = text[len(HF_SCHEME):].strip("/")
    repo_id, _, revision = body.partition("@")
    parts = repo_id.split("/")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise BadInputError(f"malformed Hugging Face handle {text!r}",
                            hint="use hf://owner/repo or hf://owner/repo@revision")
    return HfHandle(repo_id, revision or None)


def unknown_preset_error(name: str) -> BadInputError:
    """'unknown preset' with the closest built-in names as suggestions."""
    names = list(builtin_presets())
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    hint += "run `mlm presets list` for built-in names, or pass a preset directory, kaggle:// or hf:// handle"
    return BadInputError(f"unknown preset {name!r}", hint=hint)


def is_cached(name: str) -> bool:
    """Whether a built-in preset (or a kaggle:// handle) is already downloaded."""
    info = builtin_presets().get(name)
    handle = info.handle if info else name
    if not handle or not handle.startswith(KAGGLE_SCHEME):
        return False
    try:
        return parse_kaggle_handle(handle).cached_path() is not None
    except BadInputError:
        return False


def looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.startswith((".", "~"))


def resolve(preset: str | os.PathLike, progress: bool = True) -> Path:
    """The local directory for any preset handle, downloading into the cache when needed."""
    if isinstance(preset, os.PathLike):
        return _local_directory(os.fspath(preset))
    text = str(preset).strip()
    if text.startswith(KAGGLE_SCHEME):
        return download_kaggle(parse_kaggle_handle(text), progress=progress)
    if text.startswith(HF_SCHEME):
        return download_hf(parse_hf_handle(text), progress=progress)
    if "://" in text:
        raise BadInputError(f"unsupported preset handle {text!r}",
                            hint="use a built-in name, kaggle://, hf:// or a local directory")
    info = builtin_presets().get(text)
    if info is not None and not os.path.isdir(text):
        if info.scratch:
            raise BadInputError(
                f"{text} is a from-scratch preset with no weights to load",
                hint=f"train it first: mlm train --preset {text} --data CORPUS --output DIR",
            )
        return resolve(info.handle, progress=progress)
    if os.path.exists(text) or looks_like_path(text):
        return _local_directory(text)
    raise unknown_preset_error(text)


def _local_directory(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise BadInputError(f"preset directory {path} does not exist", hint="check the path, or run `mlm presets list`")
    if not path.is_dir():
        raise BadInputError(f"preset {path} is a file, not a directory",
                            hint="pass the directory that holds config.json")
    return path.absolute()


def download_kaggle(handle: KaggleHandle, progress: bool = True) -> Path:
    """A Kaggle model through kagglehub (its cache is mlm's unless KAGGLEHUB_CACHE is set).

    kagglehub writes a download to fixed paths in its cache, so parallel downloads of one
    variation take turns on a lock; the version used stays locked (shared) while this
    process lives, so `mlm cache clean` keeps it.
    """
    from mlm_cli.cache_locks import create_entry, kaggle_key, use_entry

    names = (handle.owner, handle.model, handle.framework, handle.variation)
    if handle.cached_path() is not None:
        use_entry(kaggle_key(*names, handle.version))
        cached = handle.cached_path()  # again: `mlm cache clean` may have removed it before the lock was taken
        if cached is not None:
            return cached
    with create_entry(kaggle_key(*names)):
        path = _kagglehub_download(handle, progress)
        use_entry(kaggle_key(*names, path.name))  # before another process may take the variation's lock
    return path


def _kagglehub_download(handle: KaggleHandle, progress: bool) -> Path:
    os.environ.setdefault("KAGGLEHUB_CACHE", str(kaggle_cache_dir()))
    import kagglehub
    import requests
    from kagglehub import exceptions as kaggle_errors

    if not progress:
        import logging

        logging.getLogger("kagglehub").setLevel(logging.WARNING)
    where = f"kaggle://{handle}"
    try:
        return Path(kagglehub.model_download(str(handle)))
    except kaggle_errors.KaggleApiHTTPError as error:
        status = getattr(error.response, "status_code", None)
        if status in (401, 403):
            raise MlmError(
                f"Kaggle refused access to {where} (HTTP {status})",
                hint="set KAGGLE_USERNAME and KAGGLE_KEY (or ~/.kaggle/kaggle.json) and accept the model's licence on "
                     "kaggle.com",
            ) from None
        if status == 404:
            raise BadInputError(f"{where} does not exist on Kaggle",
                                hint="check the owner/model/framework/variation/version") from None
        raise MlmError(f"downloading {where} failed: HTTP {status}") from None
    except (kaggle_errors.UnauthenticatedError, kaggle_errors.CredentialError) as error:
        raise MlmError(f"Kaggle authentication failed for {where}: {error}",
                       hint="set KAGGLE_USERNAME and KAGGLE_KEY") from None
    except requests.exceptions.RequestException as error:
        raise MlmError(
            f"cannot reach Kaggle to download {where}: {type(error).__name__}",
            hint=f"check the network; presets already in the cache ({kaggle_cache_dir()}) load offline with a "
                 "versioned handle",
        ) from None


def download_hf(handle: HfHandle, progress: bool = True) -> Path:
    """A Hugging Face Hub repository snapshot (preset files only) in mlm's cache; honours HF_HUB_OFFLINE, HF_TOKEN."""
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    from mlm_cli.cache_locks import huggingface_key, use_entry

    # huggingface_hub locks each file it downloads; mlm's shared lock only keeps `mlm cache clean` away.
    use_entry(huggingface_key("models--" + handle.repo_id.replace("/", "--")))
    if not progress:
        huggingface_hub.utils.disable_progress_bars()
    where = f"hf://{handle}"
    try:
        path = huggingface_hub.snapshot_download(
            handle.repo_id,
            revision=handle.revision,
            cache_dir=hf_cache_dir(),
            allow_patterns=HF_ALLOW_PATTERNS,
        )
    except hf_errors.GatedRepoError:
        raise MlmError(f"{where} is gated",
                       hint="accept its terms on huggingface.co and set HF_TOKEN (or run `hf auth login`)") from None
    except hf_errors.RepositoryNotFoundError:
        raise BadInputError(f"{where} was not found on the Hugging Face Hub",
                            hint="check the name; a private repository needs HF_TOKEN") from None
    except hf_errors.RevisionNotFoundError:
        raise BadInputError(f"{where}: revision {handle.revision!r} not found",
                            hint="check the branch, tag or commit") from None
    except hf_errors.IncompleteSnapshotError:
        raise MlmError(
            f"the cached copy of {where} is incomplete and the Hub cannot be reached",
            hint="run `mlm pull` again with network access to finish the download",
        ) from None
    except hf_errors.LocalEntryNotFoundError:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
        if offline:
            raise MlmError(
                f"{where} is not in the cache ({hf_cache_dir()}) and HF_HUB_OFFLINE is set",
                hint="unset HF_HUB_OFFLINE and run `mlm pull` once with network access",
            ) from None
        raise MlmError(
            f"cannot reach the Hugging Face Hub to download {where}, and it is not in the cache ({hf_cache_dir()})",
            hint="check the network or HF_ENDPOINT; private repositories need HF_TOKEN",
        ) from None
    except hf_errors.HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise MlmError(f"the Hugging Face Hub refused access to {where} (HTTP {status})",
                           hint="set HF_TOKEN to a token with read access") from None
        raise MlmError(f"downloading {where} failed: {error}".splitlines()[0]) from None
    except OSError as error:
        raise MlmError(f"downloading {where} failed: {error}", hint="check the network and free disk space") from None
    return Path(path)
