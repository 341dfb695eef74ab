#!/usr/bin/env python3
"""Writes an `embcomp ctr-gen` file as Criteo Kaggle TSV (label, I1..I13, C1..C26), to measure
the text parser on realistic vocabularies (docs/ctr.md). Ids become distinct 8-hex values per
field: (id * 2654435761 + field) mod 2^32 (2654435761 is odd, so the map is one-to-one).
Usage: scripts/ctr_synthetic_to_tsv.py IN.bin OUT.tsv"""
import struct
import sys


def main(src, dst):
    with open(src, "rb") as f, open(dst + ".tmp", "w") as out:
        head = f.read(136)  # fixed header of format version 2
        assert head[:8] == b"ECCTRSYN", "not a ctr-gen file"
        assert struct.unpack_from("<I", head, 8)[0] == 2, "ctr-gen format version 2 expected"
        _, nd, nf, _, rows = struct.unpack_from("<IIIIq", head, 8)
        f.read(8 * nf)
        rec = struct.Struct("<%df%difI" % (nd, nf))
        for _ in range(rows):
            v = rec.unpack(f.read(rec.size))
            dense = ["%d" % x for x in v[:nd]]
            cats = ["%08x" % ((i * 2654435761 + c) & 0xFFFFFFFF) for c, i in enumerate(v[nd:nd + nf])]
            out.write("\t".join([str(v[-1])] + dense + cats) + "\n")
    import os
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
