// The method-spec parsers. Byte 0 bit 7 picks the parser, the rest of byte 0 and byte 1
// give sizes, the rest is the spec:
//   clear  toolkit/registry.h: check_spec, then make_table and make_codec at d = 1 +
//          byte0 % 64 and n = 1 + 4 * byte1, as `embcomp build/bench` do before training;
//   set    compressors/emb_table.h make_embedding_table (the `ctr-train --method` specs)
//          for 3 fields of 1 + byte1 rows each at D = 1 + byte0 % 16, then a lookup of
//          the first and last rows.
#include <cstdint>
#include <string>
#include <vector>

#include "compressors/emb_table.h"
#include "tests/fuzz/fuzz_common.h"
#include "toolkit/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  if (size < 2) return 0;
  const std::string spec(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (data[0] & 0x80) {
    fuzz::guarded([&] {
      ctr::TableInit init;
      const int64_t per_field = 1 + data[1];
      init.dim = 1 + (data[0] & 0x7f) % 16;
      init.field_offsets = {0, per_field, 2 * per_field, 3 * per_field};
      init.rows = 3 * per_field;
      init.counts.assign(size_t(init.rows), 0);
      for (int64_t i = 0; i < init.rows; ++i) init.counts[size_t(i)] = uint32_t(1 + i % 5);
      auto table = ctr::make_embedding_table(spec, init);
      const int64_t ids[2] = {0, table->rows() - 1};
      std::vector<float> out(2 * size_t(table->dim()));
      table->lookup(ids, 2, out.data());
      fuzz::touch(out);
    });
    return 0;
  }
  const size_t d = 1 + data[0] % 64, n = 1 + 4 * size_t(data[1]);
  fuzz::guarded([&] { check_spec(spec); });
  fuzz::guarded([&] {
    auto table = make_table(spec, n, d);
    volatile size_t s = table->d() + table->spec().size();
    (void)s;
  });
  fuzz::guarded([&] {
    auto codec = make_codec(spec, d);
    volatile size_t s = codec->d() + codec->spec().size();
    (void)s;
  });
  return 0;
}
