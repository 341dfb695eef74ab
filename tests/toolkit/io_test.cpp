// Tests for toolkit/io: a round trip for every format (bytes crafted here for the formats that
// have no writer), known bytes for the writers, and every error path the issue lists: truncated
// and corrupted files, non-finite values, extensions that lie, missing files and directories.
#include "toolkit/io.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_data.h"

namespace {

namespace fs = std::filesystem;
using embcomp::AnnHdf5;
using embcomp::AtomicFile;
using embcomp::Error;
using embcomp::ErrorKind;
using embcomp::FloatMatrix;
using embcomp::IdMatrix;
using embcomp::MatrixView;
using embcomp::ReadOptions;
using embcomp::VecFormat;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)

/// A fresh directory named after the running test.
std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return embcomp::testing::temp_dir(name);
}

/// Runs f, which must throw embcomp::Error of the given kind; returns its message, or "" (and
/// a test failure) when it did not throw.
template <class F>
std::string error_of(F&& f, ErrorKind kind = ErrorKind::kBadInput) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    return e.message();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-embcomp exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Overwrites bytes at offset in an existing file.
void patch_file(const std::string& path, size_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

template <class T>
std::string pod(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

template <class T>
std::string pod(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

/// TEXMEX bytes: per row int32 d then the row's values as T.
template <class T>
std::string texmex(const std::vector<std::vector<T>>& rows) {
  std::string s;
  for (const auto& r : rows) s += pod(static_cast<int32_t>(r.size())) + pod(r);
  return s;
}

/// big-ann bytes: uint32 n, uint32 d, then the payload.
std::string bin(uint32_t n, uint32_t d, const std::string& payload) {
  return pod(n) + pod(d) + payload;
}

/// A .npy file with the given dict fields, in format version major.0, padded like NumPy does.
std::string npy(const std::string& descr, const std::string& shape, const std::string& payload,
                int major = 1, const std::string& fortran = "False") {
  std::string dict =
      "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
  const size_t prefix = major == 1 ? 10 : 12;
  dict.append((64 - (prefix + dict.size() + 1) % 64) % 64, ' ');
  dict.push_back('\n');
  std::string s = "\x93NUMPY";
  s.push_back(static_cast<char>(major));
  s.push_back('\0');
  if (major == 1) {
    s += pod(static_cast<uint16_t>(dict.size()));
  } else {
    s += pod(static_cast<uint32_t>(dict.size()));
  }
  return s + dict + payload;
}

/// float -> binary16 bits for the values the tests use (normal range, zero, Inf, NaN);
/// truncates the mantissa and flushes values below 2^-14 to zero.
uint16_t to_half(float f) {
  const auto bits = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  if (std::isnan(f)) return sign | 0x7e00u;
  if (std::isinf(f)) return sign | 0x7c00u;
  const int exp = static_cast<int>((bits >> 23) & 0xffu) - 127 + 15;
  if (exp <= 0) return sign;
  EXPECT_LT(exp, 31) << f << " is too large for float16";
  return static_cast<uint16_t>(sign | (exp << 10) | ((bits >> 13) & 0x3ffu));
}

/// Reference binary16 -> float, straight from the definition (independent of io.cpp).
float half_ref(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v;
  if (exp == 31) {
    v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (exp == 0) {
    v = std::ldexp(mant, -24);
  } else {
    v = std::ldexp(1024 + mant, exp - 25);
  }
  return static_cast<float>(sign ? -v : v);
}

FloatMatrix sample(size_t n, size_t d, uint64_t seed = 7) {
  return embcomp::testing::low_rank(n, d, 4, 0.1f, seed);
}

IdMatrix sample_ids(size_t n, size_t d, int64_t scale) {
  IdMatrix ids(n, d);
  for (size_t i = 0; i < ids.values.size(); ++i) {
    ids.values[i] = (static_cast<int64_t>(i * 7919 % 1000) - 300) * scale;
  }
  return ids;
}

template <class T>
void expect_same(const embcomp::Matrix<T>& got, const embcomp::Matrix<T>& want) {
  EXPECT_EQ(got.n, want.n);
  EXPECT_EQ(got.d, want.d);
  EXPECT_EQ(got.values, want.values);
}

/// Minimal HDF5 writer for crafting files our writer would not produce.
class H5Writer {
 public:
  explicit H5Writer(const std::string& path, hsize_t userblock = 0, size_t offset_bytes = 8) {
    const hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (userblock > 0) H5Pset_userblock(fcpl, userblock);
    if (offset_bytes != 8) EXPECT_GE(H5Pset_sizes(fcpl, offset_bytes, 8), 0);
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    EXPECT_GE(file_, 0) << path;
  }
  ~H5Writer() { H5Fclose(file_); }
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  void dataset(const char* name, hid_t file_type, hid_t mem_type, const void* data, hsize_t n,
               hsize_t d) {
    const hsize_t dims[2] = {n, d};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t ds =
        H5Dcreate2(file_, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(ds, 0) << name;
    EXPECT_GE(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0) << name;
    H5Dclose(ds);
    H5Sclose(space);
  }
  void floats(const char* name, const FloatMatrix& x) {
    dataset(name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, x.data(), x.n, x.d);
  }
  void doubles(const char* name, const FloatMatrix& x) {
    std::vector<double> wide(x.values.begin(), x.values.end());
    dataset(name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, wide.data(), x.n, x.d);
  }
  void int32s(const char* name, const IdMatrix& ids) {
    std::vector<int32_t> narrow(ids.values.begin(), ids.values.end());
    dataset(name, H5T_STD_I32LE, H5T_NATIVE_INT32, narrow.data(), ids.n, ids.d);
  }
  /// A chunked dataset whose header claims n x d float32 but whose chunks were never written.
  void unwritten(const char* name, hsize_t n, hsize_t d) {
    const hsize_t chunk[2] = {1024, d};
    empty_float32(name, n, d, [&](hid_t dcpl, hid_t) { H5Pset_chunk(dcpl, 2, chunk); });
  }
  /// A dataset whose raw data lives in the external file `raw` (its n * d float32 values),
  /// not in this file: H5Pset_external.
  void external(const char* name, const std::string& raw, hsize_t n, hsize_t d) {
    empty_float32(name, n, d, [&](hid_t dcpl, hid_t) {
      EXPECT_GE(H5Pset_external(dcpl, raw.c_str(), 0, n * d * 4), 0);
    });
  }
  /// A virtual dataset mapping all of dataset `src_name` (n x d float32) of file `src`.
  void virtual_of(const char* name, const std::string& src, const char* src_name, hsize_t n,
                  hsize_t d) {
    empty_float32(name, n, d, [&](hid_t dcpl, hid_t space) {
      EXPECT_GE(H5Pset_virtual(dcpl, space, src.c_str(), src_name, space), 0);
    });
  }
  /// An n x d float32 dataset created with the storage properties `layout` sets on its dcpl
  /// (given the dataset's dataspace); nothing is written.
  void empty_float32(const char* name, hsize_t n, hsize_t d,
                     const std::function<void(hid_t dcpl, hid_t space)>& layout) {
    const hsize_t dims[2] = {n, d};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    layout(dcpl, space);
    const hid_t ds = H5Dcreate2(file_, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    EXPECT_GE(ds, 0) << name;
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
  /// A link `name` to dataset `target` of another file.
  void external_link(const char* name, const std::string& file, const char* target) {
    EXPECT_GE(H5Lcreate_external(file.c_str(), target, file_, name, H5P_DEFAULT, H5P_DEFAULT), 0);
  }
  /// A scalar variable-length string attribute on the root (as h5py writes f.attrs[name]).
  void vlen_string(const char* name, const std::string& value) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attr = H5Acreate2(file_, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char* s = value.c_str();
    EXPECT_GE(H5Awrite(attr, type, &s), 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
  }
  /// A fixed-length string attribute on the root, `size` bytes with the given padding.
  void fixed_string(const char* name, const std::string& value, size_t size, H5T_str_t pad) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, size);
    H5Tset_strpad(type, pad);
    std::string buf = value;
    buf.resize(size, pad == H5T_STR_SPACEPAD ? ' ' : '\0');
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attr = H5Acreate2(file_, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Awrite(attr, type, buf.data()), 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
  }

 private:
  hid_t file_ = -1;
};

// ---- extensions ------------------------------------------------------------------------------

TEST(Io, FormatFromExtension) {
  EXPECT_EQ(embcomp::format_from_extension("a/b.fvecs"), VecFormat::kFvecs);
  EXPECT_EQ(embcomp::format_from_extension("b.ivecs"), VecFormat::kIvecs);
  EXPECT_EQ(embcomp::format_from_extension("b.bvecs"), VecFormat::kBvecs);
  EXPECT_EQ(embcomp::format_from_extension("b.fbin"), VecFormat::kFbin);
  EXPECT_EQ(embcomp::format_from_extension("b.ibin"), VecFormat::kIbin);
  EXPECT_EQ(embcomp::format_from_extension("b.u8bin"), VecFormat::kU8bin);
  EXPECT_EQ(embcomp::format_from_extension("b.npy"), VecFormat::kNpy);
  EXPECT_EQ(embcomp::format_from_extension("b.hdf5"), VecFormat::kHdf5);
  EXPECT_EQ(embcomp::format_from_extension("b.h5"), VecFormat::kHdf5);
  EXPECT_EQ(embcomp::format_from_extension("b.raw"), VecFormat::kRaw);
  EXPECT_EQ(embcomp::format_from_extension("b.f32"), VecFormat::kRaw);
  EXPECT_EQ(embcomp::format_from_extension("dir.npy/B.FVECS"), VecFormat::kFvecs);
}

TEST(Io, UnknownExtension) {
  std::string msg = error_of([] { embcomp::format_from_extension("data/base.txt"); });
  EXPECT_CONTAINS(msg, "data/base.txt: unknown extension '.txt'");
  EXPECT_CONTAINS(msg, ".fvecs");
  msg = error_of([] { embcomp::read_floats("data/base"); });
  EXPECT_CONTAINS(msg, "data/base: no file extension");
  msg = error_of([] { embcomp::read_ids("dir.fvecs/ids"); });
  EXPECT_CONTAINS(msg, "dir.fvecs/ids: no file extension");
}

// ---- TEXMEX ----------------------------------------------------------------------------------

TEST(Io, FvecsRoundTrip) {
  const std::string path = test_dir() + "/x.fvecs";
  const FloatMatrix x = sample(123, 37);
  embcomp::write_fvecs(path, x.view());
  EXPECT_EQ(fs::file_size(path), 123u * (4 + 37 * 4));
  expect_same(embcomp::read_floats(path), x);
}

TEST(Io, FvecsKnownBytes) {
  const std::string path = test_dir() + "/x.fvecs";
  FloatMatrix x(2, 3);
  x.values = {1.5f, -2.0f, 0.25f, 3.0f, 4.0f, -0.0f};
  embcomp::write_fvecs(path, x.view());
  EXPECT_EQ(read_file(path), texmex<float>({{1.5f, -2.0f, 0.25f}, {3.0f, 4.0f, -0.0f}}));
}

TEST(Io, FvecsLargerThanOneChunk) {
  // 20000 rows of 1204 bytes span two 16 MiB read chunks: checks the chunk boundary, and that
  // the row named in an error is counted from the start of the file.
  const std::string path = test_dir() + "/big.fvecs";
  FloatMatrix x = sample(20000, 300);
  embcomp::write_fvecs(path, x.view());
  expect_same(embcomp::read_floats(path), x);

  x.row(15000)[7] = std::numeric_limits<float>::quiet_NaN();
  embcomp::write_fvecs(path, x.view());
  std::string msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(msg, path + ": row 15000 column 7 is NaN");

  x.row(15000)[7] = 0;
  embcomp::write_fvecs(path, x.view());
  patch_file(path, 19999 * (4 + 300 * 4), pod(int32_t{301}));
  msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(msg, path + ": row 19999 has d=301 but row 0 has d=300");
  fs::remove(path);  // 24 MB; temp_dir leaves the rest to the OS tmp cleaner
}

TEST(Io, FvecsTruncated) {
  const std::string path = test_dir() + "/x.fvecs";
  embcomp::write_fvecs(path, sample(10, 100).view());
  fs::resize_file(path, 10 * 404 - 170);
  const std::string msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(
      msg, path + ": truncated: file size 3870 is not a multiple of the row size 404 (d=100)");
}

TEST(Io, FvecsRowWithDifferentD) {
  const std::string path = test_dir() + "/x.fvecs";
  // Same total size as 3 rows of d=4 (20 bytes each), but row 1 claims d=3 and row 2 d=5.
  write_file(path, texmex<float>({{1, 2, 3, 4}, {1, 2, 3}, {1, 2, 3, 4, 5}}));
  const std::string msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(msg, path + ": row 1 has d=3 but row 0 has d=4");
}

TEST(Io, FvecsHeaderClaimsHugeDimension) {
  const std::string path = test_dir() + "/x.fvecs";
  write_file(path, pod(int32_t{1} << 30) + std::string(64, '\0'));
  std::string msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(msg, path + ": not a .fvecs file: the first row header says d=1073741824");
  write_file(path, pod(int32_t{-5}) + std::string(64, '\0'));
  msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(msg, "d=-5");
}

TEST(Io, EmptyFvecsIsAnError) {
  const std::string path = test_dir() + "/x.fvecs";
  write_file(path, "");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }), path + ": empty file");
  write_file(path, "ab");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }), path + ": truncated");
  EXPECT_CONTAINS(error_of([&] { embcomp::write_fvecs(path, FloatMatrix(0, 4).view()); }),
                  "cannot write an empty matrix");
}

TEST(Io, IvecsRoundTrip) {
  const std::string path = test_dir() + "/gt.ivecs";
  IdMatrix ids = sample_ids(50, 10, 1000);
  ids.values[3] = std::numeric_limits<int32_t>::min();
  ids.values[4] = std::numeric_limits<int32_t>::max();
  embcomp::write_ivecs(path, ids.view());
  expect_same(embcomp::read_ids(path), ids);
  // read_floats converts the integers.
  const FloatMatrix f = embcomp::read_floats(path);
  ASSERT_EQ(f.values.size(), ids.values.size());
  for (size_t i = 0; i < f.values.size(); ++i) {
    EXPECT_EQ(f.values[i], static_cast<float>(ids.values[i]));
  }
}

TEST(Io, IvecsRejectsValuesOutsideInt32) {
  const std::string dir = test_dir();
  IdMatrix ids = sample_ids(5, 4, 1);
  ids.row(2)[3] = int64_t{1} << 31;
  std::string msg = error_of([&] { embcomp::write_ivecs(dir + "/gt.ivecs", ids.view()); });
  EXPECT_CONTAINS(msg, dir + "/gt.ivecs: value 2147483648 at row 2 column 3 does not fit in int32");
  ids.row(2)[3] = -(int64_t{1} << 31) - 1;
  msg = error_of([&] { embcomp::write_ivecs(dir + "/gt.ivecs", ids.view()); });
  EXPECT_CONTAINS(msg, "value -2147483649 at row 2 column 3");
  EXPECT_TRUE(fs::is_empty(dir)) << "no file, not even a temporary, is left";
}

TEST(Io, BvecsCrafted) {
  const std::string path = test_dir() + "/x.bvecs";
  write_file(path, texmex<uint8_t>({{0, 1, 2}, {255, 128, 7}}));
  const FloatMatrix x = embcomp::read_floats(path);
  ASSERT_EQ(x.n, 2u);
  ASSERT_EQ(x.d, 3u);
  EXPECT_EQ(x.values, (std::vector<float>{0, 1, 2, 255, 128, 7}));
  EXPECT_EQ(embcomp::read_ids(path).values, (std::vector<int64_t>{0, 1, 2, 255, 128, 7}));
  // a bvecs row is 4 + d bytes: one byte short is truncated
  const std::string bytes = texmex<uint8_t>({{0, 1, 2}, {255, 128, 7}});
  write_file(path, bytes.substr(0, bytes.size() - 1));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }), "truncated");
}

