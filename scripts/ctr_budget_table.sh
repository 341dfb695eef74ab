#!/usr/bin/env bash
# AUC versus memory budget for every CTR table method on synthetic Criteo-like data with a
# planted model (the table in docs/ctr.md). Each method is trained at each budget it can
# reach (DLRM, D=16, batch 1024, one epoch, Adam); an unreachable budget is listed as such.
#
# Usage: scripts/ctr_budget_table.sh [OUT_DIR]
# Env:   DATA (a source such as criteo:train.txt or avazu:train.csv; default: synthetic data
#        generated here), ROWS (default 1000000), SCALE (default 100), BUDGETS (default
#        "0.5 0.1 0.01"), DHE_ROWS (default 200000: DHE's MLP costs about its bytes/4 flops
#        per distinct id)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-ctr-budget}"
rows="${ROWS:-1000000}"
scale="${SCALE:-100}"
budgets="${BUDGETS:-0.5 0.1 0.01}"
dhe_rows="${DHE_ROWS:-200000}"
bin=build/embcomp
mkdir -p "$out"
if [ -n "${DATA:-}" ]; then
  source="$DATA"
else
  data="$out/synthetic-${rows}-s${scale}.bin"
  [ -f "$data" ] || "$bin" ctr-gen --like criteo --rows "$rows" --scale "$scale" --seed 1 --out "$data" || exit 1
  source="synthetic:$data"
fi

train() {  # name spec extra-args...
  local name="$1" spec="$2"; shift 2
  local rec="$out/$name.jsonl"
  [ -s "$rec" ] && return 0
  echo "== $spec" >&2
  if ! "$bin" ctr-train --data "$source" --model dlrm --method "$spec" --dim 16 --batch 1024 \
      --epochs 1 --eval-every 200 --quiet --out "$rec" "$@" 2>"$out/$name.err"; then
    printf '{"spec":"%s","error":%s}\n' "$spec" \
      "$(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))' <"$out/$name.err")" >"$rec"
  fi
}

train Full Full
for m in INT8 INT16 ALPT; do train "$m" "$m"; done
for b in $budgets; do
  for m in Hash QR QRsum TT ROBE MDE AdaEmbed; do train "$m@$b" "$m@$b"; done
  train "DHE@$b" "DHE@$b" --max-rows "$dhe_rows"
done

/usr/bin/python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "*.jsonl"))):
    for line in open(f):
        if line.strip():
            rows.append(json.loads(line))
print("| spec | knob | budget actual | val AUC | test AUC | oracle test AUC | test logloss | train samples/s | note |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if "error" in r:
        print(f"| {r['spec']} | | | | | | | | {r['error'].splitlines()[-1] if r['error'] else 'failed'} |")
        continue
    print(f"| {r['spec']} | {r.get('knob','')} | {r['budget_actual']:.4f} | {r['val_auc']:.4f} | {r['test_auc']:.4f} | "
          f"{format(r['oracle_test_auc'], '.4f') if 'oracle_test_auc' in r else ''} | {r['test_logloss']:.4f} | "
          f"{r['train_samples_per_s']:.0f} | "
          f"{r.get('budget_note') or ''} |")
PY
