#!/usr/bin/python3
"""Input crafting for the hostile-input catalogue (tests/catalogue/cases.sh).

Usage: craft.py 'STATEMENTS' [...]   each argument is Python run with the helpers below in
scope, in the current folder, e.g.
    craft.py 'fvecs("b.fvecs", rnd(100, 16))'
    craft.py 'own_patch("p.idx", "MODL", lambda m: ...)'

Helpers (all little endian, as the formats are):
  rnd(n, d, seed=1)              float32 normal rows (seeded)
  fvecs/ivecs/bvecs(path, x)     the .Xvecs formats: per row an int32 d, then the row
  fbin/ibin/u8bin(path, x)       u32 n, u32 d, then the rows
  raw(path, x)                   the rows only
  npy(path, x)                   numpy's own writer (format 1.0)
  npy_raw(path, header, payload=b"", version=(1, 0), hl=None, magic=b"\\x93NUMPY")
                                 a .npy with this header text, verbatim (hl: the header length field)
  npyh(path, dict_text, payload=b"", version=(1, 0))   the same with numpy's header padding
  hdr(descr, shape, fortran)     the header dict text numpy writes
  h5(path, **datasets)           an HDF5 file (h5py) with these datasets
  ann(path, train, test, distance, **extra)   an ann-benchmarks HDF5 file (defaults: the fixtures'
                                 rows; a callable value f(h5file, name) makes that dataset itself)
  put(path, data) / get(path)    bytes
  patch(path, offset, data)      overwrite bytes at offset
  u32, u64, i32, i64, f32        pack one value
  own_read(path) -> (version, [[name, bytearray payload], ...])
  own_write(path, version, sections)   writes sections and a fresh "CSUM" (index/checksum.h)
  own_patch(path, name, fn)      fn(bytearray payload) edits the section in place (or returns new
                                 bytes); the checksums and the sidecars' build ids follow
  vec(payload, pos, esz)         a serialized vector at pos: (start of its elements, end)
  own_set_version(path, v)       rewrites the file with format version v
  head_fields(payload) / head_set(payload, field, value)   the HEAD u64s: seed n d code_size nlist
  fix_build_id(index_path)       the .json sidecar's and .rerank store's build id := the file's
  checksum64(data)               index/checksum.h
  jsonl_edit(path, fn, status)   edits the first JSON Lines record with that "status"
  gt_poison(path, fn)            rewrites a ground-truth cache's ids (fn(ids)), checksum kept valid
"""
import json
import os
import struct
import sys

import numpy as np

MASK = (1 << 64) - 1


def rnd(n, d, seed=1):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def put(path, data):
    with open(path, "wb") as f:
        f.write(bytes(data))


def get(path):
    with open(path, "rb") as f:
        return bytearray(f.read())


def patch(path, offset, data):
    b = get(path)
    b[offset:offset + len(data)] = data
    put(path, b)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & MASK)


def i32(v):
    return struct.pack("<i", v)


def i64(v):
    return struct.pack("<q", v)


def f32(v):
    return struct.pack("<f", v)


def _xvecs(path, x, dtype):
    x = np.asarray(x, dtype=dtype)
    n, d = x.shape
    out = bytearray()
    for row in x:
        out += struct.pack("<i", d) + row.tobytes()
    put(path, out)


def fvecs(path, x):
    _xvecs(path, x, np.float32)


def ivecs(path, x):
    _xvecs(path, x, np.int32)


def bvecs(path, x):
    _xvecs(path, x, np.uint8)


def _bin(path, x, dtype):
    x = np.asarray(x, dtype=dtype)
    put(path, struct.pack("<II", *x.shape) + x.tobytes())


def fbin(path, x):
    _bin(path, x, np.float32)


def ibin(path, x):
    _bin(path, x, np.int32)


def u8bin(path, x):
    _bin(path, x, np.uint8)


def raw(path, x):
    put(path, np.asarray(x, dtype=np.float32).tobytes())


def npy(path, x):
    with open(path, "wb") as f:
        np.save(f, x)


def npy_raw(path, header, payload=b"", version=(1, 0), hl=None, magic=b"\x93NUMPY"):
    h = header.encode("latin1") if isinstance(header, str) else header
    if hl is None:
        hl = len(h)
    size = struct.pack("<H", hl) if version[0] == 1 else struct.pack("<I", hl)
    put(path, magic + bytes(version) + size + h + bytes(payload))


def npyh(path, dict_text, payload=b"", version=(1, 0)):
    """A .npy whose header is dict_text, padded with blanks and a newline as numpy pads it."""
    pre = 10 if version[0] == 1 else 12
    h = dict_text + " " * (-(pre + len(dict_text) + 1) % 64) + "\n"
    npy_raw(path, h, payload, version)


def hdr(descr="<f4", shape=(1000, 16), fortran="False"):
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


def h5(path, **datasets):
    import h5py
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)


def ann(path, train=None, test=None, distance="euclidean", **extra):
    """An ann-benchmarks HDF5 file: train (1,000 x 16) and test (20 x 16) rows of the fixtures,
    the root attribute distance, and any extra datasets (h5py objects: a callable gets the file)."""
    import h5py
    with h5py.File(path, "w") as f:
        for name, v in (("train", rnd(1000, 16, 1) if train is None else train),
                        ("test", rnd(20, 16, 2) if test is None else test)):
            if callable(v):
                v(f, name)
            elif v is not False:
                f.create_dataset(name, data=v)
        for name, v in extra.items():
            if callable(v):
                v(f, name)
            else:
                f.create_dataset(name, data=v)
        if distance is not None:
            f.attrs["distance"] = distance


