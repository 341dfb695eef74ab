// CTR datasets: streaming Criteo/Avazu parsers, train-only vocabularies, splits, binary cache
// (see ctr_data.h and docs/ctr.md).
//
// Parsing is one streaming pass. Each categorical value gets a provisional id per field in
// order of first appearance (0 = missing), so a row costs num_fields int32 whatever the
// value's text, and nothing but the parsed rows and one hash table per field is kept. Once the
// whole file is read the split is known (Criteo: by row count; Avazu: by the last day), the
// provisional ids are counted on the training rows, and each field's final ids are
//   0 = out of vocabulary (train count < min_count, or never seen in train)
//   1 = missing (empty field), always its own row whatever its count
//   2.. = the kept values, by decreasing training count (ties: first appearance)
// Then the ids are made global (field_offsets[f] + local), counted, and the rows are moved
// into the three splits (train compacted in place, validation and test copied out).
#include "eval/ctr_data.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <numeric>
#include <string_view>

#include "eval/ctr_cache_checksum.h"
#include "eval/ctr_synthetic.h"
#include "toolkit/error.h"
#include "toolkit/io.h"

namespace embcomp::ctr {

static_assert(std::endian::native == std::endian::little, "the CTR cache is little endian");

namespace {

enum class Kind : uint32_t { kCriteo = 1, kAvazu = 2, kSynthetic = 3 };

struct Source {
  Kind kind;
  std::string prefix;  ///< "criteo", "avazu", "synthetic"
  std::string path;
};

Source parse_source(const std::string& s) {
  const size_t colon = s.find(':');
  const std::string prefix = colon == std::string::npos ? "" : s.substr(0, colon);
  const std::string path = colon == std::string::npos ? "" : s.substr(colon + 1);
  Kind kind;
  if (prefix == "criteo") {
    kind = Kind::kCriteo;
  } else if (prefix == "avazu") {
    kind = Kind::kAvazu;
  } else if (prefix == "synthetic") {
    kind = Kind::kSynthetic;
  } else {
    EC_THROW(kBadInput, "unknown CTR data source '"
                            << s << "' (use criteo:PATH, avazu:PATH or synthetic:PATH)");
  }
  EC_CHECK(!path.empty(), kBadInput, "CTR data source '" << s << "' names no file");
  struct stat st;
  EC_CHECK(::stat(path.c_str(), &st) == 0, kBadInput, path << ": no such file");
  EC_CHECK(S_ISREG(st.st_mode), kBadInput, path << ": not a regular file");
  return {kind, prefix, path};
}

void warn(const std::string& msg) { std::cerr << "embcomp: warning: " << msg << "\n"; }

inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// ---- streaming line reader ----------------------------------------------------------------------

/// Reads a text file in large blocks and hands out its lines (without "\n" or "\r\n").
class LineReader {
 public:
  explicit LineReader(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EC_CHECK(fd_ >= 0, kBadInput, path << ": cannot open: " << std::strerror(errno));
    // A file smaller than one block gets a buffer of its size (+1 to see the end in one
    // read): zeroing 8 MB per open made small files (and the fuzzers) pay for page faults.
    struct stat st;
    size_t block = kBlock;
    if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && uint64_t(st.st_size) < kBlock)
      block = std::max<size_t>(size_t(st.st_size) + 1, 4096);
    buf_.resize(block);
  }
  ~LineReader() { ::close(fd_); }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// The next line; false at the end of the file.
  bool next(std::string_view& line) {
    for (;;) {
      const char* b = buf_.data() + begin_;
      const void* nl = std::memchr(b, '\n', end_ - begin_);
      if (nl) {
        const size_t len = size_t(static_cast<const char*>(nl) - b);
        begin_ += len + 1;
        return emit(line, b, len);
      }
      if (eof_) {
        if (begin_ == end_) return false;
        const size_t len = end_ - begin_;
        begin_ = end_;
        return emit(line, b, len);
      }
      fill();
    }
  }
  int64_t line_no() const { return line_no_; }
  uint64_t bytes_read() const { return bytes_; }

 private:
  static constexpr size_t kBlock = size_t{8} << 20;
  static constexpr size_t kMaxLine = size_t{64} << 20;

  bool emit(std::string_view& line, const char* b, size_t len) {
    if (len > 0 && b[len - 1] == '\r') --len;
    line = std::string_view(b, len);
    ++line_no_;
    return true;
  }
  void fill() {
    // Move the partial line to the front; grow only for a line longer than the buffer.
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (end_ == buf_.size()) {
      EC_CHECK(buf_.size() < kMaxLine, kBadInput,
               path_ << ": line " << line_no_ + 1 << ": longer than " << kMaxLine
                     << " bytes: not a CTR text file");
      buf_.resize(buf_.size() * 2);
    }
    const ssize_t got = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    EC_CHECK(got >= 0, kBadInput, path_ << ": read failed: " << std::strerror(errno));
    if (got == 0) eof_ = true;
    end_ += size_t(got);
    bytes_ += uint64_t(got);
  }

