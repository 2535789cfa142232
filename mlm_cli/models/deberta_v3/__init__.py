"""DeBERTaV3: SentencePiece tokenizer, disentangled-attention encoder (shared relative embeddings), masked-LM task."""
