"""Text -> token ids -> packed, masked numpy batches. Never imports keras."""
