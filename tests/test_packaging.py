"""mlm declares the torch releases it works with; the README's installs (and so CI) use the tested one."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

pytestmark = pytest.mark.run_once  # no backend

ROOT = Path(__file__).resolve().parents[1]
OLDEST_TORCH = Version("2.4")  # the first release with a CPU kernel for torch._fused_adamw_ (mlm's optimizer)


def torch_requirement() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (requirement,) = [Requirement(line) for line in project["dependencies"] if Requirement(line).name == "torch"]
    return requirement


def test_torch_is_a_range_that_holds_the_tested_release():
    specifier = torch_requirement().specifier
    assert not any(spec.operator in ("==", "===", "~=") for spec in specifier), str(specifier)
    assert Version("2.3.1") not in specifier and OLDEST_TORCH in specifier and Version("3.0") not in specifier
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "constraints.txt").read_text(encoding="utf-8"), re.M))
    assert Version(pins["torch"]) in specifier
    installed = Version(metadata.version("torch")).public  # "2.13.0+cpu" -> "2.13.0"
    assert Version(installed) in specifier


def test_readme_fresh_machine_commands_use_the_tested_versions():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^python3 -m venv \.venv && .*$", readme, re.M)  # the quick start and CI's test command
    assert len(commands) == 2, commands
    assert all(".venv/bin/pip install -c constraints.txt -e " in line for line in commands), commands