  std::string path_;
  int fd_ = -1;
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  int64_t line_no_ = 0;
  uint64_t bytes_ = 0;
};

/// Splits line at sep into out (at most max views); returns the total number of columns.
int split_columns(std::string_view line, char sep, std::string_view* out, int max) {
  int n = 0;
  size_t start = 0;
  for (;;) {
    const size_t pos = line.find(sep, start);
    const size_t end = pos == std::string_view::npos ? line.size() : pos;
    if (n < max) out[n] = line.substr(start, end - start);
    ++n;
    if (pos == std::string_view::npos) return n;
    start = pos + 1;
  }
}

// ---- provisional vocabulary ---------------------------------------------------------------------

/// Open-addressing map of a field's value keys to provisional ids 1, 2, ... in order of first
/// appearance. Keys are 64-bit (an 8-hex Criteo value exactly; a hash of an Avazu string).
class ValueDict {
 public:
  ValueDict() : keys_(16, kEmpty), ids_(16, 0) {}
  int32_t id(uint64_t key) {
    if (key == kEmpty) key = kEmpty - 1;  // the one key that would collide with the marker
    size_t slot = mix(key) & (keys_.size() - 1);
    while (keys_[slot] != kEmpty) {
      if (keys_[slot] == key) return ids_[slot];
      slot = (slot + 1) & (keys_.size() - 1);
    }
    EC_CHECK(size_ < size_t(std::numeric_limits<int32_t>::max() - 2), kBadInput,
             "a field has more than 2^31 distinct values");
    keys_[slot] = key;
    ids_[slot] = int32_t(++size_);
    if (2 * size_ > keys_.size()) grow();
    return int32_t(size_);
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  void grow() {
    std::vector<uint64_t> keys(keys_.size() * 2, kEmpty);
    std::vector<int32_t> ids(keys.size(), 0);
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] == kEmpty) continue;
      size_t slot = mix(keys_[i]) & (keys.size() - 1);
      while (keys[slot] != kEmpty) slot = (slot + 1) & (keys.size() - 1);
      keys[slot] = keys_[i];
      ids[slot] = ids_[i];
    }
    keys_.swap(keys);
    ids_.swap(ids);
  }
  std::vector<uint64_t> keys_;
  std::vector<int32_t> ids_;
  size_t size_ = 0;
};

/// 64-bit hash of a string value (FNV-1a, then mixed).
uint64_t string_key(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return mix(h);
}

// ---- field parsers ------------------------------------------------------------------------------

float dense_value(int64_t x) { return x < 0 ? 0.0f : float(std::log1p(double(x))); }

bool parse_int(std::string_view s, int64_t* v) {
  const char* b = s.data();
  if (!s.empty() && s[0] == '+') ++b;
  auto [p, ec] = std::from_chars(b, s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size() && b != s.data() + s.size();
}

bool parse_hex8(std::string_view s, uint64_t* v) {
  if (s.size() != 8) return false;
  uint64_t x = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    x = x * 16 + uint64_t(d);
  }
  *v = x;
  return true;
}

std::string shown(std::string_view s) {
  return s.size() > 40 ? std::string(s.substr(0, 40)) + "..." : std::string(s);
}

// ---- the parsed file before splitting ---------------------------------------------------------

constexpr int kMaxFields = 256;

struct Raw {
  int nd = 0, nf = 0;
  std::vector<std::string> names;
  std::vector<float> dense;   ///< n x nd, log(1+x) already
  std::vector<int32_t> cat;   ///< n x nf provisional ids (0 = missing)
  std::vector<float> label;   ///< n
  std::vector<uint32_t> day;  ///< n YYMMDD (Avazu only)
  std::vector<ValueDict> dicts;
  int64_t n = 0;
  int64_t skipped = 0;
  std::string first_skip;  ///< the first skipped row's message
};

/// Progress on stderr for long parses: only to a terminal and only for big files.
class Progress {
 public:
  Progress(const std::string& path, uint64_t size)
      : path_(path), size_(size), on_(size >= (uint64_t{256} << 20) && ::isatty(STDERR_FILENO)) {}
  void update(int64_t rows, uint64_t bytes) {
    if (!on_ || (rows & 0xffff) != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    const double sec = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r[ctr] %s: %.1fM rows, %.0f%%, %.0fk rows/s   ", path_.c_str(),
                 double(rows) / 1e6, 100.0 * double(bytes) / double(size_),
                 double(rows) / sec / 1e3);
    shown_ = true;
  }
  ~Progress() {
    if (shown_) std::fprintf(stderr, "\n");
  }

 private:
  std::string path_;
  uint64_t size_;
  bool on_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
};

