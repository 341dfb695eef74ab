// Vector file I/O; the formats are described in io.h.
//
// Every reader has the same shape: pick the format from the extension, confirm it from the
// content (magic bytes, header fields, exact file size), allocate only once the size is known to
// agree with the file, then read in large chunks (kChunkBytes per call), converting and checking
// finiteness chunk by chunk while the data is still in cache.
// Every writer validates its input, writes to an AtomicFile's temporary and renames it at the end.
#include "toolkit/io.h"

#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "toolkit/random.h"

namespace embcomp {

// All formats are little endian and are read and written with memcpy.
static_assert(std::endian::native == std::endian::little,
              "io.cpp assumes a little-endian host; a big-endian one needs byte swaps");

namespace {

/// Bytes per read/write call: large enough that a 1M x 768 fvecs takes ~200 syscalls, small
/// enough that the staging buffer stays modest.
constexpr size_t kChunkBytes = size_t{16} << 20;
/// Sane range of the per-row d of .fvecs/.ivecs/.bvecs; it is how we recognize such a file.
constexpr size_t kMaxTexmexD = size_t{1} << 20;
/// Longest .npy header we accept (NumPy itself refuses headers over 10000 bytes by default).
constexpr size_t kMaxNpyHeader = size_t{1} << 20;
/// A filtered (compressed) HDF5 dataset may hold at most this many bytes per stored byte;
/// deflate's maximum ratio is about 1032:1. Bounds allocations from a corrupted header.
constexpr uint64_t kMaxCompressionRatio = 1100;

constexpr char kNpyMagic[] = "\x93NUMPY";               // 6 bytes, then major, minor
constexpr char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";  // 8 bytes

std::string sys_error(int err) { return std::generic_category().message(err); }

/// kBadInput when an open failed because of the path the user gave, kRuntime otherwise.
ErrorKind open_error_kind(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EACCES:
    case EPERM:
    case EROFS:
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP:
      return ErrorKind::kBadInput;
    default:
      return ErrorKind::kRuntime;
  }
}

/// checked_mul, with the file named in the error.
size_t mul(const std::string& path, size_t a, size_t b) {
  try {
    return checked_mul(a, b);
  } catch (const Error& e) {
    EC_THROW(kBadInput, path << ": " << e.message());
  }
}

size_t add(const std::string& path, size_t a, size_t b) {
  EC_CHECK(b <= std::numeric_limits<size_t>::max() - a, kBadInput,
           path << ": size overflow: " << a << " + " << b);
  return a + b;
}

std::string extension_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// ---- element types -------------------------------------------------------------------------

/// On-disk element types.
enum class Elem { kF32, kF16, kI32, kI64, kU8 };

struct ElemInfo {
  size_t size;
  const char* name;
  bool is_float;
};

ElemInfo elem_info(Elem e) {
  switch (e) {
    case Elem::kF32:
      return {4, "float32", true};
    case Elem::kF16:
      return {2, "float16", true};
    case Elem::kI32:
      return {4, "int32", false};
    case Elem::kI64:
      return {8, "int64", false};
    case Elem::kU8:
      return {1, "uint8", false};
  }
  return {1, "?", false};
}

/// IEEE 754 binary16, stored as its bits.
struct Half {
  uint16_t bits;
};

/// Exact widening of a binary16 value:
///   exp == 31: Inf (mant == 0) or NaN, payload kept
///   exp == 0:  subnormal mant * 2^-24 (or signed zero)
///   else:      (-1)^sign * 2^(exp - 15) * (1 + mant / 1024), rebiased to 127
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
  const float f = static_cast<float>(mant) * 0x1p-24f;  // exact: mant has 10 bits
  return sign ? -f : f;
}

template <class Dst, class Src>
Dst convert(Src s) {
  if constexpr (std::is_same_v<Src, Half>) {
    return static_cast<Dst>(half_to_float(s.bits));
  } else {
    return static_cast<Dst>(s);
  }
}

template <class Src>
constexpr bool kFloatSource = std::is_same_v<Src, float> || std::is_same_v<Src, Half>;

/// read_ids accepts only integer data: converting floats to ids would hide a wrong file.
template <class Dst>
void require_readable_as(const std::string& path, Elem e) {
  if constexpr (std::is_integral_v<Dst>) {
    EC_CHECK(!elem_info(e).is_float, kBadInput,
             path << ": holds " << elem_info(e).name << " values, not integer ids");
  }
}

/// Throws kBadInput naming the first NaN/Inf among x[0..count), which are elements
/// first .. first + count of a row-major matrix with d columns. Tests the exponent bits rather
/// than std::isfinite so that a -ffast-math build (which may assume there are no NaNs) still
/// catches them; the branch-free scan vectorizes and the locating loop runs only on failure.
void check_finite(const std::string& path, const std::string& where, const float* x, size_t count,
                  size_t first, size_t d, const char* note = "") {
  constexpr uint32_t kExp = 0x7f800000u;
  uint32_t bad = 0;
  for (size_t i = 0; i < count; ++i) bad |= (std::bit_cast<uint32_t>(x[i]) & kExp) == kExp;
  if (!bad) return;
  for (size_t i = 0; i < count; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(x[i]);
    if ((bits & kExp) != kExp) continue;
    const char* what = (bits & 0x007fffffu) ? "NaN" : (bits >> 31) ? "-Inf" : "Inf";
    const size_t e = first + i;
    EC_THROW(kBadInput, path << ": " << where << "row " << e / d << " column " << e % d << " is "
                             << what << note);
  }
}

// ---- plain files -----------------------------------------------------------------------------

}  // namespace

void require_regular_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    throw Error(open_error_kind(err), path + ": cannot open " + what + ": " + sys_error(err),
                __FILE__, __LINE__);
  }
  EC_CHECK(!S_ISDIR(st.st_mode), kBadInput, path << ": is a directory, not a file");
  EC_CHECK(S_ISREG(st.st_mode), kBadInput,
           path << ": is not a regular file (a FIFO, socket or device cannot be read as " << what
                << ")");
}

namespace {

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

/// A regular file opened for reading, with its size. Every error names the path.
class InFile {
 public:
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  explicit InFile(const std::string& path)
      : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)) {
    if (fd_.get() < 0) {
      const int err = errno;
      throw Error(open_error_kind(err), path + ": cannot open: " + sys_error(err), __FILE__,
                  __LINE__);
    }
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) {
      const int err = errno;
      EC_THROW(kRuntime, path << ": cannot stat: " << sys_error(err));
    }
    EC_CHECK(!S_ISDIR(st.st_mode), kBadInput, path << ": is a directory, not a file");
    EC_CHECK(S_ISREG(st.st_mode), kBadInput, path << ": is not a regular file");
    size_ = static_cast<uint64_t>(st.st_size);
    ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) & ~O_NONBLOCK);
    ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);  // only a hint
  }

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

  /// Reads exactly bytes at offset (the caller has checked they lie inside the file).
  void read_at(uint64_t offset, void* dst, size_t bytes) const {
    auto* p = static_cast<char*>(dst);
    while (bytes > 0) {
      const ssize_t r = ::pread(fd_.get(), p, bytes, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        EC_THROW(kRuntime, path_ << ": read error at offset " << offset << ": " << sys_error(err));
      }
      EC_CHECK(r > 0, kBadInput,
               path_ << ": truncated: file ended at offset " << offset
                     << " (did it change while being read?)");
      p += r;
      offset += static_cast<uint64_t>(r);
      bytes -= static_cast<size_t>(r);
    }
  }

  bool starts_with(const char* magic, size_t len) const {
    if (size_ < len) return false;
    std::string head(len, '\0');
    read_at(0, head.data(), len);
    return std::memcmp(head.data(), magic, len) == 0;
  }

 private:
  std::string path_;
  UniqueFd fd_;
  uint64_t size_ = 0;
};

// ---- contiguous payloads (fbin/ibin/u8bin, npy, raw) --------------------------------------

/// Where the n x d elements of a headered file lie: row-major from byte offset.
struct Layout {
  size_t n = 0;
  size_t d = 0;
  Elem elem = Elem::kF32;
  uint64_t offset = 0;
};

/// Throws unless the file holds exactly l.offset + l.n * l.d elements; origin says which
/// header fields promised that many.
void check_payload_size(const InFile& f, const Layout& l, const std::string& origin) {
  const std::string& path = f.path();
  EC_CHECK(l.d >= 1, kBadInput, path << ": d=0 in " << origin);
  const size_t bytes = add(path, l.offset, mul(path, mul(path, l.n, l.d), elem_info(l.elem).size));
  if (f.size() == bytes) return;
  EC_THROW(kBadInput, path << ": " << (f.size() < bytes ? "truncated: " : "") << "file size "
                           << f.size() << " does not match the " << bytes << " bytes implied by "
                           << origin);
}

