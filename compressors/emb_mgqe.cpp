#include "compressors/emb_mgqe.h"

#include <cmath>

#include "compressors/budget.h"
#include "compressors/emb_adaembed.h"
#include "compressors/emb_hash.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

int64_t mgqe_bytes(int64_t rows, int dim, int64_t K, int M, int nbits) {
  const int tail = mgqe_tail_bits(nbits);
  return 4 * (int64_t{1} << nbits) * dim + (K * M * nbits + 7) / 8 +
         ((rows - K) * M * tail + 7) / 8 + RowGroups::bytes_for(rows);
}

namespace {

std::unique_ptr<EmbeddingTable> make_mgqe(const std::string& spec, double budget,
                                          const TableInit& init) {
  require_budget(spec, budget, "MGQE");
  EC_CHECK(init.rows <= int64_t{0xFFFFFFFF}, kBadInput,
           spec << ": MGQE keeps row ids as uint32, rows=" << init.rows << " is too many");
  const double full = init.full_bytes();
  const double target = budget * full;
  const int64_t K = std::min<int64_t>(
      init.rows, static_cast<int64_t>(std::ceil(kMgqeHotShare * double(init.rows))));
  DpqParams best;
  int64_t best_bytes = -1;
  const bool fits = best_code_setting(
      init.dim, target,
      [&](int M, int nbits) { return mgqe_bytes(init.rows, init.dim, K, M, nbits); },
      [&](int M, int nbits) {
        return double(M) * (double(K) * nbits + double(init.rows - K) * mgqe_tail_bits(nbits));
      },
      &best, &best_bytes);
  EC_CHECK(fits, kBadInput,
           spec << ": budget of " << int64_t(target)
                << " bytes cannot hold one 1-bit code per row and the group bitmap ("
                << mgqe_bytes(init.rows, init.dim, K, 1, 1) << " bytes)");
  best.seed = init.seed;
  return std::make_unique<DpqTable>(
      init, best, RowGroups(init.rows, hottest_rows(init.counts, init.rows, K)),
      mgqe_tail_bits(best.nbits), spec,
      budget_gap_note(double(best_bytes) / full, budget,
                      "codes are whole bits, at most 8 bits per dimension, M divides D"));
}

TableRegistrar reg{{"MGQE", "MGQE@B",
                    "multi-granular quantized embeddings: DPQ where the 90% least frequent ids "
                    "use a quarter of the centroids (fewer code bits)",
                    make_mgqe}};

}  // namespace
}  // namespace embcomp::ctr