// ---- big-ann bin -----------------------------------------------------------------------------

TEST(Io, FbinRoundTrip) {
  const std::string path = test_dir() + "/x.fbin";
  const FloatMatrix x = sample(77, 19);
  embcomp::write_floats(path, x.view());
  const std::string bytes = read_file(path);
  ASSERT_EQ(bytes.size(), 8u + 77 * 19 * 4);
  EXPECT_EQ(bytes.substr(0, 8), pod(uint32_t{77}) + pod(uint32_t{19}));
  expect_same(embcomp::read_floats(path), x);
}

TEST(Io, IbinCrafted) {
  const std::string path = test_dir() + "/gt.ibin";
  const std::vector<int32_t> v = {5, -1, 2147483647, 0, -2147483647 - 1, 42};
  write_file(path, bin(3, 2, pod(v)));
  const IdMatrix ids = embcomp::read_ids(path);
  EXPECT_EQ(ids.n, 3u);
  EXPECT_EQ(ids.d, 2u);
  EXPECT_EQ(ids.values, std::vector<int64_t>(v.begin(), v.end()));
  EXPECT_EQ(embcomp::read_floats(path).values[1], -1.0f);
}

TEST(Io, U8binCrafted) {
  const std::string path = test_dir() + "/x.u8bin";
  const std::vector<uint8_t> v = {0, 255, 3, 4, 5, 200, 7, 8};
  write_file(path, bin(2, 4, pod(v)));
  const FloatMatrix x = embcomp::read_floats(path);
  EXPECT_EQ(x.n, 2u);
  EXPECT_EQ(x.d, 4u);
  EXPECT_EQ(x.values, std::vector<float>(v.begin(), v.end()));
  EXPECT_EQ(embcomp::read_ids(path).values, std::vector<int64_t>(v.begin(), v.end()));
}

