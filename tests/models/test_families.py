"""Every registered family meets the engine's contracts: classes, weights layout, presets, keras-free tokenizers."""


import pytest

from mlm_cli import hub
from mlm_cli.models.preset.registry import FAMILIES
from mlm_cli.models.preset.weights_layout import WeightsLayout
from tests.support.imports import heavy_modules_imported

TOKENIZER_API = (
    "tokenize",
    "detokenize",
    "vocabulary_size",
    "get_vocabulary",
    "token_to_id",
    "id_to_token",
    "get_config",
    "from_config",
    "save_assets",
    "load_assets",
    "extension_config",
)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_classes_follow_the_base_classes(name):
    from mlm_cli.models import Backbone, MaskedLM, MaskedLMPreprocessor

    family = FAMILIES[name]
    backbone = family.mlm_class(family.backbone)
    task = family.mlm_class(family.masked_lm)
    preprocessor = family.mlm_class(family.preprocessor)
    tokenizer = family.mlm_class(family.tokenizer)
    assert issubclass(backbone, Backbone) and issubclass(task, MaskedLM) and issubclass(preprocessor,
                                                                                        MaskedLMPreprocessor)
    assert task.backbone_cls is backbone and task.preprocessor_cls is preprocessor
    assert preprocessor.tokenizer_cls is tokenizer
    assert all(callable(getattr(tokenizer, method, None)) for method in TOKENIZER_API)
    assert tokenizer.asset_files, "a tokenizer needs its vocabulary files as assets"
    assert isinstance(family.weights(), WeightsLayout)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_class_preset_listings_are_per_family(name):
    family = FAMILIES[name]
    expected = {preset for preset, info in hub.builtin_presets().items() if info.family == name and not info.scratch}
    for role in ("backbone", "masked_lm", "tokenizer"):
        assert set(family.mlm_class(getattr(family, role)).presets) == expected


def test_tokenizers_and_preprocessors_never_import_keras():
    """Data workers build batches with tokenizers and preprocessors alone; keras must stay out."""
    modules = [family.mlm_module(getattr(family, role)) for family in FAMILIES.values() for role in ("tokenizer",
                                                                                                     "preprocessor")]
    code = (
        "import importlib, sys\n"
        f"for module in {modules!r}:\n"
        "    importlib.import_module(module)\n"
    )
    assert heavy_modules_imported(code, ("keras", "jax", "torch", "tensorflow")) == []


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_a_family_with_a_model_type_has_a_converter(name):
    family = FAMILIES[name]
    if family.model_type is None:
        with pytest.raises(LookupError):
            family.converter()
    else:
        assert family.converter().family == name
