# Helpers for tests/catalogue/cases.sh, sourced by replay.sh (bash). Every case runs in its own
# empty folder (the current folder of SETUP, the command and CHECK); these helpers make inputs there.
#
# Variables the cases use:
#   $EMBCOMP  the binary under test        $FIX    shared fixtures, built once per replay
#   $B, $Q    1,000 x 16 base and 20 x 16 queries (.fvecs, seeded), in $FIX: read, never write
#   $CRAFT    craft.py (python3 + numpy helpers: vector writers, HDF5, own-index patching)

craft() { /usr/bin/python3 "$CATALOGUE_DIR/craft.py" "$@"; }

# fixture NAME 'shell': runs the shell once per replay in $FIX/NAME (a folder) and returns;
# later calls only return. Cases copy what they need from "$FIX/NAME/".
fixture() {
  local dir="$FIX/$1"
  [ -e "$dir/.done" ] && return 0
  mkdir -p "$dir"
  (cd "$dir" && eval "$2") >"$dir/.log" 2>&1 || {
    echo "fixture $1 failed: $(tail -n 3 "$dir/.log")" >&2
    return 1
  }
  touch "$dir/.done"
}

# idx NAME METHOD [STRUCTURE [extra build args]]: an index of $B (or of $IDXBASE) built once,
# copied here as NAME.idx with its .json sidecar (and .rerank store when built with --rerank).
idx() {
  local name=$1 method=$2 structure=${3:-Flat}
  shift 3 2>/dev/null || shift $#
  fixture "idx_$name" "\"\$EMBCOMP\" build -q --base \"${IDXBASE:-$B}\" --metric l2 --method '$method' --index '$structure' $* --out $name.idx" || return 1
  cp "$FIX/idx_$name/$name.idx"* .
}

# One stderr-free, fast way to make the base and queries local (cases that write next to them).
local_bq() { cp "$B" b.fvecs && cp "$Q" q.fvecs; }

# ids FILE N [PREFIX]: N lines PREFIX0..PREFIX{N-1}.
ids() { local i; for ((i = 0; i < $2; i++)); do echo "${3:-d}$i"; done >"$1"; }

# The number of lines of a file (for CHECKs).
nlines() { wc -l <"$1" | tr -d ' '; }

# A TREC run of $Q's 20 queries against $B (ids q0.., d0..) and qrels judging the first hit.
run_fixture() {
  fixture run "ids cids.txt 1000 d && ids qids.txt 20 q && \"\$EMBCOMP\" build -q --base \"\$B\" --metric l2 --method SQ8 --out s.idx && \"\$EMBCOMP\" search --index s.idx --queries \"\$Q\" --k 10 --ids cids.txt --query-ids qids.txt --out run.tsv && awk '\$4==1{print \$1\" 0 \"\$3\" 1\"}' run.tsv >qrels.txt"
}

# $FIX/b2k/b.fvecs: 2,000 x 16 rows (MagSVD and MGPQ remaps of 4 blocks of 512 rows).
b2k() { fixture b2k 'craft "fvecs(\"b.fvecs\", rnd(2000, 16, 3))"'; }

# CTR inputs: $CRIT (Criteo CSV with header, 1,999 rows) and $CRIT_TSV (Criteo TSV, 100 rows),
# both bundled; $FIX/avazu/a.csv (Avazu CSV, 600 rows over 3 days) and $FIX/syn/syn.bin
# (ctr-gen, 3,000 rows) made once.
CRIT=$CATALOGUE_DIR/../../data/criteo-tiny/train.tiny.csv
CRIT_TSV=$CATALOGUE_DIR/../../data/criteo-tiny/paddlerec_sample_train.criteo_raw.tsv
avazu() {
  fixture avazu 'craft "rows = [\"%d,%d,1410%02d%02d,%d,%d,s%d,a%d,%d\" % (i, i % 5 == 0, 21 + i // 200, i % 24,
    1000 + i % 7, i % 2, i % 13, i % 11, i % 3) for i in range(600)]
put(\"a.csv\", \"\\n\".join([\"id,click,hour,C1,banner_pos,site_id,app_id,device_type\"] + rows + [\"\"]).encode())"'
}
syn() { fixture syn '"$EMBCOMP" ctr-gen --rows 3000 --seed 3 --out syn.bin'; }

# $FIX/text: w.txt (100 words w0..w99), v.fvecs (100 x 16) and d.tsv (50 texts "t<i><TAB>words").
text_fix() {
  fixture text 'for ((i = 0; i < 100; i++)); do echo "w$i"; done >w.txt &&
    craft "fvecs(\"v.fvecs\", rnd(100, 16, 4))" &&
    for ((i = 0; i < 50; i++)); do printf "t%d\tw%d w%d w%d W%d w%d\n" $i $((i % 7)) $((i % 11)) $((i * 3 % 100)) $((i % 5)) $i; done >d.tsv'
}