/// Handles a malformed row: throws, or counts it under skip_bad_rows.
class BadRows {
 public:
  BadRows(const std::string& path, bool skip, Raw& raw) : path_(path), skip_(skip), raw_(raw) {}
  void report(int64_t line, const std::string& what) {
    std::string msg = path_ + ": line " + std::to_string(line) + ": " + what;
    EC_CHECK(skip_, kBadInput, msg << " (--skip-bad-rows skips such rows)");
    if (raw_.skipped++ == 0) raw_.first_skip = msg;
  }

 private:
  std::string path_;
  bool skip_;
  Raw& raw_;
};

/// Reserves the row arrays from the bytes per row seen so far (one growth instead of a
/// doubling ladder, which would briefly need twice the memory of the largest array).
void reserve_rows(Raw& raw, uint64_t file_size, uint64_t bytes_so_far, int64_t rows_so_far,
                  int64_t max_rows) {
  int64_t est =
      int64_t(double(file_size) / (double(bytes_so_far) / double(rows_so_far)) * 1.02) + 16;
  if (max_rows > 0) est = std::min(est, max_rows);
  raw.dense.reserve(size_t(est) * size_t(raw.nd));
  raw.cat.reserve(size_t(est) * size_t(raw.nf));
  raw.label.reserve(size_t(est));
  if (!raw.day.empty()) raw.day.reserve(size_t(est));
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

const int kCriteoDense = 13, kCriteoFields = 26;

/// Criteo Kaggle: TSV "label, I1..I13, C1..C26" or CSV with header "Id,Label,I1..,C26".
Raw parse_criteo(const std::string& path, const CtrLoadOptions& opt) {
  Raw raw;
  raw.nd = kCriteoDense;
  raw.nf = kCriteoFields;
  for (int f = 1; f <= kCriteoFields; ++f) raw.names.push_back("C" + std::to_string(f));
  raw.dicts.resize(kCriteoFields);
  LineReader in(path);
  const uint64_t size = file_size(path);
  Progress progress(path, size);
  BadRows bad(path, opt.skip_bad_rows, raw);

  std::string_view line;
  if (!in.next(line)) EC_THROW(kBadInput, path << ": empty file");
  std::string header = "Id,Label";
  for (int j = 1; j <= kCriteoDense; ++j) header += ",I" + std::to_string(j);
  for (int f = 1; f <= kCriteoFields; ++f) header += ",C" + std::to_string(f);
  const bool csv = line.substr(0, 9) == "Id,Label,";
  if (csv) {
    EC_CHECK(line == header, kBadInput,
             path << ": line 1: a Criteo CSV header must be exactly " << header);
  } else {
    const std::string ext = std::filesystem::path(path).extension().string();
    EC_CHECK(
        ext != ".csv", kBadInput,
        path << ": line 1: a Criteo .csv file must start with the header Id,Label,I1..I13,C1..C26");
  }
  const char sep = csv ? ',' : '\t';
  const int first = csv ? 1 : 0;  // column of the label
  const int ncol = first + 1 + kCriteoDense + kCriteoFields;
  std::string_view col[kMaxFields];
  float dense[kCriteoDense];
  uint64_t key[kCriteoFields];
  bool missing[kCriteoFields];
  bool have_line = !csv;  // the TSV's first line is a row
  while (have_line || in.next(line)) {
    have_line = false;
    const int64_t ln = in.line_no();
    const int nc = split_columns(line, sep, col, kMaxFields);
    if (nc != ncol) {
      bad.report(ln, "expected " + std::to_string(ncol) + (csv ? " comma" : " tab") +
                         "-separated columns (" + (csv ? "Id, " : "") +
                         "label, I1..I13, C1..C26), found " + std::to_string(nc));
      continue;
    }
    const std::string_view lab = col[first];
    if (lab != "0" && lab != "1") {
      bad.report(ln, "label '" + shown(lab) + "' is not 0 or 1");
      continue;
    }
    bool ok = true;
    for (int j = 0; j < kCriteoDense && ok; ++j) {
      const std::string_view s = col[first + 1 + j];
      int64_t x = 0;
      if (!s.empty() && !parse_int(s, &x)) {
        bad.report(ln, "I" + std::to_string(j + 1) + " '" + shown(s) + "' is not an integer");
        ok = false;
      }
      dense[j] = dense_value(x);  // missing -> 0 -> log(1) = 0
    }
    for (int f = 0; f < kCriteoFields && ok; ++f) {
      const std::string_view s = col[first + 1 + kCriteoDense + f];
      missing[f] = s.empty();
      if (!missing[f] && !parse_hex8(s, &key[f])) {
        bad.report(ln,
                   "C" + std::to_string(f + 1) + " '" + shown(s) + "' is not an 8-digit hex value");
        ok = false;
      }
    }
    if (!ok) continue;
    raw.label.push_back(lab == "1" ? 1.0f : 0.0f);
    raw.dense.insert(raw.dense.end(), dense, dense + kCriteoDense);
    for (int f = 0; f < kCriteoFields; ++f)
      raw.cat.push_back(missing[f] ? 0 : raw.dicts[f].id(key[f]));
    ++raw.n;
    if (raw.n == 10000) reserve_rows(raw, size, in.bytes_read(), raw.n, opt.max_rows);
    progress.update(raw.n, in.bytes_read());
    if (opt.max_rows > 0 && raw.n >= opt.max_rows) break;
  }
  return raw;
}

/// Avazu: CSV with header "id,click,hour,..."; every column after click is categorical.
Raw parse_avazu(const std::string& path, const CtrLoadOptions& opt) {
  Raw raw;
  LineReader in(path);
  const uint64_t size = file_size(path);
  Progress progress(path, size);
  BadRows bad(path, opt.skip_bad_rows, raw);
  std::string_view line;
  if (!in.next(line)) EC_THROW(kBadInput, path << ": empty file");
  std::string_view col[kMaxFields];
  const int ncol = split_columns(line, ',', col, kMaxFields);
  EC_CHECK(ncol <= kMaxFields, kBadInput,
           path << ": line 1: the header has " << ncol << " columns, more than " << kMaxFields);
  EC_CHECK(ncol >= 4 && col[0] == "id" && col[1] == "click" && col[2] == "hour", kBadInput,
      path << ": line 1: an Avazu file must start with the header id,click,hour,... (found '"
           << shown(line) << "')");
  raw.nd = 0;
  raw.nf = ncol - 2;
  for (int c = 2; c < ncol; ++c) raw.names.emplace_back(col[c]);
  raw.dicts.resize(size_t(raw.nf));
  std::vector<uint64_t> key(size_t(raw.nf));
  std::vector<char> missing(size_t(raw.nf));
  while (in.next(line)) {
    const int64_t ln = in.line_no();
    const int nc = split_columns(line, ',', col, kMaxFields);
    if (nc != ncol) {
      bad.report(ln, "expected " + std::to_string(ncol) +
                         " comma-separated columns (as the header), found " + std::to_string(nc));
      continue;
    }
    if (col[1] != "0" && col[1] != "1") {
      bad.report(ln, "click '" + shown(col[1]) + "' is not 0 or 1");
      continue;
    }
    const std::string_view hour = col[2];
    int64_t yymmddhh = 0;
    // Digits only: parse_int alone would take "-1234567" (a negative day).
    if (hour.size() != 8 ||
        !std::all_of(hour.begin(), hour.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        !parse_int(hour, &yymmddhh) || yymmddhh % 100 > 23) {
      bad.report(ln, "hour '" + shown(hour) + "' is not YYMMDDHH");
      continue;
    }
    // The hour field is used as hour of day: the full timestamp never repeats across the
    // train/test boundary, so as a category it would be all out-of-vocabulary.
    key[0] = uint64_t(yymmddhh % 100);
    missing[0] = 0;
    for (int f = 1; f < raw.nf; ++f) {
      missing[f] = col[f + 2].empty();
      key[f] = missing[f] ? 0 : string_key(col[f + 2]);
    }
    raw.label.push_back(col[1] == "1" ? 1.0f : 0.0f);
    raw.day.push_back(uint32_t(yymmddhh / 100));
    for (int f = 0; f < raw.nf; ++f) raw.cat.push_back(missing[f] ? 0 : raw.dicts[f].id(key[f]));
    ++raw.n;
    if (raw.n == 10000) reserve_rows(raw, size, in.bytes_read(), raw.n, opt.max_rows);
    progress.update(raw.n, in.bytes_read());
    if (opt.max_rows > 0 && raw.n >= opt.max_rows) break;
  }
  return raw;
}

/// Which split each row goes to: 0 train, 1 validation, 2 test; fills the note.
std::vector<uint8_t> assign_splits(const Raw& raw, Kind kind, std::string* note) {
  const int64_t n = raw.n;
  std::vector<uint8_t> which(size_t(n), 0);
  auto consecutive = [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) which[i] = 1;
    for (int64_t i = b; i < n; ++i) which[i] = 2;
  };
  auto counts = [&](int64_t tr, int64_t va, int64_t te) {
    return " (" + std::to_string(tr) + " / " + std::to_string(va) + " / " + std::to_string(te) +
           " rows)";
  };
  if (kind == Kind::kCriteo) {
    const int64_t a = 6 * n / 7, b = a + (n - a) / 2;
    consecutive(a, b);
    *note =
        "criteo: 7 equal consecutive parts, the first 6 train, the 7th halved into validation "
        "and test" +
        counts(a, b - a, n - b);
    return which;
  }
  // Avazu: the last day is validation + test, halved in file order.
  uint32_t first_day = raw.day.empty() ? 0 : raw.day[0], last_day = first_day;
  for (uint32_t d : raw.day) {
    first_day = std::min(first_day, d);
    last_day = std::max(last_day, d);
  }
  if (first_day == last_day) {
    const int64_t a = 8 * n / 10, b = 9 * n / 10;
    consecutive(a, b);
    *note = "avazu: the file spans one day (" + std::to_string(last_day) +
            "), so consecutive 8:1:1 parts instead of the last day" + counts(a, b - a, n - b);
    return which;  // finish() warns once the load has succeeded (no warning before an error)
  }
  int64_t m = 0;
  for (uint32_t d : raw.day) m += d == last_day;
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (raw.day[i] != last_day) continue;
    which[i] = k++ < m / 2 ? 1 : 2;
  }
  *note = "avazu: days before " + std::to_string(last_day) + " train, the last day " +
          std::to_string(last_day) + " halved in file order into validation and test" +
          counts(n - m, m / 2, m - m / 2);
  return which;
}

