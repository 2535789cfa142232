"""Text -> token ids -> packed, masked numpy batches. Never imports keras."""

DEFAULT_SHUFFLE_BUFFER = 100_000  # documents held in a shuffle window (mlm_cli.data.shuffling)
