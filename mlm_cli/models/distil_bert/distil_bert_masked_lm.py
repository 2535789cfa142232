"""DistilBERT for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.distil_bert.distil_bert_backbone import DistilBertBackbone
from mlm_cli.models.distil_bert.distil_bert_masked_lm_preprocessor import DistilBertMaskedLMPreprocessor
from mlm_cli.models.masked_lm import MaskedLM


class DistilBertMaskedLM(MaskedLM):
    """DistilBertBackbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias).

    The head is BERT's; its layer-norm epsilon comes from the backbone (keras_hub 1e-5, transformers 1e-12).

    Args:
        backbone: a `DistilBertBackbone`.
        preprocessor: a `DistilBertMaskedLMPreprocessor`, or None (the default).
        name: default "distil_bert_masked_lm". See `MaskedLM` for the rest.

    Examples:

    >>> from mlm_cli.models import (DistilBertBackbone, DistilBertMaskedLM, DistilBertMaskedLMPreprocessor,
    ...                             DistilBertTokenizer)
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> preprocessor = DistilBertMaskedLMPreprocessor(DistilBertTokenizer(vocabulary, lowercase=True),
    ...                                               sequence_length=8, mask_selection_length=2, seed=0)
    >>> backbone = DistilBertBackbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
    ...                               intermediate_dim=16, max_sequence_length=16)
    >>> masked_lm = DistilBertMaskedLM(backbone, preprocessor=preprocessor)
    >>> x, y, sample_weight = preprocessor(["The quick brown fox.", "A cat sat on the mat."])
    >>> tuple(masked_lm(x).shape)
    (2, 2, 20)

    From a preset (downloads it; not run here):

        masked_lm = DistilBertMaskedLM.from_preset("distil_bert_base_en_uncased")
    """

    backbone_cls = DistilBertBackbone
    preprocessor_cls = DistilBertMaskedLMPreprocessor
    head_activation = "gelu"
