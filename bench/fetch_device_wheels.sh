#!/usr/bin/env bash
# Download into .device-wheels/ (git-ignored) the wheels that bench/device.py needs on the lent
# GPU machine and that it lacks: keras, keras' runtime dependencies, and what mlm_cli.models,
# .optimizers, .allocator and .backend import at module level (regex). That machine has Python
# 3.12, torch, jax, numpy, transformers, tokenizers and safetensors, and no network; this folder
# travels with the working tree (`carry`), and the one command in bench/device.py installs from it.
#
#     bash bench/fetch_device_wheels.sh                     # cp312, into .device-wheels/
#     PYTHON_VERSION=3.11 DEST=/tmp/w bash bench/fetch_device_wheels.sh   # the same set for another Python
#
# Versions: constraints.txt pins none of these, so they are the releases this project's
# environment tests with. torch, jax, numpy and transformers are never fetched: the GPU
# machine's own builds (CUDA) must stay.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON_VERSION="${PYTHON_VERSION:-3.12}"
DEST="${DEST:-.device-wheels}"
PIP="${PIP:-python3 -m pip}"

WHEELS=(
    keras==3.15.1
    # keras' Requires-Dist (besides numpy): absl-py, rich, namex, h5py, optree, ml-dtypes, packaging
    absl-py==2.5.1
    namex==0.1.0
    h5py==3.14.0
    optree==0.20.0
    ml-dtypes==0.7.0
    packaging==26.4
    rich==15.0.0
    markdown-it-py==4.3.0   # rich's
    mdurl==0.1.2            # markdown-it-py's
    pygments==2.21.0        # rich's
    typing-extensions==4.16.0  # optree's (torch has one too; pip keeps a recent enough copy)
    # mlm_cli.models' tokenizer modules (imported when the package's model classes load)
    regex==2026.12.2
)

mkdir -p "$DEST"
$PIP download --quiet --only-binary=:all: --no-deps \
    --python-version "$PYTHON_VERSION" --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$DEST" "${WHEELS[@]}"
ls -1 "$DEST"
du -sh "$DEST"
