"""RoFormerV2: WordPiece tokenizer, rotary-attention encoder with RMS norms, weight-free tied masked-LM head."""
