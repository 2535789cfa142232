"""BERT for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.bert.bert_backbone import BertBackbone
from mlm_cli.models.bert.bert_masked_lm_preprocessor import BertMaskedLMPreprocessor
from mlm_cli.models.masked_lm import MaskedLM


class BertMaskedLM(MaskedLM):
    """BertBackbone + masked-LM head (dense + GELU + layer norm, tied output projection, bias).

    The head's dense layer keeps the hidden width, its layer-norm epsilon is the backbone's
    `head_layer_norm_epsilon`, and its output projection reuses the token embedding. See
    `MaskedLM` for compile, fit and presets.

    Args:
        backbone: a `BertBackbone`.
        preprocessor: a `BertMaskedLMPreprocessor`, or None (the default) to feed
            preprocessed batches.
        name: default "bert_masked_lm". Other keyword arguments go to `keras.Model`.

    Examples:

    >>> from mlm_cli.models import BertBackbone, BertMaskedLM, BertMaskedLMPreprocessor, BertTokenizer
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
    ...               "jumps", "over", "lazy", "dog", "a", "cat", "sat", "on", "mat", "##s", "."]
    >>> preprocessor = BertMaskedLMPreprocessor(BertTokenizer(vocabulary=vocabulary, lowercase=True),
    ...                                         sequence_length=8, mask_selection_length=2, seed=0)
    >>> backbone = BertBackbone(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
    ...                         intermediate_dim=16, max_sequence_length=16)
    >>> masked_lm = BertMaskedLM(backbone, preprocessor=preprocessor)
    >>> x, y, sample_weight = preprocessor(["The quick brown fox.", "A cat sat on the mat."])
    >>> tuple(masked_lm(x).shape)  # logits [batch, mask_selection_length, vocabulary_size]
    (2, 2, 20)

    A pretrained model, fine-tuned on raw strings (downloads the preset; not run here):

        masked_lm = BertMaskedLM.from_preset("bert_tiny_en_uncased", sequence_length=128)
        masked_lm.compile()
        masked_lm.fit(["The quick brown fox jumped.", "I forgot my homework."], batch_size=2)
        masked_lm.save_to_preset("my_bert")
    """

    backbone_cls = BertBackbone
    preprocessor_cls = BertMaskedLMPreprocessor
