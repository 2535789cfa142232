"""The `>>>` examples in the public model classes' docstrings run as shown (issue 15).

One test per module: the base classes users call (MaskedLM, MaskedLMPreprocessor, Backbone,
the tokenizer bases) and, for every registered family, its backbone, tokenizer,
preprocessor and masked-LM task. Examples use tiny sizes, so the whole file takes seconds
(the one `fit` call compiles a training step).
"""

from __future__ import annotations

import doctest
import importlib

import pytest

from mlm_cli.models.preset.registry import FAMILIES, ROLES

BASE_MODULES = [
    "mlm_cli.models.masked_lm",
    "mlm_cli.models.masked_lm_preprocessor",
    "mlm_cli.models.backbone",
    "mlm_cli.models.token_position_backbone",
    "mlm_cli.models.tokenizers.base",
    "mlm_cli.models.tokenizers.byte_pair_tokenizer",
    "mlm_cli.models.tokenizers.sentencepiece_tokenizer",
]
FAMILY_MODULES = [family.mlm_module(getattr(family, role)) for family in FAMILIES.values() for role in ROLES]
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("module_name", BASE_MODULES + FAMILY_MODULES)
def test_docstring_examples(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that save a preset write it into the working directory
    module = importlib.import_module(module_name)
    tests = [test for test in doctest.DocTestFinder().find(module, module_name) if test.examples]
    assert tests, f"{module_name} has no >>> examples in its docstrings"
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed:\n" + "".join(report)
