"""ALBERT for masked language modelling."""

from __future__ import annotations

from mlm_cli.models.albert.albert_backbone import AlbertBackbone
from mlm_cli.models.albert.albert_masked_lm_head import AlbertMaskedLMHead
from mlm_cli.models.albert.albert_masked_lm_preprocessor import AlbertMaskedLMPreprocessor
from mlm_cli.models.bert.bert_backbone import FEEDFORWARD_ACTIVATIONS
from mlm_cli.models.masked_lm import MaskedLM


class AlbertMaskedLM(MaskedLM):
    """AlbertBackbone + masked-LM head (dense hidden -> embedding width with the backbone's
    GELU, layer norm, tied [V, embedding_dim] output projection, bias).

    The head's activation is the backbone's `feedforward_activation` and its layer-norm
    epsilon the backbone's `head_layer_norm_epsilon`.

    Args:
        backbone: an `AlbertBackbone`.
        preprocessor: an `AlbertMaskedLMPreprocessor`, or None (the default).
        name: default "albert_masked_lm". See `MaskedLM` for the rest.

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
    >>> from mlm_cli.models import AlbertBackbone, AlbertMaskedLM, AlbertMaskedLMPreprocessor, AlbertTokenizer
    >>> tokenizer = AlbertTokenizer(proto=model.getvalue())
    >>> preprocessor = AlbertMaskedLMPreprocessor(tokenizer, sequence_length=8, mask_selection_length=2, seed=0)
    >>> backbone = AlbertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2,
    ...                           embedding_dim=4, hidden_dim=8, intermediate_dim=16, max_sequence_length=16)
    >>> masked_lm = AlbertMaskedLM(backbone, preprocessor=preprocessor)
    >>> x, y, sample_weight = preprocessor(["the quick brown fox", "a cat sat on the mat"])
    >>> tuple(masked_lm(x).shape)
    (2, 2, 20)

    From a preset (downloads it; not run here):

        masked_lm = AlbertMaskedLM.from_preset("albert_base_en_uncased")
    """

    backbone_cls = AlbertBackbone
    preprocessor_cls = AlbertMaskedLMPreprocessor

    def make_head(self, backbone: AlbertBackbone) -> AlbertMaskedLMHead:
        return AlbertMaskedLMHead(
            backbone.token_embedding,
            input_dim=backbone.hidden_dim,
            activation=FEEDFORWARD_ACTIVATIONS[backbone.feedforward_activation],
            layer_norm_epsilon=backbone.head_layer_norm_epsilon,
            kernel_initializer=self.head_initializer(),
            dtype=backbone.dtype_policy,
            name="masked_lm_head",
        )
