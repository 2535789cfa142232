"""Plain helpers the tests import (conftest.py files hold only fixtures and hooks).

- `corpus`: the tiny word list, vocabulary and sentences every tiny model and corpus is built from.
- `cli`: running `mlm` as a real subprocess or in-process through the same entry point.
"""