/// Reads out.n * out.d elements of Src from offset into out, converting, in chunks.
template <class Src, class Dst>
void read_payload(const InFile& f, uint64_t offset, Matrix<Dst>& out, bool check) {
  const size_t total = out.values.size();
  const size_t per_chunk = std::max<size_t>(1, kChunkBytes / sizeof(Src));
  std::vector<Src> stage;  // one chunk of raw elements, when a conversion is needed
  if constexpr (!std::is_same_v<Src, Dst>) stage.resize(std::min(per_chunk, total));
  size_t m = 0;
  for (size_t done = 0; done < total; done += m) {
    m = std::min(per_chunk, total - done);
    Dst* dst = out.data() + done;
    if constexpr (std::is_same_v<Src, Dst>) {
      f.read_at(offset + done * sizeof(Src), dst, m * sizeof(Src));
    } else {
      f.read_at(offset + done * sizeof(Src), stage.data(), m * sizeof(Src));
      for (size_t i = 0; i < m; ++i) dst[i] = convert<Dst>(stage[i]);
    }
    if constexpr (std::is_same_v<Dst, float> && kFloatSource<Src>) {
      if (check) check_finite(f.path(), "", dst, m, done, out.d);
    }
  }
}

template <class Dst>
Matrix<Dst> read_layout(const InFile& f, const Layout& l, bool check) {
  require_readable_as<Dst>(f.path(), l.elem);
  Matrix<Dst> out(l.n, l.d);
  switch (l.elem) {
    case Elem::kF32:
      read_payload<float>(f, l.offset, out, check);
      break;
    case Elem::kF16:
      read_payload<Half>(f, l.offset, out, check);
      break;
    case Elem::kI32:
      read_payload<int32_t>(f, l.offset, out, check);
      break;
    case Elem::kI64:
      read_payload<int64_t>(f, l.offset, out, check);
      break;
    case Elem::kU8:
      read_payload<uint8_t>(f, l.offset, out, check);
      break;
  }
  return out;
}

/// big-ann header: uint32 n, uint32 d.
Layout bin_layout(const InFile& f, Elem elem) {
  const std::string& path = f.path();
  EC_CHECK(f.size() >= 8, kBadInput,
           path << ": truncated: file size " << f.size()
                << " is smaller than the 8-byte header (uint32 n, uint32 d)");
  uint32_t header[2] = {0, 0};
  f.read_at(0, header, sizeof header);
  Layout l{header[0], header[1], elem, 8};
  std::ostringstream origin;
  origin << "the header (n=" << l.n << ", d=" << l.d << ", " << elem_info(elem).name << ": 8 + n*d*"
         << elem_info(elem).size << " bytes)";
  check_payload_size(f, l, origin.str());
  return l;
}

/// Headerless float32 with a given d.
Layout raw_layout(const InFile& f, size_t d) {
  const std::string& path = f.path();
  EC_CHECK(d > 0, kUsage,
           path << ": a headerless float32 file needs its dimension d (ReadOptions::raw_d)");
  EC_CHECK(!f.starts_with(kNpyMagic, 6), kBadInput,
           path << ": starts with the NumPy magic; it is a .npy file, not headerless float32");
  EC_CHECK(!f.starts_with(kHdf5Signature, 8), kBadInput,
           path << ": starts with the HDF5 signature; it is an .hdf5 file, not headerless float32");
  EC_CHECK(f.size() > 0, kBadInput, path << ": empty file");
  const size_t row_bytes = mul(path, d, sizeof(float));
  EC_CHECK(f.size() % row_bytes == 0, kBadInput,
           path << ": truncated: file size " << f.size() << " is not a multiple of the row size "
                << row_bytes << " (d=" << d << ")");
  return {static_cast<size_t>(f.size() / row_bytes), d, Elem::kF32, 0};
}

// ---- .npy ------------------------------------------------------------------------------------

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<uint64_t> shape;
};

/// Parses the Python dict literal of a .npy header:
///   {'descr': '<f4', 'fortran_order': False, 'shape': (1000, 128), }
class NpyHeaderParser {
 public:
  NpyHeaderParser(const std::string& path, const std::string& text) : path_(path), text_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    expect('{');
    while (!eat('}')) {
      const std::string key = string_literal();
      expect(':');
      // A key given twice is not a header numpy writes; which value would count is a guess.
      if ((key == "descr" && seen_descr) || (key == "fortran_order" && seen_fortran) ||
          (key == "shape" && seen_shape))
        fail("key '" + key + "' given twice");
      if (key == "descr") {
        if (peek() == '[') fail("structured dtypes are not supported");
        h.descr = string_literal();
        seen_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        seen_fortran = true;
      } else if (key == "shape") {
        h.shape = tuple();
        seen_shape = true;
      } else {
        fail("unexpected key '" + printable(key) + "'");
      }
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    if (!seen_descr || !seen_fortran || !seen_shape) {
      fail("it needs the keys 'descr', 'fortran_order' and 'shape'");
    }
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    std::string shown = text_;
    while (!shown.empty() && std::isspace(static_cast<unsigned char>(shown.back()))) {
      shown.pop_back();
    }
    EC_THROW(kBadInput, path_ << ": malformed .npy header: " << what << " at offset " << pos_
                              << " in \"" << printable(shown, 200) << "\"");
  }
  char peek() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a string");
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string s = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    peek();
    for (const char* word : {"True", "False"}) {
      if (text_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return word[0] == 'T';
      }
    }
    fail("expected True or False");
  }
  uint64_t integer() {
    peek();
    if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      fail("expected a non-negative integer");
    }
    uint64_t v = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      const uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
      if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) fail("integer overflow");
      v = v * 10 + digit;
      ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'L' || text_[pos_] == 'l')) ++pos_;  // Python 2
    return v;
  }
  std::vector<uint64_t> tuple() {
    std::vector<uint64_t> t;
    expect('(');
    while (!eat(')')) {
      t.push_back(integer());
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return t;
  }

  const std::string& path_;
  const std::string& text_;
  size_t pos_ = 0;
};

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << (shape.size() == 1 ? ",)" : ")");
  return s.str();
}

Layout npy_layout(const InFile& f) {
  const std::string& path = f.path();
  EC_CHECK(f.size() >= 10 && f.starts_with(kNpyMagic, 6), kBadInput,
           path << ": not a .npy file (no \\x93NUMPY magic at the start)");
  uint8_t version[2] = {0, 0};
  f.read_at(6, version, 2);
  EC_CHECK(version[0] >= 1 && version[0] <= 3 && version[1] == 0, kBadInput,
           path << ": unsupported .npy format version " << int{version[0]} << "." << int{version[1]}
                << " (supported: 1.0, 2.0, 3.0)");
  // v1: uint16 header length at byte 8; v2 and v3 (UTF-8 header): uint32.
  size_t header_len = 0, header_start = 0;
  if (version[0] == 1) {
    uint16_t len = 0;
    f.read_at(8, &len, 2);
    header_len = len;
    header_start = 10;
  } else {
    EC_CHECK(f.size() >= 12, kBadInput,
             path << ": truncated: file size " << f.size() << " ends inside the .npy preamble");
    uint32_t len = 0;
    f.read_at(8, &len, 4);
    header_len = len;
    header_start = 12;
  }
  EC_CHECK(header_len <= kMaxNpyHeader, kBadInput,
           path << ": .npy header length " << header_len << " is implausible (corrupted file?)");
  EC_CHECK(header_start + header_len <= f.size(), kBadInput,
           path << ": truncated: the .npy header of " << header_len
                << " bytes does not fit in the file size " << f.size());
  std::string text(header_len, '\0');
  f.read_at(header_start, text.data(), header_len);
  const NpyHeader h = NpyHeaderParser(path, text).parse();

  EC_CHECK(!h.fortran_order, kBadInput,
           path << ": fortran_order=True is not supported; save a C-order array "
                   "(np.save(path, np.ascontiguousarray(x)))");
  Layout l;
  l.offset = header_start + header_len;
  if (h.descr == "<f4") {
    l.elem = Elem::kF32;
  } else if (h.descr == "<f2") {
    l.elem = Elem::kF16;
  } else if (h.descr == "<i4") {
    l.elem = Elem::kI32;
  } else if (h.descr == "<i8") {
    l.elem = Elem::kI64;
  } else if (h.descr == "|u1" || h.descr == "<u1") {
    l.elem = Elem::kU8;
  } else if (!h.descr.empty() && h.descr[0] == '>') {
    EC_THROW(kBadInput, path << ": big-endian dtype '" << printable(h.descr)
                             << "' is not supported; convert with x.astype('<"
                             << printable(h.descr.substr(1)) << "')");
  } else {
    EC_THROW(kBadInput, path << ": unsupported dtype '" << printable(h.descr)
                             << "' (supported: <f4, <f2, <i4, <i8, |u1)");
  }
  EC_CHECK(h.shape.size() == 2, kBadInput,
           path << ": expected a 2-D array (n, d), got shape " << shape_string(h.shape));
  l.n = h.shape[0];
  l.d = h.shape[1];
  check_payload_size(f, l, "shape " + shape_string(h.shape) + " and dtype '" + h.descr + "'");
  return l;
}

// ---- .fvecs / .ivecs / .bvecs ------------------------------------------------------------

