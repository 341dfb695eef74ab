// The re-ranking store (index/rerank_store.h): MappedRerankStore::open on arbitrary bytes,
// then decode_rows of its first, middle and last rows, as a two-stage search reads them.
#include <cstdint>
#include <vector>

#include "index/rerank_store.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  fuzz::TempFile file("rerank", ".idx.rerank", data, size);
  fuzz::guarded([&] {
    auto store = MappedRerankStore::open(file.path());
    const size_t n = store->n(), d = store->d();
    if (n == 0 || d == 0 || d > 4096) return;
    const int64_t ids[3] = {0, int64_t(n / 2), int64_t(n - 1)};
    std::vector<float> out(3 * d);
    store->decode_rows(ids, 3, out.data());
    fuzz::touch(out);
  });
  return 0;
}
