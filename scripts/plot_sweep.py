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
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
        fig.savefig(out + ".tmp.png", dpi=110)
        os.replace(out + ".tmp.png", out)
        plt.close(fig)
        print(f"plot_sweep.py: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