TEST(Io, FbinHeaderClaimsHugeN) {
  const std::string path = test_dir() + "/x.fbin";
  write_file(path, bin(4000000000u, 1000, std::string(400, '\0')));
  const std::string msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(msg, path + ": truncated: file size 408 does not match the 16000000000008 bytes");
  EXPECT_CONTAINS(msg, "n=4000000000, d=1000");
}

TEST(Io, FbinSizeMismatch) {
  const std::string dir = test_dir();
  write_file(dir + "/short.fbin", bin(10, 4, std::string(10 * 4 * 4 - 1, '\0')));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/short.fbin"); }),
                  dir + "/short.fbin: truncated: file size 167 does not match the 168 bytes");
  write_file(dir + "/long.fbin", bin(10, 4, std::string(10 * 4 * 4 + 4, '\0')));
  const std::string msg = error_of([&] { embcomp::read_floats(dir + "/long.fbin"); });
  EXPECT_CONTAINS(msg, dir + "/long.fbin: file size 172 does not match the 168 bytes");
  EXPECT_EQ(msg.find("truncated"), std::string::npos) << msg;
  write_file(dir + "/tiny.fbin", "abc");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/tiny.fbin"); }),
                  "smaller than the 8-byte header");
  write_file(dir + "/d0.u8bin", bin(3, 0, ""));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/d0.u8bin"); }), "d=0");
}

// ---- .npy ------------------------------------------------------------------------------------

TEST(Io, NpyFloatRoundTrip) {
  const std::string path = test_dir() + "/x.npy";
  const FloatMatrix x = sample(64, 33);
  embcomp::write_npy(path, x.view());
  expect_same(embcomp::read_floats(path), x);
}

TEST(Io, NpyHeaderKnownBytes) {
  // What np.save writes for np.zeros((3, 4), np.float32): the 118-byte dict padded so that the
  // data starts at byte 128.
  const std::string path = test_dir() + "/x.npy";
  FloatMatrix x(3, 4);
  embcomp::write_npy(path, x.view());
  std::string want = std::string("\x93NUMPY\x01\x00", 8) + "v" + std::string(1, '\0') +
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }" +
                     std::string(58, ' ') + "\n" + std::string(48, '\0');
  EXPECT_EQ(read_file(path), want);
}

TEST(Io, NpyIdsRoundTrip) {
  const std::string path = test_dir() + "/gt.npy";
  IdMatrix ids = sample_ids(20, 6, int64_t{1} << 33);  // beyond int32
  embcomp::write_npy(path, ids.view());
  EXPECT_CONTAINS(read_file(path).substr(0, 64), "'descr': '<i8'");
  expect_same(embcomp::read_ids(path), ids);
  const FloatMatrix f = embcomp::read_floats(path);
  EXPECT_EQ(f.values[5], static_cast<float>(ids.values[5]));
}

TEST(Io, NpyEmptyMatrix) {
  const std::string path = test_dir() + "/x.npy";
  embcomp::write_npy(path, FloatMatrix(0, 8).view());
  const FloatMatrix x = embcomp::read_floats(path);
  EXPECT_EQ(x.n, 0u);
  EXPECT_EQ(x.d, 8u);
}

TEST(Io, NpyFloat16AllValues) {
  // Every binary16 bit pattern, widened and compared with the definition.
  const std::string path = test_dir() + "/h.npy";
  std::vector<uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  write_file(path, npy("<f2", "(256, 256)", pod(all)));
  ReadOptions opt;
  opt.check_finite = false;
  const FloatMatrix x = embcomp::read_floats(path, opt);
  ASSERT_EQ(x.n, 256u);
  ASSERT_EQ(x.d, 256u);
  size_t mismatches = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    const float want = half_ref(all[i]), got = x.values[i];
    const bool same =
        std::isnan(want) ? std::isnan(got) : got == want && std::signbit(got) == std::signbit(want);
    if (!same && ++mismatches <= 5) ADD_FAILURE() << "half 0x" << std::hex << i << ": " << got;
  }
  EXPECT_EQ(mismatches, 0u);
  // known answers
  EXPECT_EQ(x.values[0x3c00], 1.0f);
  EXPECT_EQ(x.values[0xc000], -2.0f);
  EXPECT_EQ(x.values[0x7bff], 65504.0f);
  EXPECT_EQ(x.values[0x0001], std::ldexp(1.0f, -24));
  EXPECT_EQ(x.values[0x0400], std::ldexp(1.0f, -14));
}

TEST(Io, NpyInt32AndUint8) {
  const std::string dir = test_dir();
  const std::vector<int32_t> i4 = {-7, 0, 2147483647, 12, -2147483647 - 1, 3};
  write_file(dir + "/i4.npy", npy("<i4", "(2, 3)", pod(i4)));
  const IdMatrix ids = embcomp::read_ids(dir + "/i4.npy");
  EXPECT_EQ(ids.n, 2u);
  EXPECT_EQ(ids.d, 3u);
  EXPECT_EQ(ids.values, std::vector<int64_t>(i4.begin(), i4.end()));
  EXPECT_EQ(embcomp::read_floats(dir + "/i4.npy").values[0], -7.0f);

  const std::vector<uint8_t> u1 = {1, 2, 255, 0};
  write_file(dir + "/u1.npy", npy("|u1", "(4, 1)", pod(u1)));
  const FloatMatrix x = embcomp::read_floats(dir + "/u1.npy");
  EXPECT_EQ(x.n, 4u);
  EXPECT_EQ(x.d, 1u);
  EXPECT_EQ(x.values, (std::vector<float>{1, 2, 255, 0}));
  EXPECT_EQ(embcomp::read_ids(dir + "/u1.npy").values, (std::vector<int64_t>{1, 2, 255, 0}));
}

