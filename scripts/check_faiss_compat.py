#!/usr/bin/python3
"""Checks that an index written by `embcomp build` loads in stock FAISS (Debian's
python3-faiss) and returns the same top-k ids as `embcomp search`.

usage: check_faiss_compat.py INDEX QUERIES.fvecs RUN.ivecs NPROBE
Exit 0 when every query's ids agree, 1 otherwise (prints the agreement)."""
import sys

import faiss
import numpy as np


def read_fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].copy().view(np.float32)


def read_ivecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:]


def main():
    index_path, queries_path, run_path, nprobe = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    index = faiss.read_index(index_path)
    faiss.ParameterSpace().set_index_parameter(index, "nprobe", nprobe)
    q = read_fvecs(queries_path)
    faiss.normalize_L2(q)  # the index was built over an angular dataset
    ours = read_ivecs(run_path)
    _, ids = index.search(q, ours.shape[1])
    same = float((ids == ours).all(axis=1).mean())
    print("queries with identical top-%d: %.4f" % (ours.shape[1], same))
    sys.exit(0 if same == 1.0 else 1)


if __name__ == "__main__":
    main()
