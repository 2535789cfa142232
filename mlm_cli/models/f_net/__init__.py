"""FNet: SentencePiece tokenizer, Fourier token mixing instead of attention, masked-LM task."""