/// TEXMEX: every row is int32 d, then d values of Src. Rows are read many per call and each
/// row's d is checked against the first.
template <class Src, class Dst>
Matrix<Dst> read_texmex(const InFile& f, bool check) {
  const std::string& path = f.path();
  EC_CHECK(f.size() > 0, kBadInput, path << ": empty file");
  EC_CHECK(
      f.size() >= 4, kBadInput,
      path << ": truncated: file size " << f.size() << " is smaller than the 4-byte row header");
  int32_t d32 = 0;
  f.read_at(0, &d32, sizeof d32);
  EC_CHECK(d32 >= 1 && static_cast<size_t>(d32) <= kMaxTexmexD, kBadInput,
           path << ": not a " << extension_of(path) << " file: the first row header says d=" << d32
                << ", outside 1.." << kMaxTexmexD);
  const size_t d = static_cast<size_t>(d32);
  const size_t row_bytes = sizeof(int32_t) + d * sizeof(Src);
  EC_CHECK(f.size() % row_bytes == 0, kBadInput,
           path << ": truncated: file size " << f.size() << " is not a multiple of the row size "
                << row_bytes << " (d=" << d << ")");
  const size_t n = static_cast<size_t>(f.size() / row_bytes);
  Matrix<Dst> out(n, d);

  const size_t rows_per_chunk = std::max<size_t>(1, kChunkBytes / row_bytes);
  std::vector<char> buf(std::min(rows_per_chunk, n) * row_bytes);  // m rows as stored
  size_t m = 0;
  for (size_t i0 = 0; i0 < n; i0 += m) {
    m = std::min(rows_per_chunk, n - i0);
    f.read_at(i0 * row_bytes, buf.data(), m * row_bytes);
    for (size_t r = 0; r < m; ++r) {
      const char* p = buf.data() + r * row_bytes;
      int32_t dr = 0;
      std::memcpy(&dr, p, sizeof dr);
      EC_CHECK(dr == d32, kBadInput,
               path << ": row " << i0 + r << " has d=" << dr << " but row 0 has d=" << d);
      p += sizeof(int32_t);
      Dst* dst = out.row(i0 + r);
      if constexpr (std::is_same_v<Src, Dst>) {
        std::memcpy(dst, p, d * sizeof(Src));
      } else {
        for (size_t j = 0; j < d; ++j) {
          Src v;
          std::memcpy(&v, p + j * sizeof(Src), sizeof(Src));
          dst[j] = static_cast<Dst>(v);
        }
      }
    }
    if constexpr (std::is_same_v<Src, float> && std::is_same_v<Dst, float>) {
      if (check) check_finite(path, "", out.row(i0), m * d, i0 * d, d);
    }
  }
  return out;
}

// ---- HDF5 ------------------------------------------------------------------------------------

/// Serial HDF5 is not thread-safe, so every use here holds this lock. It also turns off HDF5's
/// own error-stack printing: a bad file must give our one line, not a page of HDF5 internals.
class Hdf5Lock {
 public:
  Hdf5Lock() : lock_(mutex()) { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  std::lock_guard<std::mutex> lock_;
};

/// The innermost message of HDF5's error stack, as " (HDF5: ...)", or "".
std::string hdf5_error() {
  std::string msg;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto* s = static_cast<std::string*>(data);
        if (s->empty() && e->desc) *s = e->desc;
        return 0;
      },
      &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "" : " (HDF5: " + msg + ")";
}

/// An HDF5 identifier closed by its own close function.
class H5Id {
 public:
  using Close = herr_t (*)(hid_t);
  H5Id(hid_t id, Close close) : id_(id), close_(close) {}
  ~H5Id() {
    if (id_ >= 0) close_(id_);
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  hid_t get() const { return id_; }
  /// Closes now and reports whether it worked (a file being written must know).
  bool close() { return close_(std::exchange(id_, -1)) >= 0; }

 private:
  hid_t id_;
  Close close_;
};

H5Id h5_check(hid_t id, H5Id::Close close, const std::string& path, const std::string& what,
              ErrorKind kind = ErrorKind::kBadInput) {
  if (id < 0) throw Error(kind, path + ": " + what + hdf5_error(), __FILE__, __LINE__);
  return H5Id(id, close);
}

bool h5_exists(hid_t file, const std::string& name) {
  const bool yes = H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0;
  H5Eclear2(H5E_DEFAULT);
  return yes;
}

/// " (it has: a, b, c)": the links at the root, to help with a misspelled dataset name.
std::string h5_root_names(hid_t file) {
  std::vector<std::string> names;
  H5Literate(
      file, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        auto* v = static_cast<std::vector<std::string>*>(data);
        if (v->size() >= 10) return 1;  // enough to help; stop
        v->emplace_back(name);
        return 0;
      },
      &names);
  H5Eclear2(H5E_DEFAULT);
  if (names.empty()) return " (it has nothing at the root)";
  std::string s = " (it has: ";
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + printable(names[i]);
  return s + ")";
}

/// Checks the HDF5 signature (at 0, or after a user block at 512, 1024, 2048, ...: HDF5 file
/// format spec, "Superblock") before handing the file to HDF5. Returns the file size.
uint64_t confirm_hdf5(const std::string& path) {
  const InFile f(path);
  char sig[8];
  for (uint64_t off = 0; off + sizeof sig <= f.size(); off = off == 0 ? 512 : off * 2) {
    f.read_at(off, sig, sizeof sig);
    if (std::memcmp(sig, kHdf5Signature, sizeof sig) == 0) return f.size();
  }
  EC_THROW(kBadInput, path << ": not an HDF5 file (no HDF5 signature)");
}

void check_hdf5_heaps(const InFile& f);

}  // namespace

void check_hdf5_heaps(const std::string& path) { check_hdf5_heaps(InFile(path)); }

namespace {

H5Id h5_open(const std::string& path) {
  check_hdf5_heaps(InFile(path));
  return h5_check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, path,
                  "cannot open as HDF5");
}

/// Reads a 2-D dataset, converting its values to Dst (HDF5 converts float64 -> float32 and
/// int32 -> int64). Checks the claimed size against the file size before allocating.
template <class Dst>
Matrix<Dst> h5_read(hid_t file, const std::string& path, uint64_t file_size,
                    const std::string& name, bool check) {
  EC_CHECK(h5_exists(file, name), kBadInput,
           path << ": no dataset '" << name << "'" << h5_root_names(file));
  const std::string what = "dataset '" + name + "'";
  // An external link would make HDF5 open another file (which may be a FIFO and block).
  H5L_info_t link{};
  EC_CHECK(H5Lget_info(file, name.c_str(), &link, H5P_DEFAULT) >= 0, kBadInput,
           path << ": cannot inspect " << what << hdf5_error());
  EC_CHECK(link.type == H5L_TYPE_HARD || link.type == H5L_TYPE_SOFT, kBadInput,
           path << ": " << what << " is an external or user-defined link to another file, "
                << "which is not read");
  H5Id ds =
      h5_check(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose, path, "cannot open " + what);
  H5Id type = h5_check(H5Dget_type(ds.get()), H5Tclose, path, "cannot get the type of " + what);
  const H5T_class_t cls = H5Tget_class(type.get());
  const size_t type_size = H5Tget_size(type.get());
  if constexpr (std::is_integral_v<Dst>) {
    EC_CHECK(cls != H5T_FLOAT, kBadInput,
             path << ": " << what << " holds floating-point values, not integer ids");
    EC_CHECK(cls == H5T_INTEGER, kBadInput, path << ": " << what << " is not an integer array");
  } else {
    EC_CHECK(cls == H5T_FLOAT || cls == H5T_INTEGER, kBadInput,
             path << ": " << what << " is not a numeric array");
  }
  EC_CHECK(type_size > 0, kBadInput, path << ": " << what << " has an invalid type");

  H5Id space = h5_check(H5Dget_space(ds.get()), H5Sclose, path, "cannot get the shape of " + what);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  EC_CHECK(rank == 2, kBadInput,
           path << ": " << what << " has rank " << rank << ", expected a 2-D (n, d) array");
  hsize_t dims[2] = {0, 0};
  EC_CHECK(H5Sget_simple_extent_dims(space.get(), dims, nullptr) == 2, kBadInput,
           path << ": cannot get the shape of " << what << hdf5_error());
  const size_t n = dims[0], d = dims[1];
  EC_CHECK(d >= 1, kBadInput, path << ": " << what << " has d=0");
  const size_t bytes = mul(path, mul(path, n, d), type_size);
  H5Id dcpl = h5_check(H5Dget_create_plist(ds.get()), H5Pclose, path,
                       "cannot get the storage properties of " + what);
  // External storage (raw data in other files, e.g. /dev/zero, a FIFO or a secret) and virtual
  // datasets (mapped from other files) read beyond the file that was named: refused.
  const int external = H5Pget_external_count(dcpl.get());
  EC_CHECK(external == 0, kBadInput,
           path << ": " << what << " keeps its data in " << external
                << " external file(s); only data stored inside the HDF5 file is read");
  EC_CHECK(H5Pget_layout(dcpl.get()) != H5D_VIRTUAL, kBadInput,
           path << ": " << what << " is a virtual dataset (mapped from other files); only data "
                << "stored inside the HDF5 file is read");
  const bool filtered = H5Pget_nfilters(dcpl.get()) > 0;
  const uint64_t limit = filtered ? file_size * kMaxCompressionRatio : file_size;
  EC_CHECK(bytes <= limit, kBadInput,
           path << ": " << what << " claims shape (" << n << ", " << d << ") of " << bytes
                << " bytes, more than the file of " << file_size << " bytes can hold");

  Matrix<Dst> out(n, d);
  const hid_t mem_type = std::is_integral_v<Dst> ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT;
  if (!out.values.empty()) {
    EC_CHECK(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0, kBadInput,
             path << ": cannot read " << what << hdf5_error());
  }
  if constexpr (std::is_same_v<Dst, float>) {
    const char* note = cls == H5T_FLOAT && type_size > 4 ? " (after conversion to float32)" : "";
    if (check) check_finite(path, what + " ", out.data(), out.values.size(), 0, d, note);
  }
  return out;
}