def jsonl_edit(path, fn, status="ok"):
    """Replaces the first JSON Lines record whose "status" is status by fn(record): a dict is
    dumped as JSON, a str is written verbatim (one line)."""
    lines = get(path).decode().splitlines()
    for i, line in enumerate(lines):
        rec = json.loads(line)
        if rec.get("status") == status:
            r = fn(rec)
            lines[i] = r if isinstance(r, str) else json.dumps(r)
            break
    else:
        raise SystemExit("no record with status " + status)
    put(path, ("\n".join(lines) + "\n").encode())


def gt_poison(path, fn):
    """Rewrites the ids of a ground-truth cache (eval/ground_truth.cpp: ..., u64 k, u64 n,
    u64 nq, vector<int32> ids, u64 FNV-1a of the ids) as fn(ids as an (nq, k) int32 array), with
    a matching checksum: only the cache's verification by exact search can refuse it."""
    b = get(path)
    count = start = 0
    # the ids vector ends 8 bytes before the end; its count sits 8 bytes before its first id
    for start in range(len(b) - 16, 0, -1):
        (c,) = struct.unpack_from("<Q", b, start - 8)
        if start + 4 * c == len(b) - 8:
            count = c
            break
    k, n, nq = struct.unpack_from("<QQQ", b, start - 32)
    assert count == k * nq, "not a ground-truth cache"
    ids = np.frombuffer(bytes(b[start:start + 4 * count]), dtype="<i4").reshape(nq, k).copy()
    new = np.asarray(fn(ids), dtype="<i4").tobytes()
    h = 1469598103934665603
    for byte in new:
        h = ((h ^ byte) * 1099511628211) & MASK
    put(path, b[:start] + new + u64(h))


def checksum64(data):
    data = bytes(data)
    h = 0
    mul = 0x9E3779B97F4A7C15

    def mix(h, w):
        h = ((h ^ w) * mul) & MASK
        return h ^ (h >> 29)

    pad = data + b"\0" * (-len(data) % 8)
    for (w,) in struct.iter_unpack("<Q", pad):
        h = mix(h, w)
    return mix(h, 0x6A09E667F3BCC909 ^ len(data))


def own_read(path):
    b = get(path)
    assert b[:8] == b"EMBCIDX\0", path + ": not an own index"
    version = struct.unpack_from("<I", b, 8)[0]
    pos, secs = 12, []
    while pos < len(b):
        name = bytes(b[pos:pos + 4]).decode()
        (ln,) = struct.unpack_from("<Q", b, pos + 4)
        secs.append([name, bytearray(b[pos + 12:pos + 12 + ln])])
        pos += 12 + ln
    return version, [s for s in secs if s[0] != "CSUM"]


def own_write(path, version, sections, csum=True):
    out = bytearray(b"EMBCIDX\0" + u32(version))
    sums = []
    for name, payload in sections:
        sec = name.encode() + u64(len(payload)) + bytes(payload)
        sums.append(name.encode() + u64(checksum64(sec)))
        out += sec
    if csum:
        c = u64(len(sums)) + b"".join(sums)
        out += b"CSUM" + u64(len(c)) + c
    put(path, out)
    fix_build_id(path)


def own_patch(path, name, fn):
    version, secs = own_read(path)
    for s in secs:
        if s[0] == name:
            r = fn(s[1])
            if r is not None:
                s[1] = bytearray(r)
            break
    else:
        raise SystemExit("no section " + name)
    own_write(path, version, secs)


def _head_offsets(p):
    pos = 0
    for _ in range(4):  # tag, method, structure, metric
        (ln,) = struct.unpack_from("<Q", p, pos)
        pos += 8 + ln
    return {f: pos + 8 * i for i, f in enumerate(["seed", "n", "d", "code_size", "nlist"])}


def head_fields(p):
    return {f: struct.unpack_from("<Q", p, o)[0] for f, o in _head_offsets(p).items()}


def head_set(p, field, value):
    o = _head_offsets(p)[field]
    p[o:o + 8] = u64(value)


def vec(p, pos, esz):
    """The serialized vector at pos (u64 count, then count elements of esz bytes):
    returns (start of the elements, end)."""
    (count,) = struct.unpack_from("<Q", p, pos)
    return pos + 8, pos + 8 + count * esz


def own_set_version(path, version):
    _, secs = own_read(path)
    own_write(path, version, secs)


def fix_build_id(index_path):
    bid = checksum64(get(index_path))
    side = index_path + ".json"
    if os.path.exists(side):
        with open(side) as f:
            meta = json.load(f)
        meta["build_id"] = "%016x" % bid
        with open(side, "w") as f:
            json.dump(meta, f, indent=2)
    store = index_path + ".rerank"
    if os.path.exists(store):
        b = get(store)
        # HEAD: tag, spec (u64 length + bytes each), seed, n, d, code_size, build id
        pos = 12 + 12
        for _ in range(2):
            (ln,) = struct.unpack_from("<Q", b, pos)
            pos += 8 + ln
        pos += 8 * 4
        b[pos:pos + 8] = u64(bid)
        put(store, b)


if __name__ == "__main__":
    env = {k: v for k, v in globals().items() if not k.startswith("__")}
    for stmt in sys.argv[1:]:
        exec(stmt, env)
