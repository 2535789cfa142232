"""Seed every random source a run uses, without importing frameworks the run does not use.

`keras.utils.set_random_seed` also imports TensorFlow whenever it is installed (seconds of
start-up and log noise on the torch and jax backends), so mlm seeds the sources itself.
"""

from __future__ import annotations

import random
import sys

import numpy as np


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, Keras' global seed generator and the active backend framework."""
    import keras

    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:  # a global generator made earlier in this process is dropped and recreated from the seeded Python RNG
        from keras.src.backend.common import global_state

        global_state.set_global_attribute("global_seed_generator", None)
    except (ImportError, AttributeError):  # keras internals moved: a fresh process has no such generator anyway
        pass
    if keras.backend.backend() == "torch" and "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
