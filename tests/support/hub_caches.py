"""Presets laid out in kagglehub's and huggingface_hub's caches, the way those libraries store downloads."""

from __future__ import annotations

import os
import shutil

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def put_in_hf_cache(preset, cache, repo_id: str):
    """Lay a preset out the way huggingface_hub stores a snapshot: files are links into the repo's blobs/."""
    import hashlib

    storage = cache / "huggingface" / f"models--{repo_id.replace('/', '--')}"
    snapshot = storage / "snapshots" / COMMIT
    (storage / "blobs").mkdir(parents=True)
    for source in sorted(p for p in preset.rglob("*") if p.is_file()):
        blob = storage / "blobs" / hashlib.sha256(source.read_bytes()).hexdigest()
        shutil.copyfile(source, blob)
        link = snapshot / source.relative_to(preset)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(COMMIT)
    return snapshot


def put_in_kaggle_cache(preset, cache, handle: str):
    """Lay a preset out the way kagglehub stores a completed model download."""
    owner, model, framework, variation, version = handle.removeprefix("kaggle://").split("/")
    variation_dir = cache / "kaggle" / "models" / owner / model / framework / variation
    shutil.copytree(preset, variation_dir / version)
    (variation_dir / f"{version}.complete").write_text("")
    return variation_dir / version