TEST(Io, NpyVersions2And3) {
  const std::string dir = test_dir();
  const FloatMatrix x = sample(5, 3);
  for (int major : {2, 3}) {
    const std::string path = dir + "/v" + std::to_string(major) + ".npy";
    write_file(path, npy("<f4", "(5, 3)", pod(x.values), major));
    expect_same(embcomp::read_floats(path), x);
  }
  // a v1 file relabelled 2.0: its header length read as uint32 takes in "{'" and is huge
  std::string v1 = npy("<f4", "(5, 3)", pod(x.values), 1);
  v1[6] = 2;
  write_file(dir + "/bad.npy", v1);
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/bad.npy"); }),
                  dir + "/bad.npy: .npy header length 662372470 is implausible");
  v1[6] = 4;
  write_file(dir + "/v4.npy", v1);
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/v4.npy"); }),
                  "unsupported .npy format version 4.0");
}

TEST(Io, NpyOtherSpellingsOfTheHeader) {
  const std::string path = test_dir() + "/x.npy";
  const FloatMatrix x = sample(2, 2);
  // double quotes, other key order, Python 2 longs, no trailing comma
  std::string dict = "{\"shape\": (2L, 2L), \"fortran_order\": False, \"descr\": \"<f4\"}";
  dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
  dict += "\n";
  write_file(path, std::string("\x93NUMPY\x01\x00", 8) + pod(static_cast<uint16_t>(dict.size())) +
                       dict + pod(x.values));
  expect_same(embcomp::read_floats(path), x);
}

TEST(Io, NpyRejectsFortranOrder) {
  const std::string path = test_dir() + "/x.npy";
  write_file(path, npy("<f4", "(2, 3)", std::string(24, '\0'), 1, "True"));
  const std::string msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(msg, path + ": fortran_order=True is not supported");
}

TEST(Io, NpyRejectsBigEndian) {
  const std::string path = test_dir() + "/x.npy";
  write_file(path, npy(">f4", "(2, 3)", std::string(24, '\0')));
  const std::string msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(msg, path + ": big-endian dtype '>f4' is not supported");
  EXPECT_CONTAINS(msg, "astype('<f4')");
}

TEST(Io, NpyRejectsUnsupportedDtype) {
  const std::string dir = test_dir();
  write_file(dir + "/f8.npy", npy("<f8", "(2, 3)", std::string(48, '\0')));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/f8.npy"); }),
                  dir + "/f8.npy: unsupported dtype '<f8'");
  write_file(dir + "/f4.npy", npy("<f4", "(2, 3)", std::string(24, '\0')));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ids(dir + "/f4.npy"); }),
                  dir + "/f4.npy: holds float32 values, not integer ids");
  write_file(dir + "/f2.npy", npy("<f2", "(2, 3)", std::string(12, '\0')));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ids(dir + "/f2.npy"); }), "float16");
}

TEST(Io, NpyRejectsMalformedHeader) {
  const std::string dir = test_dir();
  const std::string payload(48, '\0');
  write_file(dir + "/a.npy", npy("<f4", "(3, 4", payload));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/a.npy"); }),
                  dir + "/a.npy: malformed .npy header");
  write_file(dir + "/b.npy", npy("<f4", "(12,)", payload));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/b.npy"); }),
                  "expected a 2-D array (n, d), got shape (12,)");
  write_file(dir + "/c.npy", npy("<f4", "(2, 2, 3)", payload));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/c.npy"); }), "got shape (2, 2, 3)");
  // catalogue npy_dup_keys: a key given twice was read with its last value
  write_file(dir + "/dup.npy", npy("<f4", "(3, 4)", payload, 1, "False, 'descr': '<f4'"));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/dup.npy"); }),
                  "key 'descr' given twice");
  write_file(dir + "/d.npy", npy("<f4", "(3, -4)", payload));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/d.npy"); }), "malformed");
  write_file(dir + "/e.npy", npy("<f4", "(3, 4)", payload, 1, "Maybe"));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/e.npy"); }), "True or False");
  // header length pointing past the end of the file
  std::string f = npy("<f4", "(3, 4)", "");
  f[8] = '\xff';
  f[9] = '\xff';
  write_file(dir + "/f.npy", f);
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/f.npy"); }),
                  "truncated: the .npy header of 65535 bytes");
}

TEST(Io, NpyWithoutMagic) {
  const std::string path = test_dir() + "/x.npy";
  write_file(path, texmex<float>({{1, 2, 3}}));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }), path + ": not a .npy file");
  write_file(path, "\x93NUM");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }), path + ": not a .npy file");
}

TEST(Io, NpyTruncated) {
  const std::string path = test_dir() + "/x.npy";
  embcomp::write_npy(path, sample(10, 4).view());
  fs::resize_file(path, fs::file_size(path) - 4);
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }),
                  path +
                      ": truncated: file size 284 does not match the 288 bytes implied by "
                      "shape (10, 4) and dtype '<f4'");
}

TEST(Io, NpyHeaderClaimsHugeShape) {
  const std::string dir = test_dir();
  write_file(dir + "/a.npy", npy("<f4", "(1000000000000, 100)", std::string(400, '\0')));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/a.npy"); }),
                  "truncated: file size 528 does not match the 400000000000128 bytes");
  write_file(dir + "/b.npy", npy("<f4", "(1000000000000, 1000000000000)", ""));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/b.npy"); }),
                  dir + "/b.npy: size overflow");
}

// ---- raw -------------------------------------------------------------------------------------

TEST(Io, RawFloat32) {
  const std::string dir = test_dir();
  const FloatMatrix x = sample(9, 5);
  for (const char* name : {"/x.raw", "/x.f32"}) {
    write_file(dir + name, pod(x.values));
    ReadOptions opt;
    opt.raw_d = 5;
    expect_same(embcomp::read_floats(dir + name, opt), x);
  }
}

TEST(Io, RawNeedsDimensionAndWholeRows) {
  const std::string path = test_dir() + "/x.raw";
  write_file(path, pod(sample(9, 5).values));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }, ErrorKind::kUsage),
                  path + ": a headerless float32 file needs its dimension d");
  ReadOptions opt;
  opt.raw_d = 4;
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path, opt); }),
                  path + ": truncated: file size 180 is not a multiple of the row size 16 (d=4)");
  write_file(path, "");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path, opt); }), path + ": empty file");
}

// ---- HDF5 ------------------------------------------------------------------------------------

TEST(Io, Hdf5RoundTrip) {
  const std::string path = test_dir() + "/ann.hdf5";
  const FloatMatrix train = sample(50, 16, 1), test = sample(7, 16, 2), distances = sample(7, 5, 3);
  const IdMatrix neighbors = sample_ids(7, 5, int64_t{1} << 32);
  embcomp::write_ann_hdf5(path, train.view(), test.view(), neighbors.view(), distances.view(),
                          "angular");
  const AnnHdf5 a = embcomp::read_ann_hdf5(path);
  expect_same(a.train, train);
  expect_same(a.test, test);
  ASSERT_TRUE(a.neighbors.has_value());
  expect_same(*a.neighbors, neighbors);
  ASSERT_TRUE(a.distances.has_value());
  expect_same(*a.distances, distances);
  EXPECT_EQ(a.distance, "angular");

  expect_same(embcomp::read_floats(path), train);
  expect_same(embcomp::read_ids(path), neighbors);
  ReadOptions opt;
  opt.hdf5_dataset = "test";
  expect_same(embcomp::read_floats(path, opt), test);
  opt.hdf5_dataset = "distances";
  expect_same(embcomp::read_floats(path, opt), distances);
}

TEST(Io, Hdf5OptionalDatasetsMayBeAbsent) {
  const std::string path = test_dir() + "/ann.h5";
  const FloatMatrix train = sample(20, 4, 1), test = sample(3, 4, 2);
  embcomp::write_ann_hdf5(path, train.view(), test.view(), {}, {}, "euclidean");
  const AnnHdf5 a = embcomp::read_ann_hdf5(path);
  expect_same(a.train, train);
  expect_same(a.test, test);
  EXPECT_FALSE(a.neighbors.has_value());
  EXPECT_FALSE(a.distances.has_value());
  EXPECT_EQ(a.distance, "euclidean");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ids(path); }), path + ": no dataset 'neighbors'");
}

