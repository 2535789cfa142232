"""XLM-RoBERTa for masked language modelling: RoBERTa's head on XLMRobertaBackbone."""

from __future__ import annotations

from mlm_cli.models.roberta.roberta_masked_lm import RobertaMaskedLM
from mlm_cli.models.xlm_roberta.xlm_roberta_backbone import XLMRobertaBackbone
from mlm_cli.models.xlm_roberta.xlm_roberta_masked_lm_preprocessor import XLMRobertaMaskedLMPreprocessor


class XLMRobertaMaskedLM(RobertaMaskedLM):
    """XLMRobertaBackbone + RoBERTa's masked-LM head.

    Args:
        backbone: an `XLMRobertaBackbone`.
        preprocessor: an `XLMRobertaMaskedLMPreprocessor`, or None (the default).
        name: default "xlm_roberta_masked_lm". See `MaskedLM` for the rest.

    Examples:

    >>> import io
    >>> import sentencepiece
    >>> model = io.BytesIO()  # sentencepiece's default numbering, as XLM-R's model: <unk>=0, <s>=1, </s>=2
    >>> texts = ["the quick brown fox", "the lazy dog", "a cat sat on the mat", "the fox jumps over the dog",
    ...          "a bird sang"]
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(texts), model_writer=model, model_type="word", vocab_size=18, minloglevel=2)
    >>> from mlm_cli.models import (XLMRobertaBackbone, XLMRobertaMaskedLM, XLMRobertaMaskedLMPreprocessor,
    ...                             XLMRobertaTokenizer)
    >>> tokenizer = XLMRobertaTokenizer(proto=model.getvalue())
    >>> preprocessor = XLMRobertaMaskedLMPreprocessor(tokenizer, sequence_length=8, mask_selection_length=2, seed=0)
    >>> backbone = XLMRobertaBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
    ...                               hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> masked_lm = XLMRobertaMaskedLM(backbone, preprocessor=preprocessor)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox", "a cat sat on the mat"])
    >>> tuple(masked_lm(x).shape)
    (2, 2, 20)

    From a preset (downloads it; not run here):

        masked_lm = XLMRobertaMaskedLM.from_preset("xlm_roberta_base_multi")
    """

    backbone_cls = XLMRobertaBackbone
    preprocessor_cls = XLMRobertaMaskedLMPreprocessor
