"""FNet for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.f_net.f_net_backbone import FNetBackbone
from mlm_cli.models.f_net.f_net_masked_lm_preprocessor import FNetMaskedLMPreprocessor
from mlm_cli.models.masked_lm import MaskedLM


class FNetMaskedLM(MaskedLM):
    """FNetBackbone + masked-LM head (dense + exact GELU + layer norm, tied output projection, bias).

    The head's layer norm uses epsilon 1e-5 (keras_hub's).

    Args:
        backbone: an `FNetBackbone`.
        preprocessor: an `FNetMaskedLMPreprocessor`, or None (the default).
        name: default "f_net_masked_lm". See `MaskedLM` for the rest.

    Examples:

    >>> import io
    >>> import sentencepiece
    >>> model = io.BytesIO()
    >>> texts = ["the quick brown fox", "the lazy dog", "a cat sat on the mat", "the fox jumps over the dog",
    ...          "a bird sang"]
    >>> sentencepiece.SentencePieceTrainer.train(
    ...     sentence_iterator=iter(texts), model_writer=model, model_type="word", vocab_size=20, minloglevel=2,
    ...     pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>", bos_piece="[CLS]",
    ...     eos_piece="[SEP]", user_defined_symbols="[MASK]")
    >>> from mlm_cli.models import FNetBackbone, FNetMaskedLM, FNetMaskedLMPreprocessor, FNetTokenizer
    >>> tokenizer = FNetTokenizer(proto=model.getvalue())
    >>> preprocessor = FNetMaskedLMPreprocessor(tokenizer, sequence_length=8, mask_selection_length=2, seed=0)
    >>> backbone = FNetBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, hidden_dim=8,
    ...                         intermediate_dim=16, max_sequence_length=16)
    >>> masked_lm = FNetMaskedLM(backbone, preprocessor=preprocessor)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox", "a cat sat on the mat"])
    >>> tuple(masked_lm(x).shape)
    (2, 2, 20)

    From a preset (downloads it; not run here):

        masked_lm = FNetMaskedLM.from_preset("f_net_base_en")
    """

    backbone_cls = FNetBackbone
    preprocessor_cls = FNetMaskedLMPreprocessor
    head_activation = "gelu"