// HDF5 1.10.8 loops forever on a global heap whose free-space object has size 0 (it
// advances by each object's size) when it reads a variable-length string from that heap,
// as the "distance" attribute is (vec_readers' fuzz campaign; `bench --data` hung).
TEST(Io, Hdf5GlobalHeapThatDoesNotAdvanceIsRefused) {
  const std::string path = test_dir() + "/heap.hdf5";
  const FloatMatrix train = sample(20, 4, 1), test = sample(3, 4, 2);
  embcomp::write_ann_hdf5(path, train.view(), test.view(), {}, {}, "euclidean");
  EXPECT_EQ(embcomp::read_ann_hdf5(path).distance, "euclidean");
  std::string b;
  {
    std::ifstream in(path, std::ios::binary);
    b.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t g = b.find("GCOL");
  ASSERT_NE(g, std::string::npos);
  // The collection: a 16-byte header, object 1 ("euclidean": a 16-byte object header and 16
  // bytes of data), then the free-space object 0, whose size field is at +8.
  uint16_t idx;
  std::memcpy(&idx, b.data() + g + 16, 2);
  ASSERT_EQ(idx, 1);
  std::memcpy(&idx, b.data() + g + 48, 2);
  ASSERT_EQ(idx, 0);
  uint64_t free_size;
  std::memcpy(&free_size, b.data() + g + 56, 8);
  ASSERT_GE(free_size, 16u);
  EXPECT_NO_THROW(embcomp::check_hdf5_heaps(path));
  std::memset(b.data() + g + 56, 0, 8);
  write_file(path, b);
  const std::string why = "corrupt HDF5 global heap at byte " + std::to_string(g) +
                          ": object 0 of size 0 at byte " + std::to_string(g + 48) +
                          " does not advance";
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(path); }), why);
  EXPECT_CONTAINS(error_of([&] { embcomp::check_hdf5_heaps(path); }), why);
}

// The "distance" attribute is a variable-length string: the file stores its length and where
// in a global heap its bytes are. HDF5 1.10.8 allocates and copies the stored length before
// reading the heap, so a 10 KB file claiming 627 MB took 1.2 GB and 11 s (hdf5_reader fuzz
// campaign, libFuzzer timeout). The stored length is read first and refused above 64 bytes or
// unless its global heap object holds exactly that, so neither the child nor this process
// allocates it.
TEST(Io, Hdf5DistanceClaimingAHugeStringIsRefusedBeforeHdf5AllocatesIt) {
  const std::string path = test_dir() + "/claim.hdf5";
  const FloatMatrix train = sample(20, 4, 1), test = sample(3, 4, 2);
  embcomp::write_ann_hdf5(path, train.view(), test.view(), {}, {}, "angular");
  EXPECT_EQ(embcomp::read_ann_hdf5(path).distance, "angular");
  const std::string b = read_file(path);
  // The stored descriptor: length 7 ("angular"), then the heap ID, whose first field is the
  // collection's address (HDF5 file format spec, "Variable-length" datatype, disk form).
  const uint64_t g = b.find("GCOL");
  ASSERT_NE(g, std::string::npos);
  const std::string descriptor = pod(uint32_t{7}) + pod(g);
  const size_t at = b.find(descriptor);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(b.find(descriptor, at + 1), std::string::npos);
  for (const uint32_t claim : {uint32_t{65}, uint32_t{627000000}}) {
    patch_file(path, at, pod(claim));
    const std::string msg = error_of([&] { embcomp::read_ann_hdf5(path); });
    EXPECT_CONTAINS(msg, path + ": attribute 'distance' claims a string of " +
                             std::to_string(claim) + " bytes, not a metric name (at most 64)");
  }
  // Within 64 bytes but not the 7 bytes the heap object holds: HDF5 copies the object's own
  // size into a buffer of the stored length, which a longer object (claim 6) overruns.
  for (const uint32_t claim : {uint32_t{8}, uint32_t{6}, uint32_t{0}}) {
    patch_file(path, at, pod(claim));
    EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(path); }),
                    path + ": attribute 'distance' claims a string of " + std::to_string(claim) +
                        " bytes but its global heap object holds 7");
  }
  patch_file(path, at, pod(uint32_t{7}));
  EXPECT_EQ(embcomp::read_ann_hdf5(path).distance, "angular");
  // The heap ID: an object index the collection lacks (also with length 0, which HDF5 still
  // reads), then an address with no collection.
  const std::string index = b.substr(at + 12, 4);
  patch_file(path, at + 12, pod(uint32_t{5}));
  for (const uint32_t claim : {uint32_t{7}, uint32_t{0}}) {
    patch_file(path, at, pod(claim));
    EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(path); }),
                    path + ": attribute 'distance' names object 5 of the global heap at byte " +
                        std::to_string(g) + ", which has none");
  }
  patch_file(path, at, pod(uint32_t{7}));
  patch_file(path, at + 12, index);
  patch_file(path, at + 4, pod(g + 8));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(path); }),
                  path + ": attribute 'distance' points to byte " + std::to_string(g + 8) +
                      ", where there is no global heap collection");
  patch_file(path, at + 4, pod(g));
  EXPECT_EQ(embcomp::read_ann_hdf5(path).distance, "angular");
}

// The heap ID's address is relative to the base address, which a user block moves, and takes
// the file's size of offsets (4 or 8 bytes here): the descriptor check must find the collection
// either way. The empty string is a heap object of 0 bytes.
TEST(Io, Hdf5VariableLengthDistanceAfterAUserBlockAndWithFourByteOffsets) {
  const std::string path = test_dir() + "/ub.hdf5";
  for (const hsize_t userblock : {hsize_t{0}, hsize_t{512}, hsize_t{4096}}) {
    for (const size_t offsets : {size_t{8}, size_t{4}}) {
      for (const std::string value : {"dot", "", "euclidean"}) {
        {
          H5Writer w(path, userblock, offsets);
          w.floats("train", sample(6, 4));
          w.floats("test", sample(2, 4));
          w.vlen_string("distance", value);
        }
        EXPECT_EQ(embcomp::read_ann_hdf5(path).distance, value)
            << "user block " << userblock << ", " << offsets << "-byte offsets";
      }
    }
  }
}

// A local heap (old-style group link names) whose data segment does not end in a NUL: HDF5
// 1.10.8 strdup()s a name past its buffer while listing the root group (heap-buffer-overflow
// under ASan, vec_readers' fuzz campaign).
TEST(Io, Hdf5LocalHeapWithoutTerminatingNulIsRefused) {
  const std::string path = test_dir() + "/names.hdf5";
  const FloatMatrix train = sample(20, 4, 1), test = sample(3, 4, 2);
  embcomp::write_ann_hdf5(path, train.view(), test.view(), {}, {}, "euclidean");
  std::string b;
  {
    std::ifstream in(path, std::ios::binary);
    b.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t h = b.find("HEAP");
  ASSERT_NE(h, std::string::npos);
  uint64_t size, addr;
  std::memcpy(&size, b.data() + h + 8, 8);
  std::memcpy(&addr, b.data() + h + 24, 8);
  ASSERT_LE(addr + size, b.size());
  ASSERT_EQ(b[addr + size - 1], '\0');
  EXPECT_NO_THROW(embcomp::check_hdf5_heaps(path));
  b[addr + size - 1] = '?';
  write_file(path, b);
  const std::string why =
      "corrupt HDF5 local heap at byte " + std::to_string(h) + ": its names are not NUL-terminated";
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(path); }), why);
  EXPECT_CONTAINS(error_of([&] { embcomp::check_hdf5_heaps(path); }), why);
}

