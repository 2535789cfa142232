"""ESM-2 protein language models: pre-layer-norm encoder with rotary (or absolute) positions, masked-PLM task."""
