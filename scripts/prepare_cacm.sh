#!/usr/bin/env bash
# Builds the bundled retrieval dataset data/cacm-glove from the CACM collection in the same
# folder and the GloVe words of data/glove-100-30k:
#   corpus.fvecs + corpus_ids.txt    3,204 documents (title + abstract + keywords), SIF-embedded
#   queries.fvecs + query_ids.txt    64 topics, embedded with the corpus's SIF statistics
#   qrels.txt                        qrels.cacm.txt with every docid written CACM-nnnn
#                                    (55 of its 796 lines say CACM-115 for CACM-0115)
# See data/cacm-glove/PROVENANCE.md.
#
# Usage: scripts/prepare_cacm.sh             (from anywhere; needs a built embcomp)
# Env:   EMBCOMP   the embcomp binary, absolute or relative to the repository root
#                  (default: build/embcomp)
#
# Text of a document (CACM-nnnn.html) = title + abstract + keywords:
#   - title and abstract: the lines after the `<pre>` line up to, not including, the date
#     line (`CACM <Month>, <year>`; a few say `CACM <Month> <year>` or `<Month>, <year>`);
#   - keywords: of the blank-line separated paragraphs between the date line and the
#     `CAyymmdd` line, the one right before the CR-categories paragraph (a paragraph of
#     digits, dots, commas and spaces, e.g. `3.21 5.15 5.17`); 1,424 documents have one.
#   The authors, CR categories, the `CA` line and the citation lines are left out. Lines
#   are joined with single spaces; runs of spaces and tabs become one space.
# Text of a topic (topics.cacm.txt, TREC SGML): every line between `<DOCNO> n </DOCNO>`
# and `</DOC>`, joined the same way; the id is n.
set -euo pipefail
export LC_ALL=C  # byte order for the file list, ASCII case mapping in awk
cd "$(dirname "$0")/.."
dir=data/cacm-glove
glove=data/glove-100-30k
embcomp="${EMBCOMP:-build/embcomp}"
[ -x "$embcomp" ] || { echo "prepare_cacm: $embcomp not found; build first (scripts/build.sh)" >&2; exit 1; }

(cd "$dir" && sha256sum --quiet -c -) <<'EOF'
4e318d8920a384dfe11f81410abdc19d96a0e23e5fb7832c385be75c7cb75bf9  cacm.tar.gz
359f77ee6aab89333745a7f25f56370268a493abe1baff76979ad37a4d5428ef  qrels.cacm.txt
1dc7b94fbf4adeb0c49be44fc6d7802ddc7bc4ad1b869013af10d09b44019799  topics.cacm.txt
EOF
(cd "$glove" && sha256sum --quiet -c -) <<'EOF'
91a7768878632b9d170926945f1f20b038a2329056041b7a23b2cd461cc7ca59  base.fvecs
0559136c9cc860967bc0cc86691b8cb5ccde48d964da2aca527c49ef6ce4e1fe  query.fvecs
f967bcacb5b9ef4c6f50e92815b00b92ca83be3325b17898fb75802f708208dc  base_words.txt
f5d26da00e4f0526f5d3abded623166b01704cdefc9ebb749e3af4959b92f6fb  query_words.txt
EOF

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/html"
tar xzf "$dir/cacm.tar.gz" -C "$tmp/html"
n_html=$(find "$tmp/html" -type f -name 'CACM-*.html' | wc -l)
[ "$n_html" = 3204 ] || { echo "prepare_cacm: expected 3204 CACM-*.html files, found $n_html" >&2; exit 1; }

