// embcomp's own index (index/own_index.h): OwnIndex::load on arbitrary bytes, then a
// 2-query search over what loaded (every nprobe list), so that every method's loader and
// decode path sees hostile contents. The last byte's bit 0 asks for the asymmetric
// (first-stage) search of binary codes.
#include <algorithm>
#include <cstdint>

#include "index/own_index.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  fuzz::TempFile file("own", ".idx", data, size);
  fuzz::guarded([&] {
    OwnIndex idx = OwnIndex::load(file.path());
    const size_t d = idx.d(), n = idx.n();
    if (d == 0 || d > 4096 || n == 0) return;
    FloatMatrix q(2, d);
    for (size_t i = 0; i < q.values.size(); ++i) q.values[i] = float(i % 7) - 3.0f;
    if (idx.nlist() > 0) idx.set_params("nprobe=" + std::to_string(idx.nlist()));
    const bool asymmetric = size > 0 && (data[size - 1] & 1);
    KnnResult r = idx.search(q.view(), std::min<size_t>(5, n), asymmetric);
    fuzz::touch(r.ids);
    fuzz::touch(r.scores);
  });
  return 0;
}
