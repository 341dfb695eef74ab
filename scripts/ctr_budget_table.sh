#!/usr/bin/env bash
# Test AUC versus memory budget for EVERY registered CTR table method (read from
# `embcomp list`, so methods added later appear without editing this script), over several
# seeds, on (a) synthetic Criteo-like data with signal on tail ids and (b) the bundled
# Criteo rows (data/criteo-tiny). Writes OUT_DIR/table.md (the tables of docs/ctr.md) and
# keeps one JSON record per run in OUT_DIR/runs/ (a rerun skips the runs already there).
#
# Every method whose grammar has a budget form (NAME@B) is trained at each budget; a method
# without one (Full) once, as the reference. DLRM, D = 16, one epoch, Adam lr 0.001,
# checkpoint by validation AUC, test evaluated once. One data file per dataset (synthetic:
# ctr-gen --seed DATA_SEED); seed s seeds the training (table and dense init, shuffling), so
# methods are compared on the same test rows and the spread is the training noise. Runs go
# method by method, all seeds of a spec together, so an interrupted run leaves complete
# methods behind (rerun to finish). Methods named DHE* train on the first DHE_ROWS rows only (their
# MLP costs about bytes/4 multiply-adds per distinct id) and are reported in their own table
# with Full on the same rows (audit M4).
#
# Ranking: within one budget, methods sorted by mean test AUC get the same rank as the one
# above them unless the gap in means exceeds the combined spread sqrt(sd1^2 + sd2^2) (sd over
# the seeds); Full is ranked with them as the reference.
#
# Usage: scripts/ctr_budget_table.sh [OUT_DIR]       (default ctr-budget)
# Env:   SEEDS ("1 2 3"), BUDGETS ("0.5 0.1 0.01"), ROWS (synthetic rows, 150000),
#        SCALE (1000), TAIL (tail signal t of ctr-gen, 1), HEAD (r0, 30), DATA_SEED (1),
#        DHE_ROWS (50000),
#        CRITEO (data/criteo-tiny/train.tiny.csv; empty to skip), METHODS (a space-separated
#        subset of the registered names; default all), BATCH (512), THREADS (0 = all cores),
#        DATASETS ("syn criteo": which to train), REPORT_ONLY (1: train nothing, only write the
#        table from the runs already in OUT_DIR/runs)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-ctr-budget}"
seeds="${SEEDS:-1 2 3}"
budgets="${BUDGETS:-0.5 0.1 0.01}"
rows="${ROWS:-150000}"
data_seed="${DATA_SEED:-1}"
scale="${SCALE:-1000}"
tail_signal="${TAIL:-1}"
head_r0="${HEAD:-30}"
dhe_rows="${DHE_ROWS:-50000}"
criteo="${CRITEO-data/criteo-tiny/train.tiny.csv}"
batch="${BATCH:-512}"
threads="${THREADS:-0}"
bin=build/embcomp
[ -x "$bin" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
mkdir -p "$out/runs" "$out/data"
start=$(date +%s)

# "NAME<TAB>1" when NAME has a budget form, "NAME<TAB>0" otherwise: the [ctr table] lines of
# `embcomp list` (the registry).
registered=$("$bin" list | /usr/bin/python3 -c '
import sys
for line in sys.stdin:
    if "[ctr table]" in line:
        grammar = line.split("[ctr table]")[0].strip()  # "Hash@B" or "DHE | DHE@B" or "Full"
        name = grammar.split("|")[0].strip().split("@")[0]
        print(name + "\t" + ("1" if "@B" in grammar else "0"))
')
[ -n "$registered" ] || { echo "no CTR table methods in '$bin list'" >&2; exit 1; }
# Full (the reference) and Hash first, the slow DHE* last: an interrupted run keeps those.
all=$(cut -f1 <<<"$registered")
ordered="$(grep -x Full <<<"$all") $(grep -x Hash <<<"$all") $(grep -vx 'Full\|Hash\|DHE.*' <<<"$all" | tr '\n' ' ') $(grep -x 'DHE.*' <<<"$all" | tr '\n' ' ')"
methods="${METHODS:-$ordered}"
datasets="${DATASETS:-syn criteo}"
[ "${REPORT_ONLY:-0}" = 1 ] && methods=""
want() { [[ " $datasets " == *" $1 "* ]]; }

syn="$out/data/syn-r${rows}-s${scale}-t${tail_signal}-h${head_r0}-seed${data_seed}.bin"
[ -f "$syn" ] || ! want syn || [ -z "$methods" ] || "$bin" ctr-gen --like criteo --rows "$rows" --scale "$scale" --tail-signal "$tail_signal" \
  --head "$head_r0" --seed "$data_seed" --out "$syn" --threads "$threads" >/dev/null || exit 1

run() {  # dataset-tag source seed spec [extra ctr-train args...]
  local tag="$1" source="$2" seed="$3" spec="$4"; shift 4
  local rec="$out/runs/$tag-seed$seed-$spec.jsonl"
  [ -s "$rec" ] && return 0
  echo "== $tag seed $seed $spec" >&2
  if ! "$bin" ctr-train --data "$source" --model dlrm --method "$spec" --dim 16 --batch "$batch" \
      --epochs 1 --eval-every 100 --seed "$seed" --threads "$threads" --quiet --out "$rec" "$@" \
      2>"$rec.err"; then
    /usr/bin/python3 -c 'import json,sys; print(json.dumps({"spec": sys.argv[1], "seed": int(sys.argv[2]),
"error": open(sys.argv[3]).read().strip()}))' "$spec" "$seed" "$rec.err" >"$rec"
  fi
  rm -f "$rec.err"
}