/// Vocabularies on the training rows, global ids, counts and the three splits.
CtrDataset finish(Raw raw, Kind kind, const std::string& path, const CtrLoadOptions& opt) {
  CtrDataset ds;
  ds.num_dense = raw.nd;
  ds.num_fields = raw.nf;
  ds.field_names = raw.names;
  ds.skipped_rows = raw.skipped;
  const int64_t n = raw.n;
  const int nf = raw.nf, nd = raw.nd;
  std::vector<uint8_t> which = assign_splits(raw, kind, &ds.split_note);
  int64_t per_split[3] = {0, 0, 0};
  for (uint8_t w : which) ++per_split[w];
  EC_CHECK(per_split[0] > 0 && per_split[1] > 0 && per_split[2] > 0, kBadInput,
           path << ": " << n << " rows are too few to split (" << ds.split_note << ")");

  // Training counts of the provisional ids, then each field's map to final local ids.
  ds.field_offsets.assign(size_t(nf) + 1, 0);
  std::vector<std::vector<int32_t>> local(static_cast<size_t>(nf));
  for (int f = 0; f < nf; ++f) {
    std::vector<uint32_t> cnt(raw.dicts[f].size() + 1, 0);
    for (int64_t i = 0; i < n; ++i)
      if (which[i] == 0) ++cnt[size_t(raw.cat[size_t(i) * nf + f])];
    std::vector<int32_t> kept;
    for (size_t v = 1; v < cnt.size(); ++v)
      if (cnt[v] >= uint32_t(opt.min_count)) kept.push_back(int32_t(v));
    std::stable_sort(kept.begin(), kept.end(),
                     [&](int32_t a, int32_t b) { return cnt[size_t(a)] > cnt[size_t(b)]; });
    local[f].assign(cnt.size(), 0);  // everything else: out of vocabulary
    local[f][0] = 1;                 // missing
    for (size_t r = 0; r < kept.size(); ++r) local[f][size_t(kept[r])] = int32_t(2 + r);
    ds.field_offsets[f + 1] = ds.field_offsets[f] + 2 + int64_t(kept.size());
    raw.dicts[f] = ValueDict();  // frees the table
  }
  EC_CHECK(ds.rows() < std::numeric_limits<int32_t>::max(), kBadInput,
           path << ": the vocabularies have " << ds.rows()
                << " rows in all, more than int32 ids hold: raise min_count");
  ds.counts.assign(size_t(ds.rows()), 0);
  for (int64_t i = 0; i < n; ++i) {
    int32_t* c = raw.cat.data() + size_t(i) * nf;
    for (int f = 0; f < nf; ++f) {
      c[f] = int32_t(ds.field_offsets[f] + local[f][size_t(c[f])]);
      if (which[i] == 0) ++ds.counts[size_t(c[f])];
    }
  }
  local.clear();

  // Validation and test rows are copied out; training rows are compacted in place.
  CtrSplit* out[3] = {nullptr, &ds.val, &ds.test};
  for (int s = 1; s < 3; ++s) {
    out[s]->n = per_split[s];
    out[s]->dense.reserve(size_t(per_split[s]) * nd);
    out[s]->cat.reserve(size_t(per_split[s]) * nf);
    out[s]->label.reserve(size_t(per_split[s]));
  }
  int64_t t = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* d = raw.dense.data() + size_t(i) * nd;
    const int32_t* c = raw.cat.data() + size_t(i) * nf;
    if (which[i] == 0) {
      if (t != i) {
        // A dataset without dense (or categorical) columns has null data(): memmove's
        // arguments must not be null even for 0 bytes (UBSan, fuzz_ctr_text).
        if (nd > 0) std::memmove(raw.dense.data() + size_t(t) * nd, d, sizeof(float) * size_t(nd));
        if (nf > 0) std::memmove(raw.cat.data() + size_t(t) * nf, c, sizeof(int32_t) * size_t(nf));
        raw.label[size_t(t)] = raw.label[size_t(i)];
      }
      ++t;
    } else {
      CtrSplit& s = *out[which[i]];
      s.dense.insert(s.dense.end(), d, d + nd);
      s.cat.insert(s.cat.end(), c, c + nf);
      s.label.push_back(raw.label[size_t(i)]);
    }
  }
  raw.dense.resize(size_t(t) * nd);
  raw.cat.resize(size_t(t) * nf);
  raw.label.resize(size_t(t));
  ds.train.n = t;
  ds.train.dense = std::move(raw.dense);
  ds.train.cat = std::move(raw.cat);
  ds.train.label = std::move(raw.label);
  if (kind == Kind::kAvazu && ds.split_note.find("spans one day") != std::string::npos)
    warn(ds.split_note);
  if (raw.skipped > 0)
    warn(path + ": skipped " + std::to_string(raw.skipped) +
         " malformed rows (first: " + raw.first_skip + ")");
  return ds;
}

