// The CTR dataset readers (eval/ctr_data.h load_ctr_dataset, no cache) on arbitrary bytes.
// Byte 0 picks the source and options, the rest is the file:
//   bits 0-1  source: 0 criteo TSV, 1 avazu CSV, 2 synthetic (`embcomp ctr-gen` file),
//             3 criteo CSV (with the Kaggle header)
//   bit  2    skip_bad_rows
//   bits 3-4  min_count - 1
//   bits 5-7  max_rows (0 = all)
#include <cstdint>

#include "eval/ctr_data.h"
#include "tests/fuzz/fuzz_common.h"

namespace {
void touch_split(const embcomp::ctr::CtrSplit& s) {
  embcomp::fuzz::touch(s.dense);
  embcomp::fuzz::touch(s.cat);
  embcomp::fuzz::touch(s.label);
  embcomp::fuzz::touch(s.oracle_p);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  const char* const kPrefix[] = {"criteo:", "avazu:", "synthetic:", "criteo:"};
  const char* const kExt[] = {".tsv", ".csv", ".ctrbin", ".csv"};
  const int kind = sel & 3;
  fuzz::TempFile file("ctr", kExt[kind], data + 1, size - 1);
  fuzz::guarded([&] {
    ctr::CtrLoadOptions opt;
    opt.use_cache = false;
    opt.skip_bad_rows = sel & 4;
    opt.min_count = 1 + ((sel >> 3) & 3);
    opt.max_rows = sel >> 5;
    ctr::CtrDataset ds = ctr::load_ctr_dataset(kPrefix[kind] + file.path(), opt);
    fuzz::touch(ds.field_offsets);
    fuzz::touch(ds.counts);
    touch_split(ds.train);
    touch_split(ds.val);
    touch_split(ds.test);
  });
  return 0;
}