specs_of() {  # method -> its specs
  local m="$1"
  if [ "$(awk -F'\t' -v m="$m" '$1 == m {print $2}' <<<"$registered")" = 1 ]; then
    for b in $budgets; do echo "$m@$b"; done
  else
    echo "$m"
  fi
}

for m in $methods; do
  for spec in $(specs_of "$m"); do
    if want syn; then
      for s in $seeds; do
        case "$m" in
          DHE*) run syn-dhe "synthetic:$syn" "$s" "$spec" --max-rows "$dhe_rows" ;;
          *) run syn "synthetic:$syn" "$s" "$spec" ;;
        esac
      done
    fi
    if [ -n "$criteo" ] && want criteo; then
      for s in $seeds; do run criteo "criteo:$criteo" "$s" "$spec"; done
    fi
  done
  if want syn; then
    case "$m" in DHE*) for s in $seeds; do run syn-dhe "synthetic:$syn" "$s" Full --max-rows "$dhe_rows"; done ;; esac
  fi
done
elapsed=$(( $(date +%s) - start ))
times >"$out/.times"  # this shell's line, then its children's (the training runs)
cpu=$(tail -1 "$out/.times" | awk '{print $1 " user, " $2 " sys"}')

/usr/bin/python3 - "$out" "$elapsed" "$cpu" "$data_seed" "$rows" "$scale" "$tail_signal" "$head_r0" "$dhe_rows" "$criteo" \
  "$seeds" "$budgets" "$batch" >"$out/table.md" <<'PY'
import glob, json, math, os, re, sys
out, elapsed, cpu, data_seed, rows, scale, tail, head, dhe_rows, criteo, seeds, budgets, batch = sys.argv[1:]
recs = {}
for f in glob.glob(os.path.join(out, "runs", "*.jsonl")):
    tag = re.match(r"(.*)-seed\d+-", os.path.basename(f)).group(1)
    for line in open(f):
        if line.strip():
            recs.setdefault(tag, []).append(json.loads(line))

