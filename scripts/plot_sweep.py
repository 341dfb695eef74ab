#!/usr/bin/env python3
"""Draws the plots of an `embcomp sweep` from DIR/results.csv (validation points):

  DIR/quality_vs_ratio.png  quality vs compression ratio (fp32 bytes / total bytes)
  DIR/quality_vs_qps.png    quality vs batch queries per second

One colour and marker per method family, a legend, labelled axes, log-scale x axes;
the recommended method of each budget is ringed. Needs matplotlib (Debian:
python3-matplotlib, installed by scripts/setup.sh).

usage: plot_sweep.py DIR [QUALITY_NAME]
"""
import csv
import errno
import os
import random
import re
import stat
import string
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


TMP_CHARS = string.digits + string.ascii_letters
TMP_PID = re.compile(r"[0-9]{1,10}")
TMP_TAIL = re.compile(r"[0-9A-Za-z]{6}")


def write_png_atomically(fig, out_dir, name):
    """Writes fig as DIR/NAME the way embcomp writes its outputs (toolkit/io.h AtomicFile):
    a fresh `.NAME.embcomp.tmp.PID.XXXXXX` beside it (O_EXCL, no symlink followed),
    fsynced, renamed onto NAME, the folder fsynced. An existing NAME that is not a regular
    file (folder, symlink, device, FIFO, socket) is refused and left as it was; temporaries
    of the same name whose process is gone are removed first."""
    out = os.path.join(out_dir, name)
    try:
        st = os.lstat(out)
        if stat.S_ISLNK(st.st_mode):
            raise OSError(errno.EEXIST, "is a symbolic link (give the link's target)")
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EEXIST, "exists and is not a regular file")
    except FileNotFoundError:
        pass
    prefix = "." + name[:200] + ".embcomp.tmp."
    try:
        entries = os.listdir(out_dir or ".")
    except OSError:
        entries = []  # best effort, as in embcomp: a stale temporary is only wasted space
    for entry in entries:
        rest = entry[len(prefix):] if entry.startswith(prefix) else ""
        pid, dot, tail = rest.partition(".")
        if not (TMP_PID.fullmatch(pid) and dot and TMP_TAIL.fullmatch(tail)):
            continue
        pid = int(pid)
        if pid <= 0 or pid > 2**31 - 1 or pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except OSError:
            continue  # not ours to judge
        path = os.path.join(out_dir, entry)
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                os.unlink(path)
        except OSError:
            pass
    rng = random.SystemRandom()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        tmp = os.path.join(out_dir, prefix + f"{os.getpid()}." +
                           "".join(rng.choice(TMP_CHARS) for _ in range(6)))
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # the rename is done; a folder that cannot be fsynced (EINVAL) is not a failure
        dfd = os.open(out_dir or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: plot_sweep.py DIR [QUALITY_NAME]\n")
        return 2
    out_dir = sys.argv[1]
    quality_name = sys.argv[2] if len(sys.argv) > 2 else "quality"
    path = os.path.join(out_dir, "results.csv")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.stderr.write(f"plot_sweep.py: cannot read {path}: {e.strerror}\n")
        return 2
    points = [r for r in rows if r.get("status") == "ok" and r.get("split") == "val"]
    recommended = {(r["budget"], r["method"], r.get("rerank", "")) for r in rows
                   if r.get("role") == "recommended"}
    if not points:
        sys.stderr.write(f"plot_sweep.py: {path} has no measured validation points\n")
        return 2
    families = sorted({r["family"] for r in points})
    cmap = plt.get_cmap("tab20")
    markers = "osD^v<>phX*P8Hd"
    style = {f: (cmap(i % 20), markers[i % len(markers)]) for i, f in enumerate(families)}

    failed = False
    for xkey, xlabel, fname in (
            ("compression_ratio", "compression ratio (fp32 bytes / total bytes), log scale",
             "quality_vs_ratio.png"),
            ("qps", "queries per second (batch, all threads), log scale", "quality_vs_qps.png")):
        fig, ax = plt.subplots(figsize=(10, 6.5))
        for fam in families:
            xs = [float(r[xkey]) for r in points if r["family"] == fam]
            ys = [float(r["quality"]) for r in points if r["family"] == fam]
            color, marker = style[fam]
            ax.scatter(xs, ys, label=fam, color=color, marker=marker, s=36, alpha=0.85)
        rx = [float(r[xkey]) for r in points
              if (r["budget"], r["method"], r.get("rerank", "")) in recommended]
        ry = [float(r["quality"]) for r in points
              if (r["budget"], r["method"], r.get("rerank", "")) in recommended]
        if rx:
            ax.scatter(rx, ry, facecolors="none", edgecolors="black", s=160, linewidths=1.5,
                       label="recommended (per budget)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"validation {quality_name}")
        ax.set_title(f"embcomp sweep: {quality_name} vs "
                     f"{'compression ratio' if xkey == 'compression_ratio' else 'QPS'}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        fig.tight_layout()
        out = os.path.join(out_dir, fname)
        try:
            write_png_atomically(fig, out_dir, fname)
        except OSError as e:
            sys.stderr.write(f"plot_sweep.py: cannot write {out}: {e.strerror or e}\n")
            failed = True
            continue
        finally:
            plt.close(fig)
        print(f"plot_sweep.py: wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
