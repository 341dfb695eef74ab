// Vector readers (toolkit/io.h) on arbitrary bytes, HDF5 aside (hdf5_reader_fuzz.cpp). Byte 0
// picks what is read, the rest is the file:
//   bits 0-2  format: fvecs ivecs bvecs fbin ibin u8bin npy raw
//   bit  4    read_ids instead of read_floats
//   bits 5-7  raw: the dimension raw_d - 1
#include <cstdint>

#include "tests/fuzz/fuzz_common.h"
#include "toolkit/io.h"

namespace {
const char* const kExt[] = {".fvecs", ".ivecs", ".bvecs", ".fbin",
                            ".ibin",  ".u8bin", ".npy",   ".raw"};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  const int fmt = sel & 7;
  const bool ids = sel & 16;
  fuzz::TempFile file("vec", kExt[fmt], data + 1, size - 1);
  fuzz::guarded([&] {
    ReadOptions opt;
    opt.raw_d = size_t(sel >> 5) + 1;
    if (ids)
      fuzz::touch(read_ids(file.path(), opt).values);
    else
      fuzz::touch(read_floats(file.path(), opt).values);
  });
  return 0;
}
