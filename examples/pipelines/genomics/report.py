#!/usr/bin/python3
"""Coverage report (a pipeline step): combines `samtools coverage` and `samtools depth -a` tables into one JSON
document. report.py COVERAGE.tsv DEPTH.tsv OUT.json"""
import json
import sys

contigs = {}
with open(sys.argv[1]) as f:
    header = f.readline().lstrip("#").split()
    for line in f:
        row = dict(zip(header, line.split()))
        contigs[row["rname"]] = {"length": int(row["endpos"]), "reads": int(row["numreads"]),
                                 "covered_bases": int(row["covbases"]), "mean_depth": float(row["meandepth"])}
depths = {}
with open(sys.argv[2]) as f:
    for line in f:
        name, _, d = line.split()
        depths.setdefault(name, []).append(int(d))
for name, ds in depths.items():
    c = contigs.setdefault(name, {})
    c["bases_at_5x"] = sum(1 for d in ds if d >= 5)
    c["max_depth"] = max(ds)
with open(sys.argv[3], "w") as out:
    json.dump({"contigs": contigs}, out, indent=2, sort_keys=True)
    out.write("\n")
print(f"{len(contigs)} contig(s) reported")
