// The HDF5 readers (toolkit/io.h: read_ann_hdf5, and read_floats/read_ids of one dataset)
// on arbitrary bytes. Byte 0 picks what is read, the rest is the file:
//   bit  4    read_ids of "neighbors" instead of floats
//   bits 5-7  0: read_ann_hdf5; else read_floats of "train" (odd) or "test" (even)
// Every HDF5 read runs first in a forked child (hdf5_in_child): a crash or hang inside
// HDF5 1.10.8 there is exit 2 for the file and does not reach this process, so this harness
// finds bugs in embcomp's handling of HDF5's answers and in the checks made before H5Fopen,
// not in HDF5 itself (docs/testing.md). Slower than the other readers: one fork per input.
#include <cstdint>

#include "tests/fuzz/fuzz_common.h"
#include "toolkit/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  const bool ids = sel & 16;
  const int high = sel >> 5;
  fuzz::TempFile file("h5", ".hdf5", data + 1, size - 1);
  fuzz::guarded([&] {
    if (!ids && high == 0) {
      AnnHdf5 a = read_ann_hdf5(file.path());
      fuzz::touch(a.train.values);
      fuzz::touch(a.test.values);
      if (a.neighbors) fuzz::touch(a.neighbors->values);
      if (a.distances) fuzz::touch(a.distances->values);
      return;
    }
    ReadOptions opt;
    opt.hdf5_dataset = ids ? "neighbors" : (high & 1 ? "train" : "test");
    if (ids)
      fuzz::touch(read_ids(file.path(), opt).values);
    else
      fuzz::touch(read_floats(file.path(), opt).values);
  });
  return 0;
}