/// A metric name is a short word: anything else (control bytes, a page of text) is refused here
/// rather than echoed by whoever parses it.
constexpr size_t kMaxDistanceBytes = 64;

std::string checked_distance(const std::string& path, std::string value) {
  const bool ok =
      value.size() <= kMaxDistanceBytes &&
      std::all_of(value.begin(), value.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  EC_CHECK(ok, kBadInput,
           path << ": attribute 'distance' is not a metric name: '" << printable(value) << "'");
  return value;
}

/// A little-endian unsigned integer of `bytes` (at most 8) bytes.
uint64_t load_le(const unsigned char* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t b = 0; b < bytes; ++b) v |= uint64_t(p[b]) << (8 * b);
  return v;
}

// A global heap collection (HDF5 file format spec, "Global Heap"): "GCOL", version 1, three
// reserved bytes and the collection's size; then objects, each its index (2 bytes), reference
// count (2), 4 reserved bytes and its size, followed by its data padded to 8 bytes. Both sizes
// take the file's "size of lengths" bytes (8 unless the file was made otherwise). Index 0 is
// the free space, whose size counts its own header.
constexpr uint64_t kGcolPrefix = 8;        // "GCOL", version, reserved
constexpr uint64_t kGcolObjectPrefix = 8;  // index, reference count, reserved
constexpr uint64_t kGcolMinSize = 4096;    // HDF5 refuses smaller collections
constexpr unsigned kDefaultLengthSize = 8;

/// The size of the collection at byte g if HDF5 1.10.8 would load it (version 1, at least
/// kGcolMinSize, inside the file); 0 when it would not.
uint64_t gcol_size(const InFile& f, uint64_t g, unsigned length_size) {
  const uint64_t header = kGcolPrefix + length_size;
  if (g >= f.size() || header > f.size() - g) return 0;
  unsigned char h[kGcolPrefix + 8];
  f.read_at(g, h, size_t(header));
  if (std::memcmp(h, "GCOL", 4) != 0 || h[4] != 1) return 0;
  const uint64_t size = load_le(h + kGcolPrefix, length_size);
  return size >= kGcolMinSize && size <= f.size() - g ? size : 0;
}

/// Walks the objects of the collection at byte g (of `size`, from gcol_size) the way HDF5
/// 1.10.8 loads them (H5HG__cache_heap_deserialize): fn(index, object size, byte) for each, the
/// free space included; a tail too small for an object header is free space. Throws on an
/// object that does not advance or runs past the collection, where HDF5 loops or overruns.
template <class Fn>
void walk_gcol(const InFile& f, uint64_t g, uint64_t size, unsigned length_size, Fn&& fn) {
  const uint64_t object_header = kGcolObjectPrefix + length_size;
  const uint64_t end = g + size;
  for (uint64_t q = g + kGcolPrefix + length_size; q + object_header <= end;) {
    unsigned char o[kGcolObjectPrefix + 8];
    f.read_at(q, o, size_t(object_header));
    const auto idx = uint16_t(load_le(o, 2));
    const uint64_t osize = load_le(o + kGcolObjectPrefix, length_size);
    const uint64_t room = end - q;
    const uint64_t need =
        idx > 0 ? (osize > room ? room + 1 : object_header + (osize + 7) / 8 * 8) : osize;
    EC_CHECK(
        need >= object_header && need <= room, kBadInput,
        f.path() << ": corrupt HDF5 global heap at byte " << g << ": object " << idx << " of size "
                 << osize << " at byte " << q
                 << (need < object_header ? " does not advance" : " runs past the collection"));
    fn(idx, osize, q);
    q += need;
  }
}

/// Where a file's addresses count from and how wide its offsets and lengths are (HDF5 file
/// format spec, "Superblock": at byte 0, 512, 1024, 2048, ...; the sizes at bytes 13-14 in
/// versions 0 and 1, 9-10 in versions 2 and 3; the base address is the superblock's position,
/// after any user block). The defaults (0, 8, 8) when there is no superblock HDF5 can read,
/// as HDF5 then refuses the file anyway.
struct Hdf5Layout {
  uint64_t base = 0;
  unsigned offset_bytes = 8;
  unsigned length_bytes = kDefaultLengthSize;
};

Hdf5Layout hdf5_layout(const InFile& f) {
  static constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  constexpr uint64_t kHead = 16;
  constexpr uint64_t kFirstUserBlock = 512;
  auto valid = [](unsigned b) { return b == 2 || b == 4 || b == 8; };
  for (uint64_t at = 0; at < f.size() && kHead <= f.size() - at;
       at = at == 0 ? kFirstUserBlock : at * 2) {
    unsigned char h[kHead];
    f.read_at(at, h, sizeof h);
    if (std::memcmp(h, kSignature, sizeof kSignature) != 0) continue;
    const unsigned version = h[8];
    const unsigned offsets = version < 2 ? h[13] : h[9];
    const unsigned lengths = version < 2 ? h[14] : h[10];
    if (version > 3 || !valid(offsets) || !valid(lengths)) return {};
    return {at, offsets, lengths};
  }
  return {};
}

/// Two HDF5 1.10.8 bugs on corrupt heaps, found by vec_readers' fuzz campaign, are
/// refused before HDF5 reads the file (h5_open), by a scan for the heaps' signatures (HDF5
/// file format spec, "Local Heap" and "Global Heap"):
///  - Local heaps ("HEAP") hold the link names of old-style groups, which HDF5 copies with
///    strdup: a name without its NUL runs past HDF5's buffer (heap-buffer-overflow in
///    H5G__ent_to_link, reached from H5Literate). HDF5 writes names NUL-terminated and pads
///    them, so a data segment's last byte is 0; requiring that bounds every name in it.
///  - Global heap collections ("GCOL") hold variable-length strings such as the
///    "distance" attribute. H5HG__cache_heap_deserialize advances by each object's size: a
///    free-space object (index 0) of size 0, or a size that wraps around, loops forever
///    (`bench --data` hung at 100% CPU). Every collection must hold objects that advance
///    and end inside it.
/// Bytes that only look like a heap (the signature and the fixed fields inside other
/// data) can make a file refused, never accepted wrongly; the scan reads the file once.
void check_hdf5_heaps(const InFile& f) {
  const std::string& path = f.path();
  const Hdf5Layout lay = hdf5_layout(f);
  // "HEAP", version, 3 reserved, data segment size, free list offset (lengths), address (offsets)
  constexpr uint64_t kHeapPrefix = 8;
  const uint64_t heap_header = kHeapPrefix + 2 * lay.length_bytes + lay.offset_bytes;
  auto check_gcol = [&](uint64_t g) {
    const uint64_t size = gcol_size(f, g, lay.length_bytes);
    if (size > 0) walk_gcol(f, g, size, lay.length_bytes, [](uint16_t, uint64_t, uint64_t) {});
  };
  auto check_heap = [&](uint64_t h0) {
    unsigned char h[kHeapPrefix + 3 * 8];
    f.read_at(h0, h, size_t(heap_header));
    const uint64_t size = load_le(h + kHeapPrefix, lay.length_bytes);
    const uint64_t rel = load_le(h + kHeapPrefix + 2 * lay.length_bytes, lay.offset_bytes);
    const uint64_t addr = rel > UINT64_MAX - lay.base ? UINT64_MAX : lay.base + rel;
    if (h[4] != 0 || h[5] != 0 || h[6] != 0 || h[7] != 0 || size == 0 || addr >= f.size() ||
        size > f.size() - addr)
      return;  // not a local heap HDF5 can load
    char last;
    f.read_at(addr + size - 1, &last, 1);
    EC_CHECK(last == 0, kBadInput,
             path << ": corrupt HDF5 local heap at byte " << h0
                  << ": its names are not NUL-terminated (data segment of " << size
                  << " bytes at byte " << addr << ")");
  };
  std::vector<char> buf;
  const uint64_t chunk = uint64_t{1} << 20;
  for (uint64_t at = 0; at < f.size(); at += chunk) {
    const uint64_t len = std::min<uint64_t>(chunk + 3, f.size() - at);
    buf.resize(size_t(len));
    f.read_at(at, buf.data(), size_t(len));
    const char* end = buf.data() + len;
    for (const char* p = buf.data();
         (p = static_cast<const char*>(memmem(p, size_t(end - p), "GCOL", 4))); ++p)
      check_gcol(at + uint64_t(p - buf.data()));
    for (const char* p = buf.data();
         (p = static_cast<const char*>(memmem(p, size_t(end - p), "HEAP", 4))); ++p)
      if (at + uint64_t(p - buf.data()) + heap_header <= f.size())
        check_heap(at + uint64_t(p - buf.data()));
  }
}

