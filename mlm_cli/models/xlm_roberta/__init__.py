"""XLM-RoBERTa: RoBERTa's encoder and head with a SentencePiece tokenizer in fairseq's id order."""
