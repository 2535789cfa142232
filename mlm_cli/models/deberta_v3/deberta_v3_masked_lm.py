"""DeBERTaV3 for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.deberta_v3.deberta_v3_backbone import DebertaV3Backbone
from mlm_cli.models.deberta_v3.deberta_v3_masked_lm_preprocessor import DebertaV3MaskedLMPreprocessor
from mlm_cli.models.masked_lm import MaskedLM


class DebertaV3MaskedLM(MaskedLM):
    """DebertaV3Backbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias).

    DeBERTa's pre-training used an enhanced mask decoder; keras_hub (and mlm) use this
    plain head instead, as transformers' DebertaV2ForMaskedLM does.

    The head's layer-norm epsilon is the backbone's `head_layer_norm_epsilon`.

    Args:
        backbone: a `DebertaV3Backbone`.
        preprocessor: a `DebertaV3MaskedLMPreprocessor`, or None (the default).
        name: default "deberta_v3_masked_lm". See `MaskedLM` for the rest.

    Examples:

    >>> import io
    >>> import sentencepiece
    >>> model = io.BytesIO()  # DeBERTa's special pieces, and no [MASK] piece, as in DeBERTaV3's own model
    >>> texts = ["the quick brown fox", "the lazy dog", "a cat sat on the mat", "the fox jumps over the dog",
    ...          "a bird sang"]
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(texts), model_writer=model, model_type="word", vocab_size=19, minloglevel=2,
    ...     pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]",
    ...     eos_piece="[SEP]", unk_piece="[UNK]")
    >>> from mlm_cli.models import (DebertaV3Backbone, DebertaV3MaskedLM, DebertaV3MaskedLMPreprocessor,
    ...                             DebertaV3Tokenizer)
    >>> tokenizer = DebertaV3Tokenizer(proto=model.getvalue())
    >>> preprocessor = DebertaV3MaskedLMPreprocessor(tokenizer, sequence_length=8, mask_selection_length=2, seed=0)
    >>> backbone = DebertaV3Backbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
    ...                              hidden_dim=8, intermediate_dim=16, max_sequence_length=16, bucket_size=4)
    >>> masked_lm = DebertaV3MaskedLM(backbone, preprocessor=preprocessor)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox", "a cat sat on the mat"])
    >>> tuple(masked_lm(x).shape)
    (2, 2, 20)

    From a preset (downloads it; not run here):

        masked_lm = DebertaV3MaskedLM.from_preset("deberta_v3_extra_small_en")
    """

    backbone_cls = DebertaV3Backbone
    preprocessor_cls = DebertaV3MaskedLMPreprocessor
