"""ALBERT: SentencePiece tokenizer, factorised embeddings, cross-layer weight sharing, masked-LM task."""