/// synthetic:PATH: consecutive 8:1:1, vocabularies = the generator's cardinalities.
CtrDataset load_synthetic(const std::string& path, const CtrLoadOptions& opt) {
  CtrSynthReader in(path);
  const CtrSynthHeader& h = in.header();
  CtrDataset ds;
  ds.num_dense = h.num_dense;
  ds.num_fields = h.num_fields;
  for (int f = 1; f <= h.num_fields; ++f) ds.field_names.push_back("C" + std::to_string(f));
  ds.field_offsets.assign(size_t(h.num_fields) + 1, 0);
  for (int f = 0; f < h.num_fields; ++f)
    ds.field_offsets[f + 1] = ds.field_offsets[f] + h.cardinality[f];
  EC_CHECK(ds.rows() < std::numeric_limits<int32_t>::max(), kBadInput,
           path << ": " << ds.rows() << " ids in all do not fit int32");
  const int64_t n = opt.max_rows > 0 ? std::min(opt.max_rows, h.params.rows) : h.params.rows;
  const int64_t a = 8 * n / 10, b = 9 * n / 10;
  EC_CHECK(a > 0 && b > a && n > b, kBadInput,
           path << ": " << n << " rows are too few to split 8:1:1");
  ds.split_note = "synthetic: consecutive 8:1:1 parts (" + std::to_string(a) + " / " +
                  std::to_string(b - a) + " / " + std::to_string(n - b) + " rows)";
  ds.counts.assign(size_t(ds.rows()), 0);
  CtrSplit* parts[3] = {&ds.train, &ds.val, &ds.test};
  const int64_t sizes[3] = {a, b - a, n - b};
  const int nd = h.num_dense, nf = h.num_fields;
  for (int s = 0; s < 3; ++s) {
    CtrSplit& sp = *parts[s];
    sp.n = sizes[s];
    sp.dense.resize(size_t(sp.n) * nd);
    sp.cat.resize(size_t(sp.n) * nf);
    sp.label.resize(size_t(sp.n));
    sp.oracle_p.resize(size_t(sp.n));
    in.read(sp.n, sp.dense.data(), sp.cat.data(), sp.label.data(), sp.oracle_p.data());
    for (float& x : sp.dense) x = x < 0 ? 0.0f : float(std::log1p(double(x)));
    for (int64_t i = 0; i < sp.n; ++i) {
      int32_t* c = sp.cat.data() + size_t(i) * nf;
      for (int f = 0; f < nf; ++f) {
        c[f] = int32_t(ds.field_offsets[f] + c[f]);
        if (s == 0) ++ds.counts[size_t(c[f])];
      }
    }
  }
  return ds;
}

