"""What mlm's download cache holds (Kaggle and Hugging Face downloads, converted checkpoints), and removing it.

Entries are found by walking the cache folders; nothing outside them is ever deleted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlm_cli.errors import BadInputError


@dataclass(frozen=True)
class CacheEntry:
    kind: str  # kaggle | huggingface | converted
    handle: str  # kaggle://..., hf://..., or the converted folder's name
    path: Path
    bytes: int
    complete: bool
    names: tuple[str, ...] = ()  # built-in preset names that resolve to this entry

    def as_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path), "names": list(self.names)}


def _size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def _kaggle_entries(root: Path, names_by_handle: dict[str, list[str]]) -> Iterable[CacheEntry]:
    models = root / "models"
    if not models.is_dir():
        return
    for variation in sorted(p for p in models.glob("*/*/*/*") if p.is_dir()):
        owner, model, framework, name = variation.relative_to(models).parts
        for version in sorted((p for p in variation.iterdir() if p.is_dir() and p.name.isdigit()),
                              key=lambda p: int(p.name)):
            handle = f"kaggle://{owner}/{model}/{framework}/{name}/{version.name}"
            yield CacheEntry("kaggle", handle, version, _size(version),
                             (variation / f"{version.name}.complete").is_file(),
                             tuple(names_by_handle.get(handle, ())))


def _huggingface_entries(root: Path) -> Iterable[CacheEntry]:
    if not root.is_dir():
        return
    for repo in sorted(root.glob("models--*")):
        parts = repo.name.split("--")[1:]
        handle = "hf://" + "/".join(parts)
        snapshots = repo / "snapshots"
        complete = snapshots.is_dir() and any(snapshots.iterdir()) and not any(repo.glob("blobs/*.incomplete"))
        yield CacheEntry("huggingface", handle, repo, _size(repo), complete)


def _converted_entries(root: Path) -> Iterable[CacheEntry]:
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        yield CacheEntry("converted", folder.name, folder, _size(folder), (folder / "config.json").is_file())


def list_cache() -> list[CacheEntry]:
    """Every download and conversion in the cache, Kaggle first."""
    from mlm_cli.hub import builtin_presets, cache_dir, hf_cache_dir, kaggle_cache_dir

    names: dict[str, list[str]] = {}
    for name, info in builtin_presets().items():
        if info.handle:
            names.setdefault(info.handle, []).append(name)
    return [
        *_kaggle_entries(kaggle_cache_dir(), names),
        *_huggingface_entries(hf_cache_dir()),
        *_converted_entries(cache_dir() / "converted"),
    ]


def matches(entry: CacheEntry, target: str) -> bool:
    """Whether `target` (a handle, a built-in name, or a handle without its version) names the entry."""
    return target == entry.handle or target in entry.names or entry.handle.startswith(target.rstrip("/") + "/")


def select(entries: Sequence[CacheEntry], targets: Sequence[str], *, everything: bool = False, incomplete: bool = False,
           converted: bool = False) -> list[CacheEntry]:
    """The entries named by `targets` (handles, built-in names, or a handle without its version), or by the flags."""
    if not (targets or everything or incomplete or converted):
        raise BadInputError("say what to remove",
                            hint="name presets or handles, or pass --all, --incomplete or --converted")
    chosen: list[CacheEntry] = []
    for target in targets:
        found = [e for e in entries if matches(e, target)]
        if not found:
            raise BadInputError(f"{target!r} is not in the cache", hint="see `mlm cache list`")
        chosen.extend(found)
    chosen.extend(e for e in entries if everything or (incomplete and not e.complete) or (
        converted and e.kind == "converted"))
    unique = {e.path: e for e in chosen}
    return list(unique.values())


@dataclass
class Removal:
    """What `remove` did: entries deleted (and bytes freed), entries kept because a running process uses them."""

    removed: list[CacheEntry] = field(default_factory=list)
    in_use: list[CacheEntry] = field(default_factory=list)
    freed: int = 0


def lock_keys(entry: CacheEntry) -> list[str]:
    """The cache locks guarding an entry (see mlm_cli.cache_locks)."""
    from mlm_cli.cache_locks import converted_key, huggingface_key, kaggle_key

    if entry.kind == "kaggle":
        owner, model, framework, variation, version = entry.handle.removeprefix("kaggle://").split("/")
        return [kaggle_key(owner, model, framework, variation), kaggle_key(owner, model, framework, variation, version)]
    if entry.kind == "huggingface":
        return [huggingface_key(entry.path.name)]
    return [converted_key(entry.path.name)]


def remove(entries: Sequence[CacheEntry]) -> Removal:
    """Delete the entries (only ever inside the cache folders), except those a running process uses or creates."""
    from mlm_cli.cache_locks import EntryInUse, remove_entry
    from mlm_cli.hub import cache_dir, kaggle_cache_dir

    roots = [cache_dir().resolve(), kaggle_cache_dir().resolve()]
    result = Removal()
    for entry in entries:
        path = entry.path.resolve()
        if not any(path != root and path.is_relative_to(root) for root in roots):
            raise BadInputError(f"refusing to delete {path}: it is outside the cache")
        try:
            with remove_entry(lock_keys(entry)):
                if entry.kind == "kaggle":  # the marker first: a half-deleted version never looks complete
                    (path.parent / f"{path.name}.complete").unlink(missing_ok=True)
                if path.exists():  # else another `mlm cache clean` was quicker
                    shutil.rmtree(path)
        except EntryInUse:
            result.in_use.append(entry)
            continue
        result.removed.append(entry)
        result.freed += entry.bytes
    return result