# Documents -> docs.tsv (`CACM-nnnn<TAB>title abstract keywords`), files in byte order.
# state 1: title and abstract lines; state 2: the paragraphs after the date line, where
# the keywords are the paragraph right before the CR-categories paragraph.
(cd "$tmp/html" && awk '
  function flush() {
    if (id == "") return
    if (state == 1) { printf("prepare_cacm: %s: no date line after the title\n", file) > "/dev/stderr"; bad = 1 }
    end_para()
    text = text " " keywords
    gsub(/[ \t]+/, " ", text); sub(/^ /, "", text); sub(/ $/, "", text)
    printf("%s\t%s\n", id, text)
  }
  # A paragraph after the date line is complete: a CR-categories paragraph (only digits,
  # dots, commas, spaces) makes the text paragraph before it the keywords.
  function end_para() {
    if (para == "") return
    numeric = (para ~ /^[0-9., \t]*$/)
    if (numeric && prev != "" && !prev_numeric && keywords == "") keywords = prev
    prev = para; prev_numeric = numeric; para = ""
  }
  FNR == 1 { flush(); file = FILENAME; id = FILENAME; sub(/\.html$/, "", id); state = 0; text = ""; para = ""; prev = ""; prev_numeric = 0; keywords = "" }
  state == 0 { if ($0 ~ /^<pre>/) state = 1; next }
  state == 1 {
    line = tolower($0)
    if (line ~ /^[ \t]*(cacm[ \t]+)?(january|february|march|april|may|june|july|august|september|october|november|december),?[ \t]*[0-9][0-9][0-9][0-9][ \t]*$/) { state = 2; next }
    text = text " " $0; next
  }
  state == 2 {
    if ($0 ~ /^CA[0-9][0-9][0-9][0-9][0-9][0-9]/) { end_para(); state = 3; next }
    if ($0 ~ /^[ \t]*$/) { end_para(); next }
    para = para " " $0
  }
  END { flush(); exit bad }
' CACM-*.html) >"$tmp/docs.tsv"

# Topics -> queries.tsv (`n<TAB>text`).
awk '
  /<DOCNO>/ { id = $0; gsub(/<\/?DOCNO>|[ \t]/, "", id); text = ""; inside = 1; next }
  /<\/DOC>/ { if (inside) { gsub(/[ \t]+/, " ", text); sub(/^ /, "", text); sub(/ $/, "", text); printf("%s\t%s\n", id, text) } inside = 0; next }
  inside { text = text " " $0 }
' "$dir/topics.cacm.txt" >"$tmp/queries.tsv"

# Qrels with the docids of the corpus: CACM-<n> -> CACM-<n as 4 digits>.
awk '
  NF != 4 || $3 !~ /^CACM-[0-9]+$/ { printf("prepare_cacm: qrels.cacm.txt line %d is not `qid Q0 CACM-n rel`\n", NR) > "/dev/stderr"; exit 1 }
  { n = $3; sub(/^CACM-/, "", n); printf("%s %s CACM-%04d %s\n", $1, $2, n + 0, $4) }
' "$dir/qrels.cacm.txt" >"$tmp/qrels.txt"

[ "$(wc -l <"$tmp/docs.tsv")" = 3204 ] || { echo "prepare_cacm: docs.tsv does not have 3204 lines" >&2; exit 1; }
[ "$(wc -l <"$tmp/queries.tsv")" = 64 ] || { echo "prepare_cacm: queries.tsv does not have 64 lines" >&2; exit 1; }

"$embcomp" embed-text \
  --words "$glove/base_words.txt" --vectors "$glove/base.fvecs" \
  --words "$glove/query_words.txt" --vectors "$glove/query.fvecs" \
  --docs "$tmp/docs.tsv" --out "$dir/corpus.fvecs" --ids-out "$dir/corpus_ids.txt" \
  --queries "$tmp/queries.tsv" --queries-out "$dir/queries.fvecs" --query-ids-out "$dir/query_ids.txt" \
  --sif-a 0.001 --rmpc 1

cp "$tmp/qrels.txt" "$dir/qrels.txt.tmp" && mv "$dir/qrels.txt.tmp" "$dir/qrels.txt"

# The check the dataset ships with: exact fp32 inner-product search, trec_eval metrics.
"$embcomp" eval --qrels "$dir/qrels.txt" \
  --corpus "$dir/corpus.fvecs" --corpus-ids "$dir/corpus_ids.txt" \
  --queries "$dir/queries.fvecs" --query-ids "$dir/query_ids.txt" \
  --metrics ndcg@10,mrr@10,recall@100,map@100,p@10