// ---- binary cache -------------------------------------------------------------------------------

constexpr char kCacheMagic[8] = {'E', 'C', 'C', 'T', 'R', 'C', 'A', 'C'};
/// Bump whenever the preprocessing or the layout changes: old caches are then rebuilt.
constexpr uint32_t kCacheVersion = 1;

/// What a cache must match: the input file and every option that changes the result.
struct CacheKey {  // 40 bytes, no padding
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint32_t kind = 0;
  int32_t min_count = 0;
  uint32_t skip_bad_rows = 0;
  uint32_t reserved = 0;  ///< keeps the struct free of padding: it is written as bytes
  int64_t max_rows = 0;
  bool operator==(const CacheKey&) const = default;
};

static_assert(sizeof(CacheKey) == 40, "CacheKey is written as raw bytes: no padding");

CacheKey cache_key(const Source& src, const CtrLoadOptions& opt) {
  struct stat st;
  EC_CHECK(::stat(src.path.c_str(), &st) == 0, kBadInput, src.path << ": no such file");
  CacheKey k;
  k.size = uint64_t(st.st_size);
  k.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + int64_t(st.st_mtim.tv_nsec);
  k.kind = uint32_t(src.kind);
  k.min_count = opt.min_count;
  k.skip_bad_rows = opt.skip_bad_rows ? 1 : 0;
  k.max_rows = opt.max_rows;
  return k;
}

