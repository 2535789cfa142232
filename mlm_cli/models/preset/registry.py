"""The allow-list: keras_hub class names a preset may name, mapped to mlm's own classes.

Names in a preset's JSON are only ever looked up in this table; nothing named by a
file is imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from mlm_cli.errors import PresetError
from mlm_cli.models.naming import snake_case

if TYPE_CHECKING:
    from mlm_cli.models.convert.transformers_driver import TransformersConverter
    from mlm_cli.models.preset.weights_layout import WeightsLayout


@dataclass(frozen=True)
class Family:
    """One model family: keras_hub's class names for its parts, where mlm implements them, its h5 weights
    layout and its transformers counterpart (if any).

    mlm implements a family in `mlm_cli/models/<name>/`: one module per keras_hub class plus
    `<name>_weights.py` (a WeightsLayout); its transformers converter, if it has one, is
    `mlm_cli/models/convert/transformers_<name>.py` (a module-level CONVERTER).
    """

    name: str
    keras_hub_package: str  # e.g. keras_hub.src.models.bert
    backbone: str
    masked_lm: str
    preprocessor: str
    tokenizer: str
    other_tasks: tuple[str, ...] = ()  # task/preprocessor classes whose presets still carry a usable backbone
    model_type: str | None = None  # transformers' config.json `model_type`; None: no transformers converter
    metadata_tasks: tuple[str, ...] = ("MaskedLM",)  # what keras_hub lists as "tasks" in a backbone's metadata.json

    @property
    def keras_hub_folder(self) -> str:
        """keras_hub's model folder, the family column of keras_hub's preset table (`path`)."""
        return self.keras_hub_package.rsplit(".", 1)[-1]

    def keras_hub_module(self, class_name: str) -> str:
        """keras_hub's module for one of this family's classes (BertMaskedLM -> ...bert.bert_masked_lm)."""
        return f"{self.keras_hub_package}.{snake_case(class_name)}"

    def mlm_module(self, class_name: str) -> str:
        """mlm's module for one of this family's classes (BertMaskedLM -> mlm_cli.models.bert.bert_masked_lm)."""
        return f"mlm_cli.models.{self.name}.{snake_case(class_name)}"

    def mlm_class(self, class_name: str) -> type:
        """mlm's implementation of one of this family's classes."""
        return getattr(importlib.import_module(self.mlm_module(class_name)), class_name)

    def weights(self) -> WeightsLayout:
        """The family's h5 weights layout module."""
        return cast("WeightsLayout", importlib.import_module(f"mlm_cli.models.{self.name}.{self.name}_weights"))

    def converter(self) -> TransformersConverter:
        """The family's transformers converter (hooks into the shared driver); only for families with a `model_type`."""
        if self.model_type is None:
            raise LookupError(f"{self.name} has no transformers converter")
        return importlib.import_module(f"mlm_cli.models.convert.transformers_{self.name}").CONVERTER


def _family(
    name: str,
    prefix: str,
    model_type: str | None,
    *,
    masked_lm_suffix: str = "MaskedLM",
    other_tasks: tuple[str, ...] = (),
    metadata_tasks: tuple[str, ...] | None = None,
) -> Family:
    """A family whose keras_hub classes follow the `<Prefix>Backbone`, `<Prefix>MaskedLM`, ... pattern.

    `metadata_tasks` defaults to "MaskedLM" and the other tasks without their prefix (the base classes keras_hub
    derives its metadata.json "tasks" from), sorted.
    """
    if metadata_tasks is None:
        metadata_tasks = tuple(sorted({"MaskedLM", *(t for t in other_tasks if not t.endswith("Preprocessor"))}))
    return Family(
        name=name,
        keras_hub_package=f"keras_hub.src.models.{name}",
        backbone=f"{prefix}Backbone",
        masked_lm=f"{prefix}{masked_lm_suffix}",
        preprocessor=f"{prefix}{masked_lm_suffix}Preprocessor",
        tokenizer=f"{prefix}Tokenizer",
        other_tasks=tuple(f"{prefix}{task}" for task in other_tasks),
        model_type=model_type,
        metadata_tasks=metadata_tasks,
    )


TEXT_TASKS = ("TextClassifier", "TextClassifierPreprocessor")
EMBEDDER_TASKS = ("TextEmbedder", "TextEmbedderPreprocessor")
PROTEIN_TASKS = ("ProteinClassifier", "ProteinClassifierPreprocessor")

# Every keras_hub family with a masked-LM task (keras-hub 0.32), with transformers' model_type where mlm converts.
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        _family("bert", "Bert", "bert", other_tasks=TEXT_TASKS + EMBEDDER_TASKS),
        _family("distil_bert", "DistilBert", "distilbert", other_tasks=TEXT_TASKS),
        _family("roberta", "Roberta", "roberta", other_tasks=TEXT_TASKS),
        _family("xlm_roberta", "XLMRoberta", "xlm-roberta", other_tasks=TEXT_TASKS + EMBEDDER_TASKS),
        _family("albert", "Albert", "albert", other_tasks=TEXT_TASKS),
        _family("deberta_v3", "DebertaV3", "deberta-v2", other_tasks=TEXT_TASKS),
        _family("f_net", "FNet", None, other_tasks=TEXT_TASKS),
        # keras_hub's RoformerV2TextClassifier subclasses RobertaTextClassifier, and ESMProteinClassifier
        # TextClassifier: metadata.json names the direct base class.
        _family("roformer_v2", "RoformerV2", None, other_tasks=TEXT_TASKS,
                metadata_tasks=("MaskedLM", "RobertaTextClassifier")),
        _family("esm", "ESM", "esm", masked_lm_suffix="MaskedPLM", other_tasks=PROTEIN_TASKS,
                metadata_tasks=("MaskedLM", "TextClassifier")),
    )
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


def family_of_model_type(model_type: object) -> Family | None:
    """The family whose transformers converter reads checkpoints of `model_type` (None if no family does)."""
    return next((f for f in FAMILIES.values() if f.model_type is not None and f.model_type == model_type), None)


def converted_families() -> list[Family]:
    """The families with a transformers converter."""
    return [family for family in FAMILIES.values() if family.model_type is not None]
