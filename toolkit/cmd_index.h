// `embcomp build` and `embcomp search`: FAISS indexes over compressed corpora.
#pragma once

namespace embcomp {

/// embcomp build --data D --method SPEC --index STRUCT --out corpus.idx
int cmd_build(int argc, char** argv);
/// embcomp search --index corpus.idx --queries Q --k 100 [--params ...] --out run.tsv
int cmd_search(int argc, char** argv);

}  // namespace embcomp