using Checksum = embcomp::ctr::CacheChecksum;  // eval/ctr_cache_checksum.h

class CacheWriter {
 public:
  explicit CacheWriter(std::FILE* f) : f_(f) {}
  void bytes(const void* p, size_t n) {
    sum_.update(p, n);
    if (n && std::fwrite(p, 1, n, f_) != n) ok_ = false;
  }
  template <class T>
  void pod(const T& v) {
    bytes(&v, sizeof v);
  }
  void str(const std::string& s) {
    pod(uint64_t(s.size()));
    bytes(s.data(), s.size());
  }
  template <class T>
  void vec(const std::vector<T>& v) {
    pod(uint64_t(v.size()));
    bytes(v.data(), v.size() * sizeof(T));
  }
  bool finish() {
    const uint64_t s = sum_.h;
    return std::fwrite(&s, 8, 1, f_) == 1 && ok_;
  }

 private:
  std::FILE* f_;
  Checksum sum_;
  bool ok_ = true;
};

/// Reader that refuses (returns false) instead of allocating what the file cannot hold.
class CacheReader {
 public:
  CacheReader(std::FILE* f, uint64_t size) : f_(f), left_(size) {}
  bool bytes(void* p, size_t n) {
    if (n > left_ || (n && std::fread(p, 1, n, f_) != n)) return false;
    left_ -= n;
    sum_.update(p, n);
    return true;
  }
  template <class T>
  bool pod(T& v) {
    return bytes(&v, sizeof v);
  }
  bool str(std::string& s) {
    uint64_t n;
    if (!pod(n) || n > left_) return false;
    s.resize(n);
    return bytes(s.data(), n);
  }
  template <class T>
  bool vec(std::vector<T>& v) {
    uint64_t n;
    if (!pod(n) || n > left_ / sizeof(T)) return false;
    v.resize(n);
    return bytes(v.data(), n * sizeof(T));
  }
  /// The checksum matches and nothing follows it.
  bool finish() {
    const uint64_t want = sum_.h;
    uint64_t got;
    return left_ == 8 && std::fread(&got, 8, 1, f_) == 1 && got == want;
  }

 private:
  std::FILE* f_;
  uint64_t left_;
  Checksum sum_;
};

struct FileCloser {
  std::FILE* f;
  ~FileCloser() {
    if (f) std::fclose(f);
  }
};

void write_cache(const std::string& cache, const CacheKey& key, const CtrDataset& ds) {
  AtomicFile out(cache);
  std::FILE* f = std::fopen(out.write_path().c_str(), "wb");
  EC_CHECK(f, kRuntime, "cannot create '" << out.tmp_path() << "'");
  FileCloser closer{f};
  CacheWriter w(f);
  w.bytes(kCacheMagic, 8);
  w.pod(kCacheVersion);
  w.pod(key);
  w.pod(int32_t(ds.num_dense));
  w.pod(int32_t(ds.num_fields));
  w.pod(uint64_t(ds.field_names.size()));
  for (const auto& s : ds.field_names) w.str(s);
  w.vec(ds.field_offsets);
  w.vec(ds.counts);
  w.str(ds.split_note);
  w.pod(ds.skipped_rows);
  for (const CtrSplit* s : {&ds.train, &ds.val, &ds.test}) {
    w.pod(s->n);
    w.vec(s->dense);
    w.vec(s->cat);
    w.vec(s->label);
    w.vec(s->oracle_p);
  }
  bool ok = w.finish();
  ok = std::fclose(f) == 0 && ok;
  closer.f = nullptr;
  EC_CHECK(ok, kRuntime, "write failed (disk full?)");
  out.commit();
}

/// Everything a loaded dataset must satisfy before it is trusted.
bool consistent(const CtrDataset& ds) {
  const int nf = ds.num_fields, nd = ds.num_dense;
  if (nf < 1 || nf > kMaxFields || nd < 0 || nd > kMaxFields) return false;
  if (ds.field_names.size() != size_t(nf) || ds.field_offsets.size() != size_t(nf) + 1 ||
      ds.field_offsets[0] != 0)
    return false;
  for (int f = 0; f < nf; ++f)
    if (ds.field_offsets[f + 1] <= ds.field_offsets[f]) return false;
  if (ds.counts.size() != size_t(ds.rows()) || ds.skipped_rows < 0) return false;
  for (const CtrSplit* s : {&ds.train, &ds.val, &ds.test}) {
    if (s->n < 0 || s->dense.size() != size_t(s->n) * nd || s->cat.size() != size_t(s->n) * nf ||
        s->label.size() != size_t(s->n) ||
        (!s->oracle_p.empty() && s->oracle_p.size() != size_t(s->n)))
      return false;
    for (int64_t i = 0; i < s->n; ++i) {
      if (s->label[i] != 0.0f && s->label[i] != 1.0f) return false;
      const int32_t* c = s->cat.data() + size_t(i) * nf;
      for (int f = 0; f < nf; ++f)
        if (c[f] < ds.field_offsets[f] || c[f] >= ds.field_offsets[f + 1]) return false;
    }
  }
  return true;
}