/// HDF5 1.10.8 converts a variable-length string by first allocating the length its stored
/// descriptor claims (a 32-bit count, so up to 4 GiB) and copying that many bytes, then copying
/// the global heap object, whatever its own size, into that buffer: a 10 KB file whose
/// "distance" attribute claimed 627 MB cost 1.2 GB and 11 s (hdf5_reader fuzz campaign,
/// 2026-12-07), and an object longer than the claim overruns the buffer. This conversion hands
/// us the stored descriptor instead: registered as a soft conversion from a variable-length
/// string to the opaque type tagged kVlenTag, it receives each element as the file stores it
/// (HDF5 file format spec, "Variable-length" datatype and "Global Heap ID": a 4-byte length,
/// the collection's address in the file's size of offsets, a 4-byte object index, all
/// little-endian) and writes a VlenDescriptor, checked before the string is read.
constexpr const char* kVlenTag = "embcomp: stored descriptor of a variable-length string";
constexpr size_t kVlenLengthBytes = 4;  // the stored length, and the heap ID's object index
constexpr size_t kMaxOffsetBytes = 8;

struct VlenDescriptor {
  uint32_t length = 0;        ///< elements (bytes, for a string) the file says it holds
  uint32_t index = 0;         ///< object index in the global heap collection
  uint64_t collection = 0;    ///< address of the collection, relative to the base address
  uint64_t offset_bytes = 0;  ///< the size of offsets the stored form implies
};

herr_t vlen_descriptor_conv(hid_t src, hid_t dst, H5T_cdata_t* cdata, size_t nelmts,
                            size_t /*buf_stride*/, size_t /*bkg_stride*/, void* buf, void* /*bkg*/,
                            hid_t /*dxpl*/) {
  switch (cdata->command) {
    case H5T_CONV_INIT: {
      cdata->need_bkg = H5T_BKG_NO;
      if (H5Tis_variable_str(src) <= 0 || H5Tget_class(dst) != H5T_OPAQUE ||
          H5Tget_size(dst) != sizeof(VlenDescriptor))
        return -1;
      char* tag = H5Tget_tag(dst);
      const bool ours = tag && std::strcmp(tag, kVlenTag) == 0;
      H5free_memory(tag);
      return ours ? 0 : -1;
    }
    case H5T_CONV_CONV: {
      if (nelmts == 0) return 0;
      const size_t src_size = H5Tget_size(src);
      const size_t fixed = 2 * kVlenLengthBytes;
      if (nelmts > 1 || src_size <= fixed || src_size > fixed + kMaxOffsetBytes) return -1;
      const auto* in = static_cast<const unsigned char*>(buf);
      VlenDescriptor d;
      d.offset_bytes = src_size - fixed;
      d.length = uint32_t(load_le(in, kVlenLengthBytes));
      d.collection = load_le(in + kVlenLengthBytes, d.offset_bytes);
      d.index = uint32_t(load_le(in + kVlenLengthBytes + d.offset_bytes, kVlenLengthBytes));
      std::memcpy(buf, &d, sizeof d);  // H5Aread's buffer holds max(src, dst) bytes
      return 0;
    }
    case H5T_CONV_FREE:
      return 0;
  }
  return -1;
}

/// The descriptor of the scalar variable-length string attribute `attr`, read without HDF5
/// allocating the string (vlen_descriptor_conv).
VlenDescriptor h5_vlen_descriptor(hid_t attr, const std::string& path, const std::string& what) {
  static std::once_flag registered;
  static bool ok = false;
  std::call_once(registered, [] {
    const hid_t vstr = H5Tcopy(H5T_C_S1);
    const hid_t desc = H5Tcreate(H5T_OPAQUE, sizeof(VlenDescriptor));
    ok = vstr >= 0 && desc >= 0 && H5Tset_size(vstr, H5T_VARIABLE) >= 0 &&
         H5Tset_tag(desc, kVlenTag) >= 0 &&
         H5Tregister(H5T_PERS_SOFT, "embcomp_vlen_descriptor", vstr, desc, vlen_descriptor_conv) >=
             0;
    if (vstr >= 0) H5Tclose(vstr);
    if (desc >= 0) H5Tclose(desc);
  });
  EC_CHECK(ok, kRuntime, path << ": cannot set up the read of " << what << hdf5_error());
  H5Id desc = h5_check(H5Tcreate(H5T_OPAQUE, sizeof(VlenDescriptor)), H5Tclose, path,
                       "cannot read " + what, ErrorKind::kRuntime);
  EC_CHECK(H5Tset_tag(desc.get(), kVlenTag) >= 0, kRuntime,
           path << ": cannot read " << what << hdf5_error());
  VlenDescriptor d;
  EC_CHECK(H5Aread(attr, desc.get(), &d) >= 0, kBadInput,
           path << ": cannot read " << what << hdf5_error());
  return d;
}

/// Checks that the global heap object `d` names holds exactly the stored length, as HDF5
/// 1.10.8 then copies the object's own size into a buffer sized by the stored length
/// (H5HG_read): a longer object overruns it, a shorter one leaves bytes unread. The object is
/// looked up as HDF5 loads the collection (walk_gcol: a later object of the same index replaces
/// an earlier one); one that is not there is refused, since HDF5 checks the index only by
/// assert.
void check_vlen_object(const std::string& path, hid_t file, const VlenDescriptor& d,
                       const std::string& what) {
  H5Id fcpl = h5_check(H5Fget_create_plist(file), H5Pclose, path, "cannot read " + what,
                       ErrorKind::kRuntime);
  hsize_t base = 0;  // addresses count from the base address, which follows any user block
  size_t offset_bytes = 0, length_bytes = 0;
  EC_CHECK(H5Pget_userblock(fcpl.get(), &base) >= 0 &&
               H5Pget_sizes(fcpl.get(), &offset_bytes, &length_bytes) >= 0,
           kRuntime, path << ": cannot read " << what << hdf5_error());
  EC_CHECK(d.offset_bytes == offset_bytes && length_bytes >= 1 && length_bytes <= 8, kBadInput,
           path << ": " << what << " is stored with " << d.offset_bytes
                << "-byte addresses in a file of " << offset_bytes << "-byte ones");
  InFile f(path);
  const uint64_t at = d.collection > UINT64_MAX - base ? UINT64_MAX : base + d.collection;
  const uint64_t size = gcol_size(f, at, unsigned(length_bytes));
  EC_CHECK(size > 0, kBadInput,
           path << ": " << what << " points to byte " << at
                << ", where there is no global heap collection");
  std::optional<uint64_t> held;
  walk_gcol(f, at, size, unsigned(length_bytes), [&](uint16_t idx, uint64_t osize, uint64_t) {
    if (idx > 0 && idx == d.index) held = osize;
  });
  EC_CHECK(held.has_value(), kBadInput,
           path << ": " << what << " names object " << d.index << " of the global heap at byte "
                << at << ", which has none");
  EC_CHECK(*held == d.length, kBadInput,
           path << ": " << what << " claims a string of " << d.length
                << " bytes but its global heap object holds " << *held);
}

/// The root attribute "distance", a fixed- or variable-length string; "" when absent.
std::string h5_read_distance(hid_t file, const std::string& path) {
  if (H5Aexists(file, "distance") <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return "";
  }
  const std::string what = "attribute 'distance'";
  H5Id attr =
      h5_check(H5Aopen(file, "distance", H5P_DEFAULT), H5Aclose, path, "cannot open " + what);
  H5Id type = h5_check(H5Aget_type(attr.get()), H5Tclose, path, "cannot get the type of " + what);
  EC_CHECK(H5Tget_class(type.get()) == H5T_STRING, kBadInput,
           path << ": " << what << " is not a string");
  H5Id space =
      h5_check(H5Aget_space(attr.get()), H5Sclose, path, "cannot get the shape of " + what);
  EC_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, kBadInput,
           path << ": " << what << " is not a single string");
  if (H5Tis_variable_str(type.get()) > 0) {
    const VlenDescriptor stored = h5_vlen_descriptor(attr.get(), path, what);
    EC_CHECK(stored.length <= kMaxDistanceBytes, kBadInput,
             path << ": " << what << " claims a string of " << stored.length
                  << " bytes, not a metric name (at most " << kMaxDistanceBytes << ")");
    // HDF5 reads the heap whenever the address is not 0 (0 is the null string).
    if (stored.collection != 0) check_vlen_object(path, file, stored, what);
    H5Id mem = h5_check(H5Tcopy(H5T_C_S1), H5Tclose, path, "cannot read " + what);
    EC_CHECK(H5Tset_size(mem.get(), H5T_VARIABLE) >= 0 &&
                 H5Tset_cset(mem.get(), H5Tget_cset(type.get())) >= 0,
             kBadInput, path << ": cannot read " << what << hdf5_error());
    char* s = nullptr;
    EC_CHECK(H5Aread(attr.get(), mem.get(), &s) >= 0, kBadInput,
             path << ": cannot read " << what << hdf5_error());
    std::string value = s ? s : "";
    H5free_memory(s);
    return checked_distance(path, value);
  }
  // Fixed length: read the bytes as stored; they may be NUL- or space-padded.
  const size_t size = H5Tget_size(type.get());
  EC_CHECK(size > 0 && size <= (size_t{1} << 16), kBadInput,
           path << ": " << what << " has an implausible length " << size);
  std::string value(size, '\0');
  EC_CHECK(H5Aread(attr.get(), type.get(), value.data()) >= 0, kBadInput,
           path << ": cannot read " << what << hdf5_error());
  value.resize(std::strlen(value.c_str()));
  while (!value.empty() && value.back() == ' ') value.pop_back();
  return checked_distance(path, value);
}