// The same behind a 512-byte user block and with 4-byte offsets and lengths: the heap's data
// address counts from the base address (the superblock's position) and its fields take the
// superblock's sizes. Before, the scan read the wrong byte there and refused the valid
// 4-byte file.
TEST(Io, Hdf5LocalHeapCheckFollowsTheSuperblock) {
  const std::string path = test_dir() + "/names_ub.hdf5";
  constexpr uint64_t kBase = 512;
  {
    const hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    ASSERT_GE(H5Pset_userblock(fcpl, kBase), 0);
    ASSERT_GE(H5Pset_sizes(fcpl, 4, 4), 0);
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    ASSERT_GE(file, 0);
    const hsize_t dims[2] = {6, 4};
    const std::vector<float> x(24, 0.5f);
    for (const char* name : {"train", "test"}) {
      const hid_t space = H5Screate_simple(2, dims, nullptr);
      const hid_t ds =
          H5Dcreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      EXPECT_GE(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x.data()), 0);
      H5Dclose(ds);
      H5Sclose(space);
    }
    H5Fclose(file);
  }
  EXPECT_NO_THROW(embcomp::check_hdf5_heaps(path));
  EXPECT_EQ(embcomp::read_ann_hdf5(path).train.n, 6u);
  std::string b = read_file(path);
  const size_t h = b.find("HEAP");
  ASSERT_NE(h, std::string::npos);
  uint32_t size, addr;  // 4-byte lengths and offsets
  std::memcpy(&size, b.data() + h + 8, 4);
  std::memcpy(&addr, b.data() + h + 16, 4);
  ASSERT_LE(kBase + addr + size, b.size());
  ASSERT_EQ(b[kBase + addr + size - 1], '\0');
  b[kBase + addr + size - 1] = '?';
  write_file(path, b);
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(path); }),
                  "corrupt HDF5 local heap at byte " + std::to_string(h) +
                      ": its names are not NUL-terminated (data segment of " +
                      std::to_string(size) + " bytes at byte " + std::to_string(kBase + addr));
}

// HDF5 reads run in a forked child first: its crash or hang is exit 2 for the file, its
// embcomp::Error comes back unchanged, and the parent goes on only after a clean read.
TEST(Io, Hdf5ChildCrashesHangsAndErrorsAreBadInput) {
  const std::string path = test_dir() + "/x.hdf5";
  // The signal is SIGSEGV, or SIGABRT when AddressSanitizer handles the SEGV and aborts.
  const std::string crashed =
      error_of([&] { embcomp::hdf5_in_child(path, 0, [] { ::raise(SIGSEGV); }); });
  EXPECT_TRUE(crashed == path + ": HDF5 crashed reading it (signal 11): the file is corrupt" ||
              crashed == path + ": HDF5 crashed reading it (signal 6): the file is corrupt")
      << crashed;
  EXPECT_CONTAINS(error_of([&] {
                    embcomp::hdf5_in_child(
                        path, 0, [] { ::sleep(30); }, 300);
                  }),
                  path + ": HDF5 did not finish reading it in 0 s: the file is corrupt");
  EXPECT_CONTAINS(error_of([&] {
                    embcomp::hdf5_in_child(path, 0, [&] {
                      throw embcomp::Error(ErrorKind::kBadInput, path + ": no dataset 'train'",
                                           __FILE__, __LINE__);
                    });
                  }),
                  path + ": no dataset 'train'");
  int ran = 0;
  embcomp::hdf5_in_child(path, 0, [&] { ran = 1; });
  EXPECT_EQ(ran, 0) << "the read ran in the child, not here";
}

TEST(Io, Hdf5WriteFloatsWritesTrainOnly) {
  const std::string path = test_dir() + "/x.hdf5";
  const FloatMatrix x = sample(30, 8);
  embcomp::write_floats(path, x.view());
  expect_same(embcomp::read_floats(path), x);
  const std::string msg = error_of([&] { embcomp::read_ann_hdf5(path); });
  EXPECT_CONTAINS(msg, path + ": no dataset 'test' (it has: train)");
}

TEST(Io, Hdf5TypesFoundInTheWild) {
  // ann-benchmarks files: float64 train/test/distances, int32 neighbors, fixed-length metric.
  const std::string dir = test_dir();
  const FloatMatrix train = sample(40, 6, 1), test = sample(5, 6, 2), distances = sample(5, 3, 3);
  const IdMatrix neighbors = sample_ids(5, 3, 1);
  struct Case {
    size_t size;
    H5T_str_t pad;
  };
  for (const Case c :
       {Case{9, H5T_STR_NULLPAD}, Case{16, H5T_STR_NULLTERM}, Case{12, H5T_STR_SPACEPAD}}) {
    const std::string path = dir + "/wild" + std::to_string(c.size) + ".hdf5";
    {
      H5Writer w(path);
      w.doubles("train", train);
      w.doubles("test", test);
      w.int32s("neighbors", neighbors);
      w.doubles("distances", distances);
      w.fixed_string("distance", "euclidean", c.size, c.pad);
    }
    const AnnHdf5 a = embcomp::read_ann_hdf5(path);
    expect_same(a.train, train);  // float32 values widened to float64 come back exactly
    expect_same(a.test, test);
    ASSERT_TRUE(a.neighbors.has_value());
    expect_same(*a.neighbors, neighbors);
    ASSERT_TRUE(a.distances.has_value());
    expect_same(*a.distances, distances);
    EXPECT_EQ(a.distance, "euclidean") << "size " << c.size;
  }
}

TEST(Io, Hdf5WithUserBlock) {
  // A user block moves the HDF5 signature to offset 512.
  const std::string path = test_dir() + "/ub.hdf5";
  const FloatMatrix x = sample(10, 3);
  {
    H5Writer w(path, 512);
    w.floats("train", x);
  }
  EXPECT_NE(read_file(path).substr(0, 4), "\x89HDF");
  expect_same(embcomp::read_floats(path), x);
}

TEST(Io, Hdf5WithoutTrain) {
  const std::string path = test_dir() + "/f.hdf5";
  {
    H5Writer w(path);
    w.floats("test", sample(3, 4));
  }
  std::string msg = error_of([&] { embcomp::read_ann_hdf5(path); });
  EXPECT_CONTAINS(msg, path + ": no dataset 'train' (it has: test)");
  msg = error_of([&] { embcomp::read_floats(path); });
  EXPECT_CONTAINS(msg, path + ": no dataset 'train'");
  ReadOptions opt;
  opt.hdf5_dataset = "learn";
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path, opt); }),
                  path + ": no dataset 'learn'");
}

TEST(Io, Hdf5ThatIsText) {
  const std::string dir = test_dir();
  write_file(dir + "/text.hdf5", "this is not HDF5, just some text that is long enough\n");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(dir + "/text.hdf5"); }),
                  dir + "/text.hdf5: not an HDF5 file");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/text.hdf5"); }),
                  dir + "/text.hdf5: not an HDF5 file");
  // the right signature followed by garbage: HDF5 fails, we throw one clean error
  write_file(dir + "/garbage.h5", "\x89HDF\r\n\x1a\n" + std::string(2000, '\x5a'));
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/garbage.h5"); }),
                  dir + "/garbage.h5: cannot open as HDF5");
}

TEST(Io, Hdf5ReadIdsRejectsFloatDataset) {
  const std::string path = test_dir() + "/f.hdf5";
  embcomp::write_floats(path, sample(4, 4).view());
  ReadOptions opt;
  opt.hdf5_dataset = "train";
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ids(path, opt); }),
                  path + ": dataset 'train' holds floating-point values, not integer ids");
}

TEST(Io, Hdf5ShapesMustAgree) {
  const std::string dir = test_dir();
  {
    H5Writer w(dir + "/a.hdf5");
    w.floats("train", sample(10, 4));
    w.floats("test", sample(3, 5));
  }
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(dir + "/a.hdf5"); }),
                  dir + "/a.hdf5: 'test' has d=5 but 'train' has d=4");
  {
    H5Writer w(dir + "/b.hdf5");
    w.floats("train", sample(10, 4));
    w.floats("test", sample(3, 4));
    w.int32s("neighbors", sample_ids(2, 5, 1));
  }
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(dir + "/b.hdf5"); }),
                  dir + "/b.hdf5: 'neighbors' has 2 rows but 'test' has 3");
  // the writer refuses the same mismatch before creating anything
  const FloatMatrix train = sample(10, 4), test = sample(3, 4);
  const IdMatrix neighbors = sample_ids(2, 5, 1);
  EXPECT_CONTAINS(error_of([&] {
                    embcomp::write_ann_hdf5(dir + "/c.hdf5", train.view(), test.view(),
                                            neighbors.view(), {}, "angular");
                  }),
                  dir + "/c.hdf5: 'neighbors' has 2 rows but 'test' has 3");
  EXPECT_FALSE(fs::exists(dir + "/c.hdf5"));
}

