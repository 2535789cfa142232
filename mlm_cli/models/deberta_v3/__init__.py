"""DeBERTaV3: SentencePiece tokenizer, disentangled-attention encoder with shared relative embeddings, masked-LM task."""
