"""Write a real-text corpus (one paragraph per line) from this machine's English man pages.

    python bench/man_page_corpus.py OUTPUT.txt [--repeat N]

Roff sources under /usr/share/man/man*/ are read directly: request lines are dropped,
font and escape sequences removed, and paragraphs (split at .PP/.SH/.TP/blank lines)
joined into single lines. `--repeat` concatenates the corpus N times (for memory
benchmarks on large files).
"""

from __future__ import annotations

import argparse
import gzip
import re
from pathlib import Path

ESCAPES = re.compile(r"\\f[BIRP1-4]|\\f\(..|\\f\[[^]]*\]|\\\(..|\\\[[^]]*\]|\\[&|^%ce0-]|\\\*\(..|\\\*.|\\s[-+]?\d")
PARAGRAPH_BREAKS = (".PP", ".P", ".LP", ".SH", ".SS", ".TP", ".IP", ".HP", ".sp", ".br", ".nf", ".fi", ".RS", ".RE")


def paragraphs(roff: str) -> list[str]:
    found, current = [], []
    for line in roff.splitlines():
        if line.startswith(PARAGRAPH_BREAKS) or not line.strip():
            if current:
                found.append(" ".join(current))
                current = []
            continue
        if line.startswith((".", "'")):
            if line.startswith((".B ", ".I ", ".BR ", ".IR ", ".RB ", ".RI ", ".BI ", ".IB ")):
                current.append(line.split(" ", 1)[1].replace('"', ""))
            continue
        current.append(line)
    if current:
        found.append(" ".join(current))
    cleaned = (" ".join(ESCAPES.sub("", p).replace("\\-", "-").replace("\\", "").split()) for p in found)
    return [p for p in cleaned if len(p.split()) >= 4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    lines: list[str] = []
    for page in sorted(Path("/usr/share/man").glob("man*/*.gz")):
        try:
            lines += paragraphs(gzip.decompress(page.read_bytes()).decode("utf-8", errors="replace"))
        except (OSError, EOFError):
            continue
    text = "\n".join(lines) + "\n"
    with open(args.output, "w", encoding="utf-8") as f:
        for _ in range(args.repeat):
            f.write(text)
    print(f"{len(lines):,} paragraphs, {len(text) * args.repeat / 1e6:.1f} MB -> {args.output}")


if __name__ == "__main__":
    main()