void h5_write(hid_t file, const std::string& path, const char* name, hid_t file_type,
              hid_t mem_type, const void* data, size_t n, size_t d) {
  const std::string what = std::string("dataset '") + name + "'";
  const hsize_t dims[2] = {n, d};
  H5Id space = h5_check(H5Screate_simple(2, dims, nullptr), H5Sclose, path,
                        "cannot create the shape of " + what, ErrorKind::kRuntime);
  H5Id ds = h5_check(
      H5Dcreate2(file, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose, path, "cannot create " + what, ErrorKind::kRuntime);
  if (n > 0 && d > 0) {
    EC_CHECK(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, kRuntime,
             path << ": cannot write " << what << hdf5_error());
  }
}

void h5_write_distance(hid_t file, const std::string& path, const std::string& distance) {
  // A scalar variable-length UTF-8 string, as h5py writes f.attrs["distance"] = "angular".
  H5Id type = h5_check(H5Tcopy(H5T_C_S1), H5Tclose, path, "cannot write attribute 'distance'",
                       ErrorKind::kRuntime);
  EC_CHECK(
      H5Tset_size(type.get(), H5T_VARIABLE) >= 0 && H5Tset_cset(type.get(), H5T_CSET_UTF8) >= 0,
      kRuntime, path << ": cannot write attribute 'distance'" << hdf5_error());
  H5Id space = h5_check(H5Screate(H5S_SCALAR), H5Sclose, path, "cannot write attribute 'distance'",
                        ErrorKind::kRuntime);
  H5Id attr =
      h5_check(H5Acreate2(file, "distance", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
               H5Aclose, path, "cannot write attribute 'distance'", ErrorKind::kRuntime);
  const char* s = distance.c_str();
  EC_CHECK(H5Awrite(attr.get(), type.get(), &s) >= 0, kRuntime,
           path << ": cannot write attribute 'distance'" << hdf5_error());
}

template <class T>
void check_view(const std::string& path, const char* name, MatrixView<T> x) {
  EC_CHECK(x.data != nullptr || x.n == 0 || x.d == 0, kUsage,
           path << ": " << name << " has no data for " << x.n << " x " << x.d);
}

/// train is always written, test when given (write_floats writes train only), neighbors and
/// distances when they have rows, the distance attribute when not empty.
void write_hdf5(const std::string& path, MatrixView<float> train, const MatrixView<float>* test,
                MatrixView<int64_t> neighbors, MatrixView<float> distances,
                const std::string& distance) {
  check_view(path, "train", train);
  EC_CHECK(train.d >= 1, kBadInput, path << ": cannot write 'train' with d=0");
  if (test) {
    check_view(path, "test", *test);
    EC_CHECK(test->n == 0 || test->d == train.d, kBadInput,
             path << ": 'test' has d=" << test->d << " but 'train' has d=" << train.d);
    const size_t test_rows = test->n;
    if (neighbors.n > 0) {
      check_view(path, "neighbors", neighbors);
      EC_CHECK(neighbors.n == test_rows, kBadInput,
               path << ": 'neighbors' has " << neighbors.n << " rows but 'test' has " << test_rows);
    }
    if (distances.n > 0) {
      check_view(path, "distances", distances);
      EC_CHECK(distances.n == test_rows, kBadInput,
               path << ": 'distances' has " << distances.n << " rows but 'test' has " << test_rows);
      EC_CHECK(neighbors.n == 0 || distances.d == neighbors.d, kBadInput,
               path << ": 'distances' has d=" << distances.d
                    << " but 'neighbors' has d=" << neighbors.d);
    }
  }

  AtomicFile out(path);
  {
    Hdf5Lock lock;
    H5Id file =
        h5_check(H5Fcreate(out.write_path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                 H5Fclose, path, "cannot create '" + out.tmp_path() + "'", ErrorKind::kRuntime);
    h5_write(file.get(), path, "train", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, train.data, train.n,
             train.d);
    if (test) {
      h5_write(file.get(), path, "test", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, test->data, test->n,
               train.d);
      if (neighbors.n > 0) {
        h5_write(file.get(), path, "neighbors", H5T_STD_I64LE, H5T_NATIVE_INT64, neighbors.data,
                 neighbors.n, neighbors.d);
      }
      if (distances.n > 0) {
        h5_write(file.get(), path, "distances", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, distances.data,
                 distances.n, distances.d);
      }
    }
    if (!distance.empty()) h5_write_distance(file.get(), path, distance);
    EC_CHECK(file.close(), kRuntime, path << ": cannot finish writing" << hdf5_error());
  }
  out.commit();
}

}  // namespace

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define EMBCOMP_HAS_SANITIZER_API 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EMBCOMP_HAS_SANITIZER_API 1
#endif
#ifdef EMBCOMP_HAS_SANITIZER_API
extern "C" void __sanitizer_set_death_callback(void (*callback)(void));
extern "C" void __sanitizer_set_report_path(const char* path);
#endif

/// Runs read (an HDF5 read of path, result discarded) in a forked child first. HDF5 1.10.8
/// has memory-safety bugs on crafted files that embcomp cannot check for ahead (vec_readers'
/// fuzz campaign: heap over-reads while decoding attribute messages in H5Aexists, after
/// the two heap bugs check_hdf5_heaps refuses). A child that crashes or does not finish in
/// 10 s + 1 s per 50 MB is exit 2 for the file, and the process that reads it for real
/// never runs HDF5 on it. The child's embcomp::Error comes back as the same error. Costs a
/// second read of the file (docs/index.md).
void hdf5_in_child(const std::string& path, uint64_t size, const std::function<void()>& read,
                   int limit_ms) {
  int fds[2];
  EC_CHECK(::pipe2(fds, O_CLOEXEC) == 0, kRuntime,
           path << ": cannot create a pipe: " << sys_error(errno));
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    EC_THROW(kRuntime, path << ": cannot fork to read HDF5: " << sys_error(err));
  }
  if (pid == 0) {  // the child: only async-signal-safe exits, no atexit handlers
    ::close(fds[0]);
#ifdef EMBCOMP_HAS_SANITIZER_API
    __sanitizer_set_death_callback(nullptr);  // a fuzzer's crash dump belongs to the parent
    // A report from in here goes to <EMBCOMP_HDF5_CHILD_REPORT>.<pid> (default
    // /tmp/embcomp-hdf5-child.<pid>), not to the fuzzer's log (which counts only the
    // parent's) nor, with its stderr closed, to ".<pid>" files in the current folder.
    // scripts/run_fuzz.sh points it into the harness's findings and sorts the reports:
    // one in embcomp's own code is a finding, one inside HDF5 is contained.
    const char* report = std::getenv("EMBCOMP_HDF5_CHILD_REPORT");
    __sanitizer_set_report_path(report && *report ? report : "/tmp/embcomp-hdf5-child");
#endif
    int code = 0;
    std::string msg;
    try {
      read();
    } catch (const Error& e) {
      code = e.kind() == ErrorKind::kRuntime ? 1 : 2;
      msg = e.message();
    } catch (const std::exception& e) {
      code = 1;
      msg = path + ": " + e.what();
    }
    for (size_t off = 0; off < msg.size();) {
      const ssize_t w = ::write(fds[1], msg.data() + off, msg.size() - off);
      if (w <= 0) break;
      off += size_t(w);
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  if (limit_ms <= 0) limit_ms = int(std::min<uint64_t>(10000 + size / (50 << 20) * 1000, 3600000));
  const auto start = std::chrono::steady_clock::now();
  std::string msg;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
    if (spent >= limit_ms) {
      timed_out = true;
      break;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    const int r = ::poll(&pfd, 1, int(limit_ms - spent));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      timed_out = r == 0;
      break;
    }
    const ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the child has exited (or closed the pipe)
    if (msg.size() < 65536) msg.append(buf, size_t(got));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  EC_CHECK(!timed_out, kBadInput,
           path << ": HDF5 did not finish reading it in " << limit_ms / 1000
                << " s: the file is corrupt");
  if (WIFSIGNALED(status))
    EC_THROW(kBadInput, path << ": HDF5 crashed reading it (signal " << WTERMSIG(status)
                             << "): the file is corrupt");
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  if (code == 0) return;
  if (code == 2 && !msg.empty()) throw Error(ErrorKind::kBadInput, msg, __FILE__, __LINE__);
  if (code == 1 && !msg.empty()) throw Error(ErrorKind::kRuntime, msg, __FILE__, __LINE__);
  EC_THROW(kBadInput,
           path << ": HDF5 failed reading it (exit " << code << "): the file is corrupt");
}

namespace {

template <class Dst>
Matrix<Dst> read_hdf5_matrix(const std::string& path, const std::string& name, bool check) {
  const uint64_t size = confirm_hdf5(path);
  Hdf5Lock lock;
  hdf5_in_child(path, size, [&] {
    H5Id file = h5_open(path);
    (void)h5_read<Dst>(file.get(), path, size, name, check);
  });
  H5Id file = h5_open(path);
  return h5_read<Dst>(file.get(), path, size, name, check);
}

// ---- dispatch --------------------------------------------------------------------------------

template <class Dst>
Matrix<Dst> read_matrix(const std::string& path, const ReadOptions& opt,
                        const char* default_dataset) {
  const VecFormat format = format_from_extension(path);
  if (format == VecFormat::kHdf5) {
    return read_hdf5_matrix<Dst>(
        path, opt.hdf5_dataset.empty() ? default_dataset : opt.hdf5_dataset, opt.check_finite);
  }
  const InFile f(path);
  Layout l;
  switch (format) {
    case VecFormat::kFvecs:
      require_readable_as<Dst>(path, Elem::kF32);
      return read_texmex<float, Dst>(f, opt.check_finite);
    case VecFormat::kIvecs:
      return read_texmex<int32_t, Dst>(f, opt.check_finite);
    case VecFormat::kBvecs:
      return read_texmex<uint8_t, Dst>(f, opt.check_finite);
    case VecFormat::kFbin:
      l = bin_layout(f, Elem::kF32);
      break;
    case VecFormat::kIbin:
      l = bin_layout(f, Elem::kI32);
      break;
    case VecFormat::kU8bin:
      l = bin_layout(f, Elem::kU8);
      break;
    case VecFormat::kNpy:
      l = npy_layout(f);
      break;
    case VecFormat::kRaw:
      l = raw_layout(f, opt.raw_d);
      break;
    case VecFormat::kHdf5:
      break;  // handled above
  }
  return read_layout<Dst>(f, l, opt.check_finite);
}

/// TEXMEX writer: Stored is the on-disk element type (float for fvecs, int32 for ivecs).
template <class Stored, class T>
void write_texmex(const std::string& path, MatrixView<T> x) {
  check_view(path, "the matrix", x);
  EC_CHECK(x.n >= 1, kBadInput,
           path << ": cannot write an empty matrix as " << extension_of(path)
                << " (the format stores d in every row)");
  EC_CHECK(
      x.d >= 1 && x.d <= kMaxTexmexD, kBadInput,
      path << ": d=" << x.d << " is outside 1.." << kMaxTexmexD << " for " << extension_of(path));
  AtomicFile out(path);
  const int32_t d32 = static_cast<int32_t>(x.d);
  const size_t row_bytes = sizeof(int32_t) + x.d * sizeof(Stored);
  const size_t rows_per_chunk = std::max<size_t>(1, kChunkBytes / row_bytes);
  std::vector<char> buf(std::min(rows_per_chunk, x.n) * row_bytes);  // m rows as stored
  size_t m = 0;
  for (size_t i0 = 0; i0 < x.n; i0 += m) {
    m = std::min(rows_per_chunk, x.n - i0);
    char* p = buf.data();
    for (size_t i = i0; i < i0 + m; ++i) {
      std::memcpy(p, &d32, sizeof d32);
      p += sizeof d32;
      if constexpr (std::is_same_v<Stored, T>) {
        std::memcpy(p, x.row(i), x.d * sizeof(T));
      } else {
        for (size_t j = 0; j < x.d; ++j) {
          const auto v = static_cast<Stored>(x.row(i)[j]);
          std::memcpy(p + j * sizeof v, &v, sizeof v);
        }
      }
      p += x.d * sizeof(Stored);
    }
    out.write(buf.data(), m * row_bytes);
  }
  out.commit();
}

/// NumPy format 1.0 header for a C-order 2-D array: magic, version, uint16 length, then the dict
/// padded with spaces and a final '\n' so that the data starts at a multiple of 64 bytes.
std::string npy_header(const char* descr, size_t n, size_t d) {
  std::ostringstream dict;
  dict << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (" << n << ", " << d
       << "), }";
  std::string text = dict.str();
  const size_t unpadded = 10 + text.size() + 1;
  text.append((64 - unpadded % 64) % 64, ' ');
  text.push_back('\n');
  const auto len = static_cast<uint16_t>(text.size());  // < 200 bytes for two dimensions
  std::string header(kNpyMagic, 6);
  header.push_back('\x01');
  header.push_back('\x00');
  header.push_back(static_cast<char>(len & 0xff));
  header.push_back(static_cast<char>(len >> 8));
  return header + text;
}

template <class T>
void write_npy_as(const std::string& path, MatrixView<T> x, const char* descr) {
  check_view(path, "the matrix", x);
  AtomicFile out(path);
  const std::string header = npy_header(descr, x.n, x.d);
  out.write(header.data(), header.size());
  out.write(x.data, mul(path, mul(path, x.n, x.d), sizeof(T)));
  out.commit();
}

void write_fbin(const std::string& path, MatrixView<float> x) {
  check_view(path, "the matrix", x);
  constexpr size_t kMax = std::numeric_limits<uint32_t>::max();
  EC_CHECK(
      x.d >= 1 && x.d <= kMax && x.n <= kMax, kBadInput,
      path << ": n=" << x.n << ", d=" << x.d << " do not fit the .fbin header (uint32 n, d >= 1)");
  AtomicFile out(path);
  const uint32_t header[2] = {static_cast<uint32_t>(x.n), static_cast<uint32_t>(x.d)};
  out.write(header, sizeof header);
  out.write(x.data, mul(path, mul(path, x.n, x.d), sizeof(float)));
  out.commit();
}

struct ExtensionEntry {
  const char* ext;
  VecFormat format;
};
constexpr ExtensionEntry kExtensions[] = {
    {".fvecs", VecFormat::kFvecs}, {".ivecs", VecFormat::kIvecs}, {".bvecs", VecFormat::kBvecs},
    {".fbin", VecFormat::kFbin},   {".ibin", VecFormat::kIbin},   {".u8bin", VecFormat::kU8bin},
    {".npy", VecFormat::kNpy},     {".hdf5", VecFormat::kHdf5},   {".h5", VecFormat::kHdf5},
    {".raw", VecFormat::kRaw},     {".f32", VecFormat::kRaw},
};

}  // namespace

// ---- public API ------------------------------------------------------------------------------

VecFormat format_from_extension(const std::string& path) {
  const std::string ext = extension_of(path);
  for (const auto& e : kExtensions) {
    if (ext == e.ext) return e.format;
  }
  std::ostringstream known;
  for (const auto& e : kExtensions) known << " " << e.ext;
  EC_THROW(kBadInput,
           path << ": " << (ext.empty() ? "no file extension" : "unknown extension '" + ext + "'")
                << "; expected one of" << known.str());
}

FloatMatrix read_floats(const std::string& path, const ReadOptions& opt) {
  return read_matrix<float>(path, opt, "train");
}

IdMatrix read_ids(const std::string& path, const ReadOptions& opt) {
  return read_matrix<int64_t>(path, opt, "neighbors");
}

namespace {

AnnHdf5 read_ann_hdf5_in_process(const std::string& path, uint64_t size) {
  H5Id file = h5_open(path);
  AnnHdf5 r;
  r.train = h5_read<float>(file.get(), path, size, "train", true);
  r.test = h5_read<float>(file.get(), path, size, "test", true);
  EC_CHECK(r.test.d == r.train.d, kBadInput,
           path << ": 'test' has d=" << r.test.d << " but 'train' has d=" << r.train.d);
  if (h5_exists(file.get(), "neighbors")) {
    r.neighbors = h5_read<int64_t>(file.get(), path, size, "neighbors", true);
    EC_CHECK(r.neighbors->n == r.test.n, kBadInput,
             path << ": 'neighbors' has " << r.neighbors->n << " rows but 'test' has " << r.test.n);
  }
  if (h5_exists(file.get(), "distances")) {
    r.distances = h5_read<float>(file.get(), path, size, "distances", true);
    EC_CHECK(r.distances->n == r.test.n, kBadInput,
             path << ": 'distances' has " << r.distances->n << " rows but 'test' has " << r.test.n);
    EC_CHECK(!r.neighbors || r.neighbors->d == r.distances->d, kBadInput,
             path << ": 'distances' has d=" << r.distances->d
                  << " but 'neighbors' has d=" << r.neighbors->d);
  }
  r.distance = h5_read_distance(file.get(), path);
  return r;
}

}  // namespace

AnnHdf5 read_ann_hdf5(const std::string& path) {
  EC_CHECK(format_from_extension(path) == VecFormat::kHdf5, kBadInput,
           path << ": an ann-benchmarks file must be .hdf5 or .h5");
  const uint64_t size = confirm_hdf5(path);
  Hdf5Lock lock;
  hdf5_in_child(path, size, [&] { (void)read_ann_hdf5_in_process(path, size); });
  return read_ann_hdf5_in_process(path, size);
}

void write_fvecs(const std::string& path, MatrixView<float> x) { write_texmex<float>(path, x); }

void write_ivecs(const std::string& path, MatrixView<int64_t> ids) {
  check_view(path, "the matrix", ids);
  for (size_t i = 0; i < ids.n; ++i) {
    for (size_t j = 0; j < ids.d; ++j) {
      const int64_t v = ids.row(i)[j];
      EC_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(),
               kBadInput,
               path << ": value " << v << " at row " << i << " column " << j
                    << " does not fit in int32 (.ivecs stores int32; use .npy for int64)");
    }
  }
  write_texmex<int32_t>(path, ids);
}

void write_npy(const std::string& path, MatrixView<float> x) { write_npy_as(path, x, "<f4"); }

void write_npy(const std::string& path, MatrixView<int64_t> ids) { write_npy_as(path, ids, "<i8"); }

void write_ann_hdf5(const std::string& path, MatrixView<float> train, MatrixView<float> test,
                    MatrixView<int64_t> neighbors, MatrixView<float> distances,
                    const std::string& distance) {
  write_hdf5(path, train, &test, neighbors, distances, distance);
}

void write_floats(const std::string& path, MatrixView<float> x) {
  switch (format_from_extension(path)) {
    case VecFormat::kFvecs:
      return write_fvecs(path, x);
    case VecFormat::kNpy:
      return write_npy(path, x);
    case VecFormat::kHdf5:
      return write_hdf5(path, x, nullptr, {}, {}, "");
    case VecFormat::kFbin:
      return write_fbin(path, x);
    default:
      break;
  }
  EC_THROW(kBadInput, path << ": cannot write floats as " << extension_of(path)
                           << " (supported: .fvecs, .npy, .hdf5, .h5, .fbin)");
}

// ---- AtomicFile ------------------------------------------------------------------------------

namespace {

/// Start of the temporaries' names for the final file name `name` (see AtomicFile in io.h). A
/// long name is cut so that the temporary's name stays under NAME_MAX (255 bytes).
std::string tmp_prefix(const std::string& name) {
  return "." + name.substr(0, 200) + ".embcomp.tmp.";
}

/// Six random characters from [0-9A-Za-z] (about 36 bits), from getrandom(2).
std::string random_suffix() {
  static constexpr char kChars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  unsigned char bytes[6];
  random_bytes(bytes, sizeof bytes);
  std::string s;
  for (unsigned char b : bytes) s.push_back(kChars[b % (sizeof kChars - 1)]);
  return s;
}

/// The pid in "<prefix><pid>.<6 characters>", or 0 when entry is not such a name.
pid_t tmp_owner(const std::string& entry, const std::string& prefix) {
  if (entry.compare(0, prefix.size(), prefix) != 0) return 0;
  const std::string_view rest = std::string_view(entry).substr(prefix.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 10 || rest.size() - dot - 1 != 6) return 0;
  uint64_t pid = 0;
  for (char c : rest.substr(0, dot)) {
    if (c < '0' || c > '9') return 0;
    pid = pid * 10 + static_cast<uint64_t>(c - '0');
  }
  for (char c : rest.substr(dot + 1)) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return 0;
  }
  return pid > 0 && pid <= uint64_t(std::numeric_limits<pid_t>::max()) ? pid_t(pid) : 0;
}

/// Removes the temporaries left in the folder dir_fd by AtomicFiles for the same final name
/// whose process is gone (SIGKILL, power loss): regular files owned by this user only. A
/// temporary of a live process, or of a pid reused since, is kept. Best effort: errors are
/// ignored, a stale temporary is only wasted space.
void remove_stale_temporaries(int dir_fd, const std::string& prefix) {
  const int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return;
  }
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(dir)) {
    const std::string entry = e->d_name;
    const pid_t pid = tmp_owner(entry, prefix);
    if (pid == 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    stale.push_back(entry);
  }
  ::closedir(dir);
  for (const std::string& entry : stale) {
    struct stat st {};
    if (::fstatat(dir_fd, entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode) && st.st_uid == ::geteuid()) ::unlinkat(dir_fd, entry.c_str(), 0);
  }
}

const char* node_kind(mode_t mode) {
  if (S_ISLNK(mode)) return "symbolic link";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  return "special file";
}

/// Throws kBadInput when an existing node at the final path must not be replaced.
void require_replaceable(const std::string& path, const struct stat& st) {
  if (S_ISREG(st.st_mode)) return;
  EC_CHECK(!S_ISDIR(st.st_mode), kBadInput, path << ": cannot write: is a directory");
  EC_CHECK(!S_ISLNK(st.st_mode), kBadInput,
           path << ": cannot write: is a symbolic link (outputs are replaced by renaming a new "
                   "file onto them, which would replace the link; give the link's target or "
                   "remove the link)");
  EC_THROW(kBadInput,
           path << ": cannot write: is a " << node_kind(st.st_mode) << ", not a regular file");
}

std::filesystem::path folder_of(const std::string& path) {
  const std::filesystem::path p(path);
  return p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
}

}  // namespace

void require_output_path(const std::string& path) {
  namespace fs = std::filesystem;
  EC_CHECK(!path.empty(), kUsage, "empty output path");
  const fs::path dir = folder_of(path);
  std::error_code ec;
  // Checked here, with the path in the message, because a mistyped output directory is the
  // common failure and HDF5 would report it as an unexplained "unable to create file".
  if (!fs::is_directory(dir, ec)) {
    EC_THROW(kBadInput, path << ": cannot write: directory '" << dir.string() << "' "
                             << (fs::exists(dir, ec) ? "is not a directory" : "does not exist"));
  }
  EC_CHECK(::access(dir.c_str(), W_OK) == 0, kBadInput,
           path << ": cannot write: directory '" << dir.string() << "' is not writable");
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return;
    throw Error(open_error_kind(err), path + ": cannot write: " + sys_error(err), __FILE__,
                __LINE__);
  }
  require_replaceable(path, st);
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  require_output_path(path_);
  const std::filesystem::path dir = folder_of(path_);
  name_ = std::filesystem::path(path_).filename().string();
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) {
    const int err = errno;
    throw Error(open_error_kind(err),
                path_ + ": cannot open directory '" + dir.string() + "': " + sys_error(err),
                __FILE__, __LINE__);
  }
  const std::string prefix = tmp_prefix(name_);
  remove_stale_temporaries(dir_fd.get(), prefix);
  const std::string pid = std::to_string(::getpid());
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp_name_ = prefix + pid + "." + random_suffix();
    // O_EXCL: never open a file or symlink someone planted at the name; O_NOFOLLOW says so
    // again for the reader.
    fd = ::openat(dir_fd.get(), tmp_name_.c_str(),
                  O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt >= 100)) {
      const int err = errno;
      throw Error(
          open_error_kind(err),
          path_ + ": cannot create a temporary in '" + dir.string() + "': " + sys_error(err),
          __FILE__, __LINE__);
    }
  }
  UniqueFd file(fd);
  tmp_ = (dir / tmp_name_).string();
  struct stat mine {
  }, via_proc{};
  if (::fstat(file.get(), &mine) != 0) {
    const int err = errno;
    ::unlinkat(dir_fd.get(), tmp_name_.c_str(), 0);
    EC_THROW(kRuntime, path_ << ": cannot stat the temporary '" << tmp_ << "': " << sys_error(err));
  }
  tmp_dev_ = uint64_t(mine.st_dev);
  tmp_ino_ = uint64_t(mine.st_ino);
  const std::string proc = "/proc/self/fd/" + std::to_string(file.get());
  const bool proc_works = ::stat(proc.c_str(), &via_proc) == 0 && via_proc.st_dev == mine.st_dev &&
                          via_proc.st_ino == mine.st_ino;
  write_path_ = proc_works ? proc : tmp_;
  dir_fd_ = dir_fd.release();
  fd_ = file.release();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) {
    // Remove the temporary only while its name still refers to the file created here.
    struct stat st {};
    if (::fstatat(dir_fd_, tmp_name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        uint64_t(st.st_dev) == tmp_dev_ && uint64_t(st.st_ino) == tmp_ino_) {
      ::unlinkat(dir_fd_, tmp_name_.c_str(), 0);
    }
  }
  ::close(dir_fd_);
}

