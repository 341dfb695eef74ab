// Vector readers (toolkit/io.h) on arbitrary bytes. Byte 0 picks what is read, the rest
// is the file:
//   bits 0-3  format, modulo 9: fvecs ivecs bvecs fbin ibin u8bin npy hdf5 raw
//   bit  4    read_ids instead of read_floats (hdf5: the "neighbors" dataset)
//   bits 5-7  raw: the dimension raw_d - 1; hdf5: 0 -> read_ann_hdf5, else the dataset
//             read_floats reads ("train" or "test")
#include <cstdint>

#include "tests/fuzz/fuzz_common.h"
#include "toolkit/io.h"

namespace {
const char* const kExt[] = {".fvecs", ".ivecs", ".bvecs", ".fbin", ".ibin",
                            ".u8bin", ".npy",   ".hdf5",  ".raw"};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  const int fmt = (sel & 15) % 9;
  const bool ids = sel & 16;
  const int high = sel >> 5;
  fuzz::TempFile file("vec", kExt[fmt], data + 1, size - 1);
  fuzz::guarded([&] {
    ReadOptions opt;
    opt.raw_d = size_t(high) + 1;
    if (fmt == 7) {
      if (!ids && high == 0) {
        AnnHdf5 a = read_ann_hdf5(file.path());
        fuzz::touch(a.train.values);
        fuzz::touch(a.test.values);
        if (a.neighbors) fuzz::touch(a.neighbors->values);
        if (a.distances) fuzz::touch(a.distances->values);
        return;
      }
      opt.hdf5_dataset = ids ? "neighbors" : (high & 1 ? "train" : "test");
    }
    if (ids)
      fuzz::touch(read_ids(file.path(), opt).values);
    else
      fuzz::touch(read_floats(file.path(), opt).values);
  });
  return 0;
}
