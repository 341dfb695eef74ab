// The FAISS index loader embcomp uses (index/faiss_index.h load_index: faiss::read_index
// plus the "<index>.json" sidecar), then a 2-query search as `embcomp search` does it.
// Byte 0 bit 0 set: bytes 1-2 are a little-endian length L, the next L bytes the sidecar
// JSON, the rest the index; clear: the rest is the index and there is no sidecar.
// FAISS itself is not instrumented: what it does with hostile bytes is found through the
// -malloc_limit_mb/-rss_limit_mb limits and signals, not ASan.
#include <faiss/Index.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "index/faiss_index.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  if (size < 1) return 0;
  size_t pos = 1;
  std::unique_ptr<fuzz::TempFile> sidecar;
  if (data[0] & 1) {
    if (size < 3) return 0;
    const size_t len = std::min(size - 3, size_t(data[1]) | size_t(data[2]) << 8);
    sidecar = std::make_unique<fuzz::TempFile>("faiss", ".faissindex.json", data + 3, len);
    pos = 3 + len;
  }
  fuzz::TempFile file("faiss", ".faissindex", data + pos, size - pos);
  fuzz::guarded([&] {
    BuiltIndex b = load_index(file.path());
    const size_t d = size_t(b.index->d), n = size_t(b.index->ntotal);
    if (d == 0 || d > 4096 || n == 0 || !b.index->is_trained) return;
    const size_t k = std::min<size_t>(5, n);
    std::vector<float> q(2 * d), scores(2 * k);
    for (size_t i = 0; i < q.size(); ++i) q[i] = float(i % 7) - 3.0f;
    std::vector<faiss::Index::idx_t> ids(2 * k);
    b.index->search(2, q.data(), faiss::Index::idx_t(k), scores.data(), ids.data());
    fuzz::touch(ids);
  });
  return 0;
}