TEST(Io, Hdf5HeaderClaimsHugeShape) {
  // A chunked dataset whose chunks were never written: the header claims 4 TB in a tiny file.
  const std::string path = test_dir() + "/huge.hdf5";
  {
    H5Writer w(path);
    w.unwritten("train", 10000000000ull, 100);
  }
  ASSERT_LT(fs::file_size(path), 100000u);
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }),
                  path +
                      ": dataset 'train' claims shape (10000000000, 100) of 4000000000000 "
                      "bytes, more than the file");
}

TEST(Io, Hdf5NonFiniteInTest) {
  const std::string path = test_dir() + "/ann.hdf5";
  const FloatMatrix train = sample(10, 4);
  FloatMatrix test = sample(3, 4);
  test.row(2)[1] = -std::numeric_limits<float>::infinity();
  embcomp::write_ann_hdf5(path, train.view(), test.view(), {}, {}, "angular");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(path); }),
                  path + ": dataset 'test' row 2 column 1 is -Inf");
}

// Reliability review #17: external storage made embcomp read /dev/zero, any readable file or
// a FIFO (which hung) as the base vectors; virtual datasets and external links read other files
// too. All are refused before any data is read.
TEST(Io, Hdf5ExternalStorageIsRefused) {
  const std::string dir = test_dir();
  const FloatMatrix x = sample(6, 4);
  write_file(dir + "/secret.bin",
             std::string(reinterpret_cast<const char*>(x.data()), x.values.size() * sizeof(float)));
  ASSERT_EQ(::mkfifo((dir + "/fifo.bin").c_str(), 0666), 0);
  for (const std::string& raw :
       {dir + "/secret.bin", std::string("/dev/zero"), dir + "/fifo.bin"}) {
    const std::string path = dir + "/ext.hdf5";
    {
      H5Writer w(path);
      w.external("train", raw, 6, 4);
      w.floats("test", sample(2, 4));
    }
    // A FIFO would block the read: this must fail before touching it.
    EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }),
                    path + ": dataset 'train' keeps its data in 1 external file(s)")
        << raw;
    EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(path); }), "external file(s)") << raw;
  }
}

TEST(Io, Hdf5VirtualDatasetAndExternalLinkAreRefused) {
  const std::string dir = test_dir();
  const std::string src = dir + "/src.hdf5";
  {
    H5Writer w(src);
    w.floats("data", sample(6, 4));
  }
  const std::vector<std::pair<std::function<void(H5Writer&)>, std::string>> cases = {
      {[&](H5Writer& w) { w.virtual_of("train", src, "data", 6, 4); }, "is a virtual dataset"},
      {[&](H5Writer& w) { w.external_link("train", src, "/data"); },
       "is an external or user-defined link"},
  };
  for (const auto& [make, want] : cases) {
    const std::string path = dir + "/other.hdf5";
    {
      H5Writer w(path);
      make(w);
    }
    EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(path); }),
                    path + ": dataset 'train' " + want);
  }
}

TEST(Io, Hdf5DistanceAttributeMustBeAWord) {
  const std::string path = test_dir() + "/ann.hdf5";
  {
    H5Writer w(path);
    w.floats("train", sample(6, 4));
    w.floats("test", sample(2, 4));
    w.fixed_string("distance", "angular\n\x1b[2J", 16, H5T_STR_NULLPAD);
  }
  const std::string msg = error_of([&] { embcomp::read_ann_hdf5(path); });
  EXPECT_CONTAINS(msg, "attribute 'distance' is not a metric name: 'angular\\n\\x1b[2J'");
  EXPECT_EQ(msg.find_first_of("\n\x1b"), std::string::npos) << msg;
}

// ---- hostile bytes echoed in messages (reliability review #25) ---------------------------------

TEST(Io, PrintableEscapesControlBytesAndCutsLongText) {
  EXPECT_EQ(embcomp::printable("plain text"), "plain text");
  EXPECT_EQ(embcomp::printable("a\nb\rc\td\\e"), "a\\nb\\rc\\td\\\\e");
  EXPECT_EQ(embcomp::printable(std::string("\x1b[31m\0\x7f\xc3\xa9", 9)),
            "\\x1b[31m\\x00\\x7f\\xc3\\xa9");
  EXPECT_EQ(embcomp::printable(std::string(100, 'x'), 10), "xxxxxxxxxx...");
  EXPECT_EQ(embcomp::printable("", 0), "");
}

TEST(Io, NpyHeaderBytesAreEscapedInTheMessage) {
  const std::string dir = test_dir();
  const std::string payload(48, '\0');
  // The review's case: a header with newlines gave a 3-line message; ESC reached the terminal.
  write_file(dir + "/a.npy", npy("<f4", "(3,\n\x1b[2J 4", payload));
  write_file(dir + "/b.npy", npy("<f4\n\x1b]0;owned\x07", "(3, 4)", payload));
  for (const char* name : {"/a.npy", "/b.npy"}) {
    const std::string msg = error_of([&] { embcomp::read_floats(dir + name); });
    EXPECT_EQ(msg.find_first_of(std::string("\n\r\x1b\x07", 4)), std::string::npos) << msg;
    EXPECT_CONTAINS(msg, "\\x1b") << name;
  }
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/a.npy"); }), "malformed .npy header");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/b.npy"); }),
                  "unsupported dtype '<f4\\n\\x1b]0;owned\\x07'");
}

// ---- non-finite values, in every float format -----------------------------------------------

struct NonFiniteCase {
  const char* name;
  const char* file;
  std::function<void(const std::string&, const FloatMatrix&)> write;
  size_t raw_d = 0;
};

void PrintTo(const NonFiniteCase& c, std::ostream* os) { *os << c.name; }

class IoNonFinite : public ::testing::TestWithParam<NonFiniteCase> {};

