"""The allow-list: keras_hub class names a preset may name, mapped to mlm's own classes.

Names in a preset's JSON are only ever looked up in this table; nothing named by a
file is imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from mlm_cli.errors import PresetError
from mlm_cli.models.naming import snake_case


@dataclass(frozen=True)
class Family:
    """One model family: keras_hub's class names for its parts and where mlm implements them."""

    name: str
    keras_hub_package: str  # e.g. keras_hub.src.models.bert
    backbone: str
    masked_lm: str
    preprocessor: str
    tokenizer: str
    other_tasks: tuple[str, ...] = ()  # task/preprocessor classes whose presets still carry a usable backbone

    def keras_hub_module(self, class_name: str) -> str:
        """keras_hub's module for one of this family's classes (BertMaskedLM -> ...bert.bert_masked_lm)."""
        return f"{self.keras_hub_package}.{snake_case(class_name)}"

    def mlm_class(self, class_name: str) -> type:
        """mlm's implementation of one of this family's classes."""
        module = importlib.import_module(f"mlm_cli.models.{self.name}.{_module_name(self, class_name)}")
        return getattr(module, class_name)


def _module_name(family: Family, class_name: str) -> str:
    return family.keras_hub_module(class_name).rsplit(".", 1)[1]


FAMILIES: dict[str, Family] = {
    "bert": Family(
        name="bert",
        keras_hub_package="keras_hub.src.models.bert",
        backbone="BertBackbone",
        masked_lm="BertMaskedLM",
        preprocessor="BertMaskedLMPreprocessor",
        tokenizer="BertTokenizer",
        other_tasks=(
            "BertTextClassifier",
            "BertTextClassifierPreprocessor",
            "BertTextEmbedder",
            "BertTextEmbedderPreprocessor",
        ),
    ),
}

ROLES = ("backbone", "masked_lm", "preprocessor", "tokenizer")


def lookup(class_name: object, source: str) -> tuple[Family, str]:
    """(family, role) for a class name found in `source`; role is one of ROLES or 'other_task'."""
    if isinstance(class_name, str):
        for family in FAMILIES.values():
            for role in ROLES:
                if getattr(family, role) == class_name:
                    return family, role
            if class_name in family.other_tasks:
                return family, "other_task"
    known = ", ".join(sorted(getattr(f, r) for f in FAMILIES.values() for r in ROLES))
    raise PresetError(f"{source}: unsupported class {class_name!r}", hint=f"mlm loads: {known}")


def family_of_class(cls: type) -> Family | None:
    """The family whose masked-LM, backbone, preprocessor or tokenizer class is `cls` (None for base classes)."""
    for family in FAMILIES.values():
        for role in ROLES:
            if getattr(family, role) == cls.__name__ and cls.__module__.startswith(f"mlm_cli.models.{family.name}"):
                return family
    return None