void AtomicFile::write(const void* data, size_t bytes) {
  EC_CHECK(fd_ >= 0, kRuntime, path_ << ": write after commit");
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t w = ::write(fd_, p, bytes);
    if (w < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      EC_THROW(kRuntime, path_ << ": write failed: " << sys_error(err));
    }
    p += w;
    bytes -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  EC_CHECK(fd_ >= 0, kRuntime, path_ << ": commit after a failed commit");
  struct stat named {};
  if (::fstatat(dir_fd_, tmp_name_.c_str(), &named, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    EC_THROW(kRuntime, path_ << ": cannot commit: the temporary '" << tmp_
                             << "' is gone: " << sys_error(err));
  }
  EC_CHECK(uint64_t(named.st_dev) == tmp_dev_ && uint64_t(named.st_ino) == tmp_ino_, kRuntime,
           path_ << ": cannot commit: the temporary '" << tmp_
                 << "' was replaced by another file while it was written");
  // fsync before rename, so that after a crash the final name holds the whole file or the old
  // one; close can report a delayed write error (NFS).
  if (::fsync(fd_) != 0) {
    const int err = errno;
    EC_THROW(kRuntime, path_ << ": fsync of '" << tmp_ << "' failed: " << sys_error(err));
  }
  if (::close(std::exchange(fd_, -1)) != 0) {
    const int err = errno;
    EC_THROW(kRuntime, path_ << ": write failed on close: " << sys_error(err));
  }
  // The node at the final path may have changed since the constructor looked.
  struct stat st {};
  if (::fstatat(dir_fd_, name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    require_replaceable(path_, st);
  }
  if (::renameat(dir_fd_, tmp_name_.c_str(), dir_fd_, name_.c_str()) != 0) {
    const int err = errno;
    EC_THROW(kRuntime, path_ << ": cannot rename '" << tmp_ << "' onto it: " << sys_error(err));
  }
  committed_ = true;
  // The rename itself is durable once the folder is synced. EINVAL: the file system cannot
  // sync a folder, nothing to do.
  if (::fsync(dir_fd_) != 0 && errno != EINVAL) {
    const int err = errno;
    EC_THROW(kRuntime, path_ << ": fsync of its folder failed: " << sys_error(err));
  }
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

}  // namespace embcomp