def stats(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else float("nan")
    return m, sd

def fmt(m, sd):
    return f"{m:.4f} ± {sd:.4f}" if not math.isnan(sd) else f"{m:.4f}"

def table(tag, title):
    rs = recs.get(tag, [])
    if not rs:
        return
    by = {}
    for r in rs:
        by.setdefault(r["spec"], []).append(r)
    print(f"### {title}\n")
    ok = [r for r in rs if "error" not in r]
    if ok:
        r0 = min(ok, key=lambda r: r.get("seed", 0))
        print(f"Data `{r0['data']}`: {r0['train_rows']} / {r0['val_rows']} / {r0['test_rows']} rows, "
              f"N = {r0['rows']} ids; {r0['build_type']} build, commit {r0['git_commit']}, {r0['threads']} threads.\n")
    full = [r["test_auc"] for r in by.get("Full", []) if "error" not in r]
    oracle = [r["oracle_test_auc"] for r in ok if "oracle_test_auc" in r and r["spec"] == "Full"]
    if full and oracle:
        gaps = [o - a for o, a in zip(oracle, full)]
        print(f"Full: test AUC {fmt(*stats(full))}; planted oracle on the same test rows "
              f"{fmt(*stats(oracle))}; oracle - Full = {fmt(*stats(gaps))}.\n")
    print("| budget | spec | knob (seed 1) | budget actual (max) | test AUC (mean ± sd) | rank | seeds | note |")
    print("|---|---|---|---|---|---|---|---|")
    groups = {}
    for spec, lst in by.items():
        b = spec.split("@")[1] if "@" in spec else None
        groups.setdefault(b, []).append((spec, lst))
    for b in [x for x in budgets.split() if x in groups]:
        entries = []
        for spec, lst in groups[b] + groups.get(None, []):
            good = [r for r in lst if "error" not in r]
            err = [r for r in lst if "error" in r]
            if good:
                m, sd = stats([r["test_auc"] for r in good])
                act = max(r["budget_actual"] for r in good)
                knob = next((r.get("knob", "") for r in good if r.get("seed") == 1), good[0].get("knob", ""))
                entries.append([spec, knob, act, m, sd, len(good), err])
            else:
                msg = err[0]["error"].splitlines()[-1] if err and err[0]["error"] else "failed"
                entries.append([spec, "", None, None, None, 0, msg])
        ranked = sorted([e for e in entries if e[3] is not None], key=lambda e: -e[3])
        rank, prev = {}, None
        for i, e in enumerate(ranked):
            if prev is None:
                rank[e[0]] = 1
            else:
                spread = math.sqrt((prev[4] or 0) ** 2 + (e[4] or 0) ** 2)
                rank[e[0]] = rank[prev[0]] if (math.isnan(spread) or prev[3] - e[3] <= spread) else i + 1
            prev = e
        for e in ranked + [e for e in entries if e[3] is None]:
            spec, knob, act, m, sd, n, err = e
            if m is None:
                print(f"| {b} | {spec} | | | | | 0 | {str(err).replace('|', '/')} |")
                continue
            budget = 1.0 if spec == "Full" else float(b)
            over = " **OVER BUDGET**" if act > budget + 1e-12 else ""
            note = "reference (not compressed)" if spec == "Full" else ""
            if err:
                note += f" {len(err)} seed(s) failed"
            print(f"| {b} | {spec} | {knob.replace('|', '/')} | {act:.4f}{over} | {fmt(m, sd)} | {rank[spec]} | {n} | {note} |")
    print()

print(f"Command: `bash scripts/ctr_budget_table.sh` (seeds {seeds}; budgets {budgets}; DLRM, D = 16, batch {batch}, "
      f"1 epoch, Adam lr 0.001, validation every 100 steps). Synthetic: `ctr-gen --rows {rows} --scale {scale} "
      f"--tail-signal {tail} --head {head} --seed {data_seed}`; training seeds {seeds}. Runs of this invocation: "
      f"{int(elapsed) // 60} min {int(elapsed) % 60} s wall, CPU {cpu} (uptime load at the end: {os.getloadavg()[0]:.1f}).\n")
table("syn", "Synthetic Criteo-like data, signal on tail ids")
table("criteo", f"Bundled Criteo rows ({criteo})")
table("syn-dhe", f"DHE on the first {dhe_rows} synthetic rows (other data: not comparable with the tables above)")
PY
cat "$out/table.md"
