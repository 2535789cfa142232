"""`cls.presets`: the built-in presets a class can load, as in keras_hub (`BertMaskedLM.presets.keys()`)."""

from __future__ import annotations

from typing import Any


class PresetCatalog:
    """Class-level descriptor: {name: metadata} of loadable built-in presets (from-scratch ones excluded).

    On a family's class it lists that family's presets; on a base class (MaskedLM,
    Backbone, ...) every family's.
    """

    def __get__(self, instance: Any, owner: type) -> dict[str, dict[str, Any]]:
        from mlm_cli.hub import builtin_presets
        from mlm_cli.models.preset.registry import family_of_class

        family = family_of_class(owner)
        return {
            name: info.metadata()
            for name, info in builtin_presets().items()
            if not info.scratch and (family is None or info.family == family.name)
        }
