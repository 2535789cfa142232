"""RoBERTa for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.masked_lm import MaskedLM
from mlm_cli.models.roberta.roberta_backbone import RobertaBackbone
from mlm_cli.models.roberta.roberta_masked_lm_preprocessor import RobertaMaskedLMPreprocessor


class RobertaMaskedLM(MaskedLM):
    """RobertaBackbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias).

    The head's layer norm uses epsilon 1e-5, as RoBERTa's other layer norms.

    Args:
        backbone: a `RobertaBackbone`.
        preprocessor: a `RobertaMaskedLMPreprocessor`, or None (the default).
        name: default "roberta_masked_lm". See `MaskedLM` for the rest.

    Examples:

    >>> from mlm_cli.models import RobertaBackbone, RobertaMaskedLM, RobertaMaskedLMPreprocessor, RobertaTokenizer
    >>> vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<mask>": 3, "a": 4, "c": 5, "e": 6, "h": 7, "t": 8,
    ...               "Ġ": 9, "th": 10, "the": 11, "at": 12, "Ġc": 13, "Ġcat": 14, "d": 15, "g": 16, "o": 17,
    ...               "s": 18, "n": 19}
    >>> tokenizer = RobertaTokenizer(vocabulary=vocabulary, merges=["t h", "th e", "a t", "Ġ c", "Ġc at"])
    >>> preprocessor = RobertaMaskedLMPreprocessor(tokenizer, sequence_length=8, mask_selection_length=2, seed=0)
    >>> backbone = RobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=8,
    ...                            intermediate_dim=16, max_sequence_length=16)
    >>> masked_lm = RobertaMaskedLM(backbone, preprocessor=preprocessor)
    >>> x, y, sample_weight = preprocessor(["the cat", "the cat the cat"])
    >>> tuple(masked_lm(x).shape)
    (2, 2, 20)

    From a preset (downloads it; not run here):

        masked_lm = RobertaMaskedLM.from_preset("roberta_base_en")
    """

    backbone_cls = RobertaBackbone
    preprocessor_cls = RobertaMaskedLMPreprocessor
