#include "compressors/emb_full.h"

#include <cmath>
#include <cstring>

#include "toolkit/error.h"

namespace embcomp::ctr {

void check_table_ids(const int64_t* ids, int64_t n, int64_t rows) {
  for (int64_t i = 0; i < n; ++i)
    EC_CHECK(ids[i] >= 0 && ids[i] < rows, kBadInput,
             "embedding id " << ids[i] << " at position " << i << " is outside [0, " << rows
                             << ")");
}

FullTable::FullTable(const TableInit& init)
    // DLRM's init: uniform(-1/sqrt(N), 1/sqrt(N)) is tiny for large N; a fixed range keeps
    // every field trainable at the same pace whatever its cardinality.
    : w_(init.rows, init.dim, 0.05f, init.seed), opt_(init.optimizer) {}

void FullTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, rows());
  const int d = dim();
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * d, w_.row(ids[i]), sizeof(float) * d);
}

void FullTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, rows());
  const int d = dim();
  for (int64_t i = 0; i < n; ++i) w_.accumulate(ids[i], grad_out + i * d);
}

namespace {

TableRegistrar reg{{"Full", "Full",
                    "uncompressed table: one trainable row of D floats per id (4 N D bytes)",
                    [](const std::string& spec, double budget, const TableInit& init)
                        -> std::unique_ptr<EmbeddingTable> {
                      EC_CHECK(budget == 0, kBadInput,
                               spec << ": Full takes no budget (it is the 1.0 reference)");
                      return std::make_unique<FullTable>(init);
                    }}};

}  // namespace
}  // namespace embcomp::ctr