/// The cached dataset, or false (with the reason) when there is none usable.
bool read_cache(const std::string& cache, const CacheKey& key, CtrDataset* ds, std::string* why) {
  struct stat st;
  if (::stat(cache.c_str(), &st) != 0) return false;  // no cache yet: nothing to say
  std::FILE* f = std::fopen(cache.c_str(), "rb");
  if (!f) {
    *why = "cannot open it";
    return false;
  }
  FileCloser closer{f};
  CacheReader r(f, uint64_t(st.st_size));
  char magic[8];
  uint32_t version = 0;
  CacheKey got;
  if (!r.bytes(magic, 8) || std::memcmp(magic, kCacheMagic, 8) != 0) {
    *why = "not an embcomp CTR cache (bad magic)";
    return false;
  }
  if (!r.pod(version) || version != kCacheVersion) {
    *why = "cache format version " + std::to_string(version) + ", this build writes " +
           std::to_string(kCacheVersion);
    return false;
  }
  if (!r.pod(got) || !(got == key)) {
    *why = "made from another version of the input or other options";
    return false;
  }
  int32_t nd = 0, nf = 0;
  uint64_t nnames = 0;
  bool ok = r.pod(nd) && r.pod(nf) && r.pod(nnames) && nnames <= uint64_t(kMaxFields);
  ds->num_dense = nd;
  ds->num_fields = nf;
  ds->field_names.resize(ok ? size_t(nnames) : 0);
  for (auto& s : ds->field_names) ok = ok && r.str(s);
  ok = ok && r.vec(ds->field_offsets) && r.vec(ds->counts) && r.str(ds->split_note) &&
       r.pod(ds->skipped_rows);
  for (CtrSplit* s : {&ds->train, &ds->val, &ds->test})
    ok = ok && r.pod(s->n) && r.vec(s->dense) && r.vec(s->cat) && r.vec(s->label) &&
         r.vec(s->oracle_p);
  if (!ok || !r.finish()) {
    *why = "truncated or corrupt (size or checksum mismatch)";
    return false;
  }
  if (!consistent(*ds)) {
    *why = "corrupt (inconsistent sizes or ids)";
    return false;
  }
  return true;
}

}  // namespace

std::string ctr_cache_path(const std::string& source, const CtrLoadOptions& opt) {
  const Source src = parse_source(source);
  if (src.kind == Kind::kSynthetic || !opt.use_cache) return "";
  namespace fs = std::filesystem;
  const fs::path in(src.path);
  std::string name =
      in.filename().string() + "." + src.prefix + "-m" + std::to_string(opt.min_count);
  if (opt.max_rows > 0) name += "-r" + std::to_string(opt.max_rows);
  if (opt.skip_bad_rows) name += "-skip";
  name += ".ctrcache";
  const fs::path dir = opt.cache_dir.empty() ? in.parent_path() : fs::path(opt.cache_dir);
  return (dir / name).string();
}

CtrDataset load_ctr_dataset(const std::string& source, const CtrLoadOptions& opt) {
  const Source src = parse_source(source);
  EC_CHECK(opt.min_count >= 1, kUsage, "min_count " << opt.min_count << " must be >= 1");
  EC_CHECK(opt.max_rows >= 0, kUsage, "max_rows " << opt.max_rows << " must be >= 0");
  if (src.kind == Kind::kSynthetic) {
    // Already a binary file that reads at disk speed: no cache.
    CtrDataset ds = load_synthetic(src.path, opt);
    ds.source = source;
    return ds;
  }
  const std::string cache = ctr_cache_path(source, opt);
  CacheKey key;
  if (!cache.empty()) {
    key = cache_key(src, opt);
    CtrDataset ds;
    std::string why;
    if (read_cache(cache, key, &ds, &why)) {
      ds.source = source;
      return ds;
    }
    if (!why.empty()) warn(cache + ": cache ignored (" + why + "); rebuilding it");
  }
  Raw raw = src.kind == Kind::kCriteo ? parse_criteo(src.path, opt) : parse_avazu(src.path, opt);
  CtrDataset ds = finish(std::move(raw), src.kind, src.path, opt);
  ds.source = source;
  if (!cache.empty()) {
    try {
      write_cache(cache, key, ds);
    } catch (const Error& e) {
      // A read-only data folder must not stop a run: it only costs the next run a parse.
      warn(cache + ": cannot write the cache: " + e.message());
    }
  }
  return ds;
}

}  // namespace embcomp::ctr
