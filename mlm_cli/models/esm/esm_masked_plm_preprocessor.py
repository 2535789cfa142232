"""ESM's masked-PLM preprocessor: ESMTokenizer + <cls> ... <eos> packing + dynamic masking."""

from __future__ import annotations

from mlm_cli.models.esm.esm_tokenizer import ESMTokenizer
from mlm_cli.models.family_examples import append_to_doc, preprocessor_doc, protein_setup
from mlm_cli.models.masked_lm_preprocessor import MaskedLMPreprocessor

SEQUENCE_PACKING = """One sequence's packing, with masking switched off so that it shows:

>>> packer = ESMMaskedPLMPreprocessor(tokenizer, sequence_length=8, mask_selection_rate=0.0)
>>> packer("M K T A")[0]["token_ids"].tolist()
[0, 18, 15, 11, 5, 2, 1, 1]
"""


@append_to_doc(preprocessor_doc(
    "ESM",
    "vocabulary",
    protein_setup("ESM"),
    ["M K T A Y", "G S L E"],
    ("mask_positions", "padding_mask", "segment_ids", "token_ids"),
    task="MaskedPLM", more=SEQUENCE_PACKING,
))
class ESMMaskedPLMPreprocessor(MaskedLMPreprocessor):
    """Protein strings -> ESM masked-PLM batches (see MaskedLMPreprocessor).

    A sequence is packed as `<cls> residues <eos> <pad>...`, as keras_hub's start/end packer
    does; segment ids are produced for the shared batch layout and ignored by the model.
    """

    tokenizer_cls = ESMTokenizer
