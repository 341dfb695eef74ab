#!/usr/bin/env python3
"""Derives data/sift-5k/{base,query}.fvecs from NGT's sift-dataset-5k.tsv.

Rows are split ann-benchmarks style: row i (0-based) is a query when i % 10 == 9
(500 queries), a base row otherwise (4,500 rows), each in file order. Column 129 (the
object id) is dropped. Deterministic; uses only the standard library.

usage: scripts/prepare_sift5k.py data/sift-5k/sift-dataset-5k.tsv data/sift-5k
"""
import struct
import sys


def write_fvecs(path, rows):
    with open(path + ".tmp", "wb") as f:
        for r in rows:
            f.write(struct.pack("<i", len(r)))
            f.write(struct.pack("<%df" % len(r), *r))
    import os
    os.replace(path + ".tmp", path)


def main():
    tsv, out = sys.argv[1], sys.argv[2]
    base, query = [], []
    with open(tsv) as f:
        for i, line in enumerate(f):
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 129:
                sys.exit("%s: line %d has %d columns, expected 129" % (tsv, i + 1, len(cols)))
            vec = [float(c) for c in cols[:128]]
            (query if i % 10 == 9 else base).append(vec)
    write_fvecs(out + "/base.fvecs", base)
    write_fvecs(out + "/query.fvecs", query)
    print("base %d x 128, query %d x 128" % (len(base), len(query)))


if __name__ == "__main__":
    main()
