// The heap scan embcomp runs on an HDF5 file's bytes before HDF5 opens it
// (toolkit/io.h: check_hdf5_heaps), on arbitrary bytes: the bytes are the file. This is
// embcomp's own parser of HDF5's on-disk heaps; hdf5_reader reaches it too, but inside
// the forked HDF5 child at tens of inputs/s, so this harness runs it in-process under
// ASan and UBSan at full speed (docs/testing.md).
#include <cstdint>

#include "tests/fuzz/fuzz_common.h"
#include "toolkit/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  fuzz::TempFile file("heaps", ".hdf5", data, size);
  fuzz::guarded([&] { check_hdf5_heaps(file.path()); });
  return 0;
}
