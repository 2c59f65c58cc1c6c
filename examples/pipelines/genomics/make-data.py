#!/usr/bin/env python3
"""Writes a small synthetic genome and sequencing reads for the genomics pipeline example.

make-data.py OUTDIR [READS]  ->  OUTDIR/ref.fa (one 20 kb contig) and OUTDIR/reads.fq (READS reads of 100 bp,
default 2000). Deterministic: the same arguments give the same bytes on any machine (fixed seed, Python's
Mersenne Twister). About 1 % of bases are substituted; one read in ten has low base qualities, which the
example's filter step removes.
"""
import random
import sys

out = sys.argv[1]
n_reads = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
rng = random.Random(20261127)
bases = "ACGT"
genome = "".join(rng.choice(bases) for _ in range(20_000))
with open(f"{out}/ref.fa", "w") as f:
    f.write(">chrS synthetic contig\n")
    for i in range(0, len(genome), 60):
        f.write(genome[i:i + 60] + "\n")

complement = str.maketrans("ACGT", "TGCA")
with open(f"{out}/reads.fq", "w") as f:
    for r in range(n_reads):
        start = rng.randrange(0, len(genome) - 100)
        seq = list(genome[start:start + 100])
        for i in range(len(seq)):
            if rng.random() < 0.01:
                seq[i] = rng.choice([b for b in bases if b != seq[i]])
        seq = "".join(seq)
        if rng.random() < 0.5:
            seq = seq.translate(complement)[::-1]
        low = rng.random() < 0.1
        qual = "".join(chr(33 + (rng.randint(5, 15) if low else rng.randint(30, 40))) for _ in seq)
        f.write(f"@read{r:05d}\n{seq}\n+\n{qual}\n")
