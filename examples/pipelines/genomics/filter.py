#!/usr/bin/python3
"""Read filter (a pipeline step): keeps FASTQ reads whose mean Phred quality is at least 20 and whose length is
at least 50. filter.py IN.fq OUT.fq; prints how many reads it kept."""
import sys

kept = dropped = 0
with open(sys.argv[1]) as src, open(sys.argv[2], "w") as dst:
    while True:
        head = src.readline()
        if not head:
            break
        seq, plus, qual = src.readline(), src.readline(), src.readline()
        q = qual.rstrip("\n")
        if len(q) >= 50 and sum(ord(c) - 33 for c in q) / len(q) >= 20:
            dst.write(head + seq + plus + qual)
            kept += 1
        else:
            dropped += 1
print(f"kept {kept} reads, dropped {dropped}")