TEST_P(IoNonFinite, NamesRowAndColumn) {
  const NonFiniteCase& c = GetParam();
  const std::string path = test_dir() + "/" + c.file;
  struct Value {
    float v;
    const char* text;
  };
  for (const Value value : {Value{std::numeric_limits<float>::quiet_NaN(), "NaN"},
                            Value{std::numeric_limits<float>::infinity(), "Inf"},
                            Value{-std::numeric_limits<float>::infinity(), "-Inf"}}) {
    SCOPED_TRACE(value.text);
    FloatMatrix x = sample(40, 8);
    x.row(17)[3] = value.v;
    c.write(path, x);
    ReadOptions opt;
    opt.raw_d = c.raw_d;
    const std::string msg = error_of([&] { embcomp::read_floats(path, opt); });
    EXPECT_CONTAINS(msg, path + ": ");
    EXPECT_CONTAINS(msg, std::string("row 17 column 3 is ") + value.text);

    opt.check_finite = false;
    const FloatMatrix y = embcomp::read_floats(path, opt);
    ASSERT_EQ(y.n, 40u);
    EXPECT_EQ(std::isnan(y.row(17)[3]), std::isnan(value.v));
    EXPECT_EQ(std::isinf(y.row(17)[3]), std::isinf(value.v));
    EXPECT_EQ(std::signbit(y.row(17)[3]), std::signbit(value.v));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Io, IoNonFinite,
    ::testing::Values(
        NonFiniteCase{
            "fvecs", "base.fvecs",
            [](const std::string& p, const FloatMatrix& x) { embcomp::write_fvecs(p, x.view()); }},
        NonFiniteCase{
            "fbin", "base.fbin",
            [](const std::string& p, const FloatMatrix& x) { embcomp::write_floats(p, x.view()); }},
        NonFiniteCase{
            "npy_f4", "base.npy",
            [](const std::string& p, const FloatMatrix& x) { embcomp::write_npy(p, x.view()); }},
        NonFiniteCase{"npy_f2", "base.npy",
                      [](const std::string& p, const FloatMatrix& x) {
                        std::vector<uint16_t> h;
                        for (float v : x.values) h.push_back(to_half(v));
                        write_file(p, npy("<f2", "(40, 8)", pod(h)));
                      }},
        NonFiniteCase{
            "raw", "base.raw",
            [](const std::string& p, const FloatMatrix& x) { write_file(p, pod(x.values)); }, 8},
        NonFiniteCase{
            "hdf5_f4", "base.hdf5",
            [](const std::string& p, const FloatMatrix& x) { embcomp::write_floats(p, x.view()); }},
        NonFiniteCase{"hdf5_f8", "base.hdf5",
                      [](const std::string& p, const FloatMatrix& x) {
                        H5Writer w(p);
                        w.doubles("train", x);
                      }}),
    [](const ::testing::TestParamInfo<NonFiniteCase>& info) { return info.param.name; });

// ---- files that are not what their extension says ---------------------------------------------

TEST(Io, ExtensionLiesAboutContent) {
  const std::string dir = test_dir();
  const FloatMatrix x = sample(6, 4);
  embcomp::write_npy(dir + "/real.npy", x.view());
  embcomp::write_fvecs(dir + "/real.fvecs", x.view());
  embcomp::write_floats(dir + "/real.hdf5", x.view());

  fs::copy_file(dir + "/real.npy", dir + "/npy.fvecs");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/npy.fvecs"); }),
                  dir + "/npy.fvecs: not a .fvecs file");
  fs::copy_file(dir + "/real.fvecs", dir + "/fvecs.npy");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/fvecs.npy"); }),
                  dir + "/fvecs.npy: not a .npy file");
  fs::copy_file(dir + "/real.hdf5", dir + "/hdf5.fbin");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/hdf5.fbin"); }),
                  dir + "/hdf5.fbin: truncated: file size");
  fs::copy_file(dir + "/real.npy", dir + "/npy.f32");
  ReadOptions opt;
  opt.raw_d = 4;
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/npy.f32", opt); }),
                  dir + "/npy.f32: starts with the NumPy magic");
  fs::copy_file(dir + "/real.hdf5", dir + "/hdf5.raw");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/hdf5.raw", opt); }),
                  "starts with the HDF5 signature");
  fs::copy_file(dir + "/real.fvecs", dir + "/fvecs.h5");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/fvecs.h5"); }),
                  dir + "/fvecs.h5: not an HDF5 file");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(dir + "/real.fvecs"); }),
                  dir + "/real.fvecs: an ann-benchmarks file must be .hdf5 or .h5");
}

TEST(Io, ReadIdsRejectsFloatFiles) {
  const std::string dir = test_dir();
  const FloatMatrix x = sample(3, 2);
  embcomp::write_fvecs(dir + "/x.fvecs", x.view());
  embcomp::write_floats(dir + "/x.fbin", x.view());
  write_file(dir + "/x.raw", pod(x.values));
  for (const char* name : {"/x.fvecs", "/x.fbin", "/x.raw"}) {
    ReadOptions opt;
    opt.raw_d = 2;
    EXPECT_CONTAINS(error_of([&] { embcomp::read_ids(dir + name, opt); }),
                    dir + name + ": holds float32 values, not integer ids");
  }
}

// ---- missing inputs and outputs --------------------------------------------------------------

TEST(Io, MissingFile) {
  const std::string dir = test_dir();
  for (const char* name : {"/nope.fvecs", "/nope.npy", "/nope.hdf5", "/nope.fbin"}) {
    EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + name); }),
                    dir + name + ": cannot open: No such file or directory");
  }
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ann_hdf5(dir + "/nope.h5"); }),
                  dir + "/nope.h5: cannot open");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_ids(dir + "/nope.ivecs"); }),
                  dir + "/nope.ivecs: cannot open");
}

TEST(Io, DirectoryIsNotAFile) {
  const std::string dir = test_dir();
  fs::create_directory(dir + "/d.fvecs");
  EXPECT_CONTAINS(error_of([&] { embcomp::read_floats(dir + "/d.fvecs"); }),
                  dir + "/d.fvecs: is a directory");
  EXPECT_CONTAINS(error_of([&] { embcomp::write_fvecs(dir + "/d.fvecs", sample(2, 2).view()); }),
                  dir + "/d.fvecs: cannot write: is a directory");
}

TEST(Io, WritersRejectMissingDirectory) {
  const std::string dir = test_dir();
  const std::string out = dir + "/no_such_dir/out";
  const FloatMatrix x = sample(4, 3);
  const IdMatrix ids = sample_ids(4, 3, 1);
  const std::vector<std::pair<std::string, std::function<void(const std::string&)>>> writers = {
      {".fvecs", [&](const std::string& p) { embcomp::write_fvecs(p, x.view()); }},
      {".ivecs", [&](const std::string& p) { embcomp::write_ivecs(p, ids.view()); }},
      {".npy", [&](const std::string& p) { embcomp::write_npy(p, x.view()); }},
      {".npy", [&](const std::string& p) { embcomp::write_npy(p, ids.view()); }},
      {".fbin", [&](const std::string& p) { embcomp::write_floats(p, x.view()); }},
      {".h5", [&](const std::string& p) { embcomp::write_floats(p, x.view()); }},
      {".hdf5",
       [&](const std::string& p) {
         embcomp::write_ann_hdf5(p, x.view(), x.view(), ids.view(), x.view(), "angular");
       }},
  };
  for (const auto& [ext, write] : writers) {
    const std::string path = out + ext;
    EXPECT_CONTAINS(error_of([&] { write(path); }),
                    path + ": cannot write: directory '" + dir + "/no_such_dir' does not exist");
  }
  write_file(dir + "/plain", "x");
  EXPECT_CONTAINS(error_of([&] { embcomp::write_fvecs(dir + "/plain/x.fvecs", x.view()); }),
                  "directory '" + dir + "/plain' is not a directory");
  EXPECT_CONTAINS(error_of([&] { embcomp::write_floats(dir + "/x.ivecs", x.view()); }),
                  dir + "/x.ivecs: cannot write floats as .ivecs");
  EXPECT_CONTAINS(error_of([&] { embcomp::write_floats(dir + "/x.txt", x.view()); }),
                  "unknown extension '.txt'");
}

TEST(Io, WriterReplacesExistingFileAndLeavesNoTemporary) {
  const std::string dir = test_dir();
  const std::string path = dir + "/x.fvecs";
  embcomp::write_fvecs(path, sample(5, 3, 1).view());
  const FloatMatrix second = sample(8, 6, 2);
  embcomp::write_fvecs(path, second.view());
  expect_same(embcomp::read_floats(path), second);
  embcomp::write_floats(dir + "/x.hdf5", second.view());
  embcomp::write_npy(dir + "/x.npy", second.view());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"x.fvecs", "x.hdf5", "x.npy"}));
}

TEST(Io, AtomicFileRemovesTemporaryWhenNotCommitted) {
  const std::string dir = test_dir();
  const std::string path = dir + "/out.txt";
  {
    AtomicFile f(path);
    EXPECT_EQ(fs::path(f.tmp_path()).parent_path().string(), dir);
    write_file(f.tmp_path(), "half written");
    EXPECT_TRUE(fs::exists(f.tmp_path()));
  }
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(Io, AtomicFileCommitRenames) {
  const std::string dir = test_dir();
  const std::string path = dir + "/out.txt";
  write_file(path, "old");
  {
    AtomicFile f(path);
    write_file(f.tmp_path(), "new contents");
    EXPECT_EQ(read_file(path), "old") << "the final name is untouched until commit";
    f.commit();
    EXPECT_FALSE(fs::exists(f.tmp_path()));
  }
  EXPECT_EQ(read_file(path), "new contents");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(Io, AtomicFileCommitWithoutTemporaryFails) {
  const std::string path = test_dir() + "/out.txt";
  AtomicFile f(path);
  fs::remove(f.tmp_path());
  EXPECT_CONTAINS(error_of([&] { f.commit(); }, ErrorKind::kRuntime), path + ": cannot commit");
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
