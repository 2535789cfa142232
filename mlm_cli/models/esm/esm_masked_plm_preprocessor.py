"""ESM's masked-PLM preprocessor: ESMTokenizer + <cls> ... <eos> packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.esm.esm_tokenizer import ESMTokenizer
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor


class ESMMaskedPLMPreprocessor(MaskedLMPreprocessor):
    """Protein strings -> ESM masked-PLM batches (see MaskedLMPreprocessor).

    A sequence is packed as `<cls> residues <eos> <pad>...`, as keras_hub's start/end packer
    does; segment ids are produced for the shared batch layout and ignored by the model.
    """

    tokenizer_cls = ESMTokenizer
