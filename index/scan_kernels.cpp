// Exhaustive-scan kernels: scalar references, AVX2 and AVX-512 versions, runtime dispatch
// and the blocked multi-query top-k driver. Semantics and error bound: scan_kernels.h and
// docs/scan_kernels.md.
//
// The SIMD code is compiled with function target attributes, not global -m flags, so the
// default build runs on any x86-64 and picks the kernels at run time. Functions with a
// target attribute may call (inline) plain functions, not the reverse: the driver calls
// the kernels through function pointers, once per block of rows, never per row.
#include "index/scan_kernels.h"

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics (they start from
// _mm512_undefined_*); the diagnostic points into the header, so it is silenced there.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "toolkit/error.h"

#define EC_TARGET_AVX2 __attribute__((target("avx2,fma,popcnt")))
#define EC_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vpopcntdq,fma,popcnt")))

namespace embcomp {

namespace {

constexpr size_t kMaxScanDim = size_t(1) << 20;  ///< keeps cmax * d / 2 far below 2^31

// ---- top-k heap --------------------------------------------------------------------------

/// The k best (value, id) pairs seen so far: a binary heap whose root is the worst entry.
/// kMax: larger values are better (IP); else smaller are (L2, Hamming). Equal values:
/// the smaller id is better. The scans feed ids in increasing order, so a value equal to
/// the root's never displaces it and the SIMD prefilters can compare values strictly.
template <class T, bool kMax>
struct TopK {
  T* val = nullptr;       ///< k values, heap order
  int64_t* id = nullptr;  ///< k ids, heap order
  size_t k = 0;
  size_t size = 0;

  static T sentinel() {
    if constexpr (std::is_floating_point_v<T>) {
      return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    } else {
      return kMax ? std::numeric_limits<T>::min() : std::numeric_limits<T>::max();
    }
  }
  static bool better(T a, int64_t ia, T b, int64_t ib) {
    if (a != b) return kMax ? a > b : a < b;
    return ia < ib;
  }
  bool full() const { return size == k; }
  /// Values not strictly better than this cannot enter (when full); the sentinel when
  /// not full, which every finite value beats.
  T threshold() const { return full() ? val[0] : sentinel(); }
  bool accepts(T v) const {
    if (!full()) return k > 0;
    return kMax ? v > val[0] : v < val[0];
  }
  /// Inserts (v, i); call only when accepts(v).
  void push(T v, int64_t i) {
    size_t pos;
    if (!full()) {
      pos = size++;
      while (pos > 0) {  // sift up: parents must be worse than or equal to children
        size_t parent = (pos - 1) / 2;
        if (!better(val[parent], id[parent], v, i)) break;
        val[pos] = val[parent];
        id[pos] = id[parent];
        pos = parent;
      }
    } else {
      pos = 0;  // replace the root, sift down
      for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= size) break;
        if (c + 1 < size && better(val[c], id[c], val[c + 1], id[c + 1])) ++c;  // worse child
        if (!better(v, i, val[c], id[c])) break;
        val[pos] = val[c];
        id[pos] = id[c];
        pos = c;
      }
    }
    val[pos] = v;
    id[pos] = i;
  }
  /// Writes the entries best first, padded with (-1, sentinel) up to k.
  void extract(int64_t* ids_out, T* vals_out) const {
    std::vector<std::pair<T, int64_t>> e(size);
    for (size_t j = 0; j < size; ++j) e[j] = {val[j], id[j]};
    std::sort(e.begin(), e.end(), [](const auto& a, const auto& b) {
      return better(a.first, a.second, b.first, b.second);
    });
    for (size_t j = 0; j < k; ++j) {
      ids_out[j] = j < size ? e[j].second : -1;
      vals_out[j] = j < size ? e[j].first : sentinel();
    }
  }
};

using TopIp = TopK<float, true>;
using TopL2 = TopK<float, false>;
using TopHamming = TopK<int32_t, false>;

// ---- scalar references --------------------------------------------------------------------

template <class C>
void dot_i16_ref(const int16_t* wq, const C* codes, size_t n, size_t d, int32_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const C* c = codes + i * d;
    uint32_t s = 0;  // unsigned: wraps modulo 2^32 exactly like the SIMD lanes
    for (size_t j = 0; j < d; ++j) s += uint32_t(int32_t(wq[j]) * int32_t(c[j]));
    out[i] = int32_t(s);
  }
}

inline float ip_score(int32_t s, float alpha, float c0) {
  return std::fma(alpha, static_cast<float>(s), c0);
}
inline float l2_score(int32_t s, float alpha, float c0, float qnorm, float norm) {
  // 2 * ip is exact, so fused or not this rounds once: identical in every version.
  return (qnorm + norm) - 2.0f * ip_score(s, alpha, c0);
}

void select_ip_ref(const int32_t* S, size_t n, int64_t id0, float alpha, float c0, TopIp& h) {
  for (size_t i = 0; i < n; ++i) {
    float v = ip_score(S[i], alpha, c0);
    if (h.accepts(v)) h.push(v, id0 + int64_t(i));
  }
}

void select_l2_ref(const int32_t* S, const float* norms, size_t n, int64_t id0, float alpha,
                   float c0, float qnorm, TopL2& h) {
  for (size_t i = 0; i < n; ++i) {
    float v = l2_score(S[i], alpha, c0, qnorm, norms[i]);
    if (h.accepts(v)) h.push(v, id0 + int64_t(i));
  }
}

void select_hamming_ref(const int32_t* dist, size_t n, int64_t id0, TopHamming& h) {
  for (size_t i = 0; i < n; ++i) {
    if (h.accepts(dist[i])) h.push(dist[i], id0 + int64_t(i));
  }
}

// ---- AVX2 ----------------------------------------------------------------------------------

template <bool kSigned>
EC_TARGET_AVX2 inline __m256i widen16_avx2(const void* p) {
  __m128i b = _mm_loadu_si128(static_cast<const __m128i*>(p));
  if constexpr (kSigned) {
    return _mm256_cvtepi8_epi16(b);
  } else {
    return _mm256_cvtepu8_epi16(b);
  }
}

EC_TARGET_AVX2 inline int32_t hsum_epi32_avx2(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

/// Sums of each of a[0..7] in one vector: lane r = sum of a[r].
EC_TARGET_AVX2 inline __m256i reduce8_epi32_avx2(const __m256i* a) {
  __m256i t0 = _mm256_hadd_epi32(a[0], a[1]), t1 = _mm256_hadd_epi32(a[2], a[3]);
  __m256i t2 = _mm256_hadd_epi32(a[4], a[5]), t3 = _mm256_hadd_epi32(a[6], a[7]);
  __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                          _mm256_permute2x128_si256(u0, u1, 0x31));
}

/// 8 rows at a time, 16 dims per step (vpmovzxbw/vpmovsxbw + vpmaddwd). The last d % 16
/// dims are covered by one more step over the 16 bytes ending at the row's end, with the
/// weights of dims already counted set to 0: no read past the row, no scalar tail.
template <bool kSigned>
EC_TARGET_AVX2 void dot_i16_avx2(const int16_t* wq, const uint8_t* codes, size_t n, size_t d,
                                 int32_t* out) {
  const size_t nc = d / 16, tail = d % 16;
  alignas(32) int16_t wt[16] = {};
  if (tail) {
    for (size_t t = 16 - tail; t < 16; ++t) wt[t] = wq[d - 16 + t];
  }
  const __m256i wtv = _mm256_load_si256(reinterpret_cast<const __m256i*>(wt));
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint8_t* base = codes + i * d;
    __m256i acc[8];
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) acc[r] = _mm256_setzero_si256();
    for (size_t c = 0; c < nc; ++c) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + 16 * c));
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        __m256i x = widen16_avx2<kSigned>(base + r * d + 16 * c);
        acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(x, wv));
      }
    }
    if (tail) {
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        __m256i x = widen16_avx2<kSigned>(base + r * d + d - 16);
        acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(x, wtv));
      }
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), reduce8_epi32_avx2(acc));
  }
  for (; i < n; ++i) {
    const uint8_t* row = codes + i * d;
    __m256i acc = _mm256_setzero_si256();
    for (size_t c = 0; c < nc; ++c) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + 16 * c));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(widen16_avx2<kSigned>(row + 16 * c), wv));
    }
    if (tail) {
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(widen16_avx2<kSigned>(row + d - 16), wtv));
    }
    out[i] = hsum_epi32_avx2(acc);
  }
}

/// Byte-wise popcount (Mula): two 4-bit table lookups with vpshufb.
EC_TARGET_AVX2 inline __m256i popcount_bytes_avx2(__m256i x) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256i lo = _mm256_and_si256(x, low4);
  __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low4);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

/// Popcount of the bytes [from, cs) of q XOR row, 8 bytes at a time then bytewise.
EC_TARGET_AVX2 inline int32_t hamming_tail_popcnt(const uint8_t* q, const uint8_t* row, size_t from,
                                                  size_t cs) {
  int32_t s = 0;
  size_t j = from;
  for (; j + 8 <= cs; j += 8) {
    uint64_t a, b;
    std::memcpy(&a, q + j, 8);
    std::memcpy(&b, row + j, 8);
    s += int32_t(_mm_popcnt_u64(a ^ b));
  }
  for (; j < cs; ++j) s += int32_t(_mm_popcnt_u32(uint32_t(q[j] ^ row[j])));
  return s;
}

/// cs == 16: two codes per ymm, 8 codes per step, sums assembled into one vector.
EC_TARGET_AVX2 void hamming16_avx2(const uint8_t* q, const uint8_t* codes, size_t n, int32_t* out) {
  const __m256i qv =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const auto* p = reinterpret_cast<const __m256i*>(codes + i * 16);
    __m256i t[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      // qwords [a.lo, a.hi, b.lo, b.hi] for codes a = 2r, b = 2r + 1; then the code sum
      // in both qwords of its 128-bit lane
      __m256i s = _mm256_sad_epu8(
          popcount_bytes_avx2(_mm256_xor_si256(_mm256_loadu_si256(p + r), qv)), zero);
      t[r] = _mm256_add_epi64(s, _mm256_shuffle_epi32(s, 0x4E));
    }
    // dwords, lane 0: [c0 c2 c0 c2] lane 1: [c1 c3 c1 c3]
    __m256i t01 = _mm256_blend_epi32(t[0], _mm256_slli_epi64(t[1], 32), 0xAA);
    __m256i t23 = _mm256_blend_epi32(t[2], _mm256_slli_epi64(t[3], 32), 0xAA);
    // lane 0: [c0 c2 c4 c6] lane 1: [c1 c3 c5 c7]
    __m256i r = _mm256_blend_epi32(t01, t23, 0xCC);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_permutevar8x32_epi32(r, order));
  }
  for (; i < n; ++i) out[i] = hamming_tail_popcnt(q, codes + i * 16, 0, 16);
}

EC_TARGET_AVX2 void hamming_avx2_impl(const uint8_t* q, const uint8_t* codes, size_t n, size_t cs,
                                      int32_t* out) {
  if (cs == 16) return hamming16_avx2(q, codes, n, out);
  const size_t nc = cs / 32;
  const __m256i zero = _mm256_setzero_si256();
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* row = codes + i * cs;
    __m256i acc = zero;
    for (size_t c = 0; c < nc; ++c) {
      __m256i x =
          _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 32 * c)),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * c)));
      acc = _mm256_add_epi64(acc, _mm256_sad_epu8(popcount_bytes_avx2(x), zero));
    }
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
    out[i] = int32_t(_mm_cvtsi128_si64(s)) + hamming_tail_popcnt(q, row, 32 * nc, cs);
  }
}

/// Scores 8 values at a time, compares them with the heap's threshold and pushes only
/// the (rare, once the heap is full) candidates. The compare is a superset filter: each
/// candidate is checked again against the current threshold.
EC_TARGET_AVX2 void select_ip_avx2(const int32_t* S, size_t n, int64_t id0, float alpha, float c0,
                                   TopIp& h) {
  const __m256 av = _mm256_set1_ps(alpha), cv = _mm256_set1_ps(c0);
  __m256 thr = _mm256_set1_ps(h.threshold());
  alignas(32) float v[8];
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 s = _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(S + i)));
    s = _mm256_fmadd_ps(av, s, cv);
    unsigned m = unsigned(_mm256_movemask_ps(_mm256_cmp_ps(s, thr, _CMP_GT_OQ)));
    if (m) {
      _mm256_store_ps(v, s);
      for (; m; m &= m - 1) {
        unsigned j = unsigned(__builtin_ctz(m));
        if (h.accepts(v[j])) h.push(v[j], id0 + int64_t(i + j));
      }
      thr = _mm256_set1_ps(h.threshold());
    }
  }
  select_ip_ref(S + i, n - i, id0 + int64_t(i), alpha, c0, h);
}

EC_TARGET_AVX2 void select_l2_avx2(const int32_t* S, const float* norms, size_t n, int64_t id0,
                                   float alpha, float c0, float qnorm, TopL2& h) {
  const __m256 av = _mm256_set1_ps(alpha), cv = _mm256_set1_ps(c0), qv = _mm256_set1_ps(qnorm);
  __m256 thr = _mm256_set1_ps(h.threshold());
  alignas(32) float v[8];
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 ip = _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(S + i)));
    ip = _mm256_fmadd_ps(av, ip, cv);
    __m256 s = _mm256_sub_ps(_mm256_add_ps(qv, _mm256_loadu_ps(norms + i)), _mm256_add_ps(ip, ip));
    unsigned m = unsigned(_mm256_movemask_ps(_mm256_cmp_ps(s, thr, _CMP_LT_OQ)));
    if (m) {
      _mm256_store_ps(v, s);
      for (; m; m &= m - 1) {
        unsigned j = unsigned(__builtin_ctz(m));
        if (h.accepts(v[j])) h.push(v[j], id0 + int64_t(i + j));
      }
      thr = _mm256_set1_ps(h.threshold());
    }
  }
  select_l2_ref(S + i, norms + i, n - i, id0 + int64_t(i), alpha, c0, qnorm, h);
}

EC_TARGET_AVX2 void select_hamming_avx2(const int32_t* dist, size_t n, int64_t id0, TopHamming& h) {
  __m256i thr = _mm256_set1_epi32(h.threshold());
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dist + i));
    unsigned m = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(thr, s))));
    if (m) {
      for (; m; m &= m - 1) {
        unsigned j = unsigned(__builtin_ctz(m));
        if (h.accepts(dist[i + j])) h.push(dist[i + j], id0 + int64_t(i + j));
      }
      thr = _mm256_set1_epi32(h.threshold());
    }
  }
  select_hamming_ref(dist + i, n - i, id0 + int64_t(i), h);
}

// ---- AVX-512 -------------------------------------------------------------------------------

/// Sums of each of a[0..15] in one vector: lane r = sum of a[r]. Four rounds of pairwise
/// combining (45 instructions for 16 rows instead of 16 full horizontal reductions).
/// Sum of the 16 int32 lanes modulo 2^32, as the vector adds wrap. GCC's
/// _mm512_reduce_add_epi32 adds the lanes as int, which is undefined on overflow (UBSan in
/// ScanIsaTest.LargeQueryValues: 1253337750 + 1253337750).
EC_TARGET_AVX512 inline int32_t hsum_epi32_wrap_avx512(__m512i v) {
  alignas(64) uint32_t lanes[16];
  _mm512_store_si512(lanes, v);
  uint32_t s = 0;
  for (uint32_t x : lanes) s += x;
  return int32_t(s);
}

EC_TARGET_AVX512 inline __m512i reduce16_epi32_avx512(const __m512i* a) {
  __m512i t[8], u[4], v[2];
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) {  // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3]
    t[r] = _mm512_add_epi32(_mm512_unpacklo_epi32(a[2 * r], a[2 * r + 1]),
                            _mm512_unpackhi_epi32(a[2 * r], a[2 * r + 1]));
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {  // per 128-bit lane: lane sums of 4 rows
    u[r] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * r], t[2 * r + 1]),
                            _mm512_unpackhi_epi64(t[2 * r], t[2 * r + 1]));
  }
#pragma GCC unroll 2
  for (int r = 0; r < 2; ++r) {  // lanes pairwise: [u0.0+u0.1, u0.2+u0.3, u1.0+u1.1, ...]
    v[r] = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2 * r], u[2 * r + 1], 0x88),
                            _mm512_shuffle_i32x4(u[2 * r], u[2 * r + 1], 0xDD));
  }
  return _mm512_add_epi32(_mm512_shuffle_i32x4(v[0], v[1], 0x88),
                          _mm512_shuffle_i32x4(v[0], v[1], 0xDD));
}

template <bool kSigned>
EC_TARGET_AVX512 inline __m512i widen32_avx512(__m256i b) {
  if constexpr (kSigned) {
    return _mm512_cvtepi8_epi16(b);
  } else {
    return _mm512_cvtepu8_epi16(b);
  }
}

/// 16 rows at a time, 32 dims per vpdpwssd; the d % 32 tail by masked loads.
template <bool kSigned>
EC_TARGET_AVX512 void dot_i16_avx512(const int16_t* wq, const uint8_t* codes, size_t n, size_t d,
                                     int32_t* out) {
  const size_t nc = d / 32, tail = d % 32;
  const __mmask32 tmask = __mmask32((uint64_t(1) << tail) - 1);
  const __m512i wtv = _mm512_maskz_loadu_epi16(tmask, wq + 32 * nc);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8_t* base = codes + i * d;
    __m512i acc[16];
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_si512();
    for (size_t c = 0; c < nc; ++c) {
      const __m512i wv = _mm512_loadu_si512(wq + 32 * c);
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + r * d + 32 * c));
        acc[r] = _mm512_dpwssd_epi32(acc[r], widen32_avx512<kSigned>(b), wv);
      }
    }
    if (tail) {
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        __m256i b = _mm256_maskz_loadu_epi8(tmask, base + r * d + 32 * nc);
        acc[r] = _mm512_dpwssd_epi32(acc[r], widen32_avx512<kSigned>(b), wtv);
      }
    }
    _mm512_storeu_si512(out + i, reduce16_epi32_avx512(acc));
  }
  for (; i < n; ++i) {
    const uint8_t* row = codes + i * d;
    __m512i acc = _mm512_setzero_si512();
    for (size_t c = 0; c < nc; ++c) {
      __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 32 * c));
      acc = _mm512_dpwssd_epi32(acc, widen32_avx512<kSigned>(b), _mm512_loadu_si512(wq + 32 * c));
    }
    if (tail) {
      __m256i b = _mm256_maskz_loadu_epi8(tmask, row + 32 * nc);
      acc = _mm512_dpwssd_epi32(acc, widen32_avx512<kSigned>(b), wtv);
    }
    out[i] = hsum_epi32_wrap_avx512(acc);
  }
}

/// One row of any code size: 64-byte steps with vpopcntq, masked tail.
EC_TARGET_AVX512 inline int32_t hamming_row_avx512(const uint8_t* q, const uint8_t* row,
                                                   size_t cs) {
  __m512i acc = _mm512_setzero_si512();
  size_t j = 0;
  for (; j + 64 <= cs; j += 64) {
    __m512i x = _mm512_xor_si512(_mm512_loadu_si512(row + j), _mm512_loadu_si512(q + j));
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
  }
  if (j < cs) {
    const __mmask64 m = (~__mmask64(0)) >> (64 - (cs - j));
    __m512i x =
        _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, row + j), _mm512_maskz_loadu_epi8(m, q + j));
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
  }
  return int32_t(_mm512_reduce_add_epi64(acc));
}

/// cs == 8: 8 codes per zmm; the 16 qword counts of two vectors packed to dwords.
EC_TARGET_AVX512 void hamming8_avx512(const uint8_t* q, const uint8_t* codes, size_t n,
                                      int32_t* out) {
  uint64_t q64;
  std::memcpy(&q64, q, 8);
  const __m512i qv = _mm512_set1_epi64(int64_t(q64));
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8_t* p = codes + i * 8;
    __m512i p0 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(p), qv));
    __m512i p1 = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(p + 64), qv));
    _mm512_storeu_si512(out + i, _mm512_permutex2var_epi32(p0, even, p1));
  }
  for (; i < n; ++i) out[i] = hamming_row_avx512(q, codes + i * 8, 8);
}

/// cs == 16: 4 codes per zmm, 2 qword counts per code; 16 codes per step.
EC_TARGET_AVX512 void hamming16_avx512(const uint8_t* q, const uint8_t* codes, size_t n,
                                       int32_t* out) {
  const __m512i qv = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8_t* p = codes + i * 16;
    __m512i c[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      c[r] = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(p + 64 * r), qv));
    }
    // low dwords of the qword counts: [c0a c0b c1a c1b ... c7a c7b], then [c8a ... c15b]
    __m512i e01 = _mm512_permutex2var_epi32(c[0], even, c[1]);
    __m512i e23 = _mm512_permutex2var_epi32(c[2], even, c[3]);
    __m512i s = _mm512_add_epi32(_mm512_permutex2var_epi32(e01, even, e23),
                                 _mm512_permutex2var_epi32(e01, odd, e23));
    _mm512_storeu_si512(out + i, s);
  }
  for (; i < n; ++i) out[i] = hamming_row_avx512(q, codes + i * 16, 16);
}

/// Any code size: 16 rows at a time with vpopcntd accumulators, combined by reduce16.
EC_TARGET_AVX512 void hamming_avx512_impl(const uint8_t* q, const uint8_t* codes, size_t n,
                                          size_t cs, int32_t* out) {
  if (cs == 8) return hamming8_avx512(q, codes, n, out);
  if (cs == 16) return hamming16_avx512(q, codes, n, out);
  const size_t nc = cs / 64, tail = cs % 64;
  const __mmask64 tmask = tail ? (~__mmask64(0)) >> (64 - tail) : 0;
  const __m512i qt = _mm512_maskz_loadu_epi8(tmask, q + 64 * nc);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8_t* base = codes + i * cs;
    __m512i acc[16];
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_si512();
    for (size_t c = 0; c < nc; ++c) {
      const __m512i qv = _mm512_loadu_si512(q + 64 * c);
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        __m512i x = _mm512_xor_si512(_mm512_loadu_si512(base + r * cs + 64 * c), qv);
        acc[r] = _mm512_add_epi32(acc[r], _mm512_popcnt_epi32(x));
      }
    }
    if (tail) {
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(tmask, base + r * cs + 64 * nc), qt);
        acc[r] = _mm512_add_epi32(acc[r], _mm512_popcnt_epi32(x));
      }
    }
    _mm512_storeu_si512(out + i, reduce16_epi32_avx512(acc));
  }
  for (; i < n; ++i) out[i] = hamming_row_avx512(q, codes + i * cs, cs);
}

EC_TARGET_AVX512 void select_ip_avx512(const int32_t* S, size_t n, int64_t id0, float alpha,
                                       float c0, TopIp& h) {
  const __m512 av = _mm512_set1_ps(alpha), cv = _mm512_set1_ps(c0);
  __m512 thr = _mm512_set1_ps(h.threshold());
  alignas(64) float v[16];
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 live = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    __m512 s = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(live, S + i));
    s = _mm512_fmadd_ps(av, s, cv);
    unsigned m = _mm512_mask_cmp_ps_mask(live, s, thr, _CMP_GT_OQ);
    if (m) {
      _mm512_store_ps(v, s);
      for (; m; m &= m - 1) {
        unsigned j = unsigned(__builtin_ctz(m));
        if (h.accepts(v[j])) h.push(v[j], id0 + int64_t(i + j));
      }
      thr = _mm512_set1_ps(h.threshold());
    }
  }
}

EC_TARGET_AVX512 void select_l2_avx512(const int32_t* S, const float* norms, size_t n, int64_t id0,
                                       float alpha, float c0, float qnorm, TopL2& h) {
  const __m512 av = _mm512_set1_ps(alpha), cv = _mm512_set1_ps(c0), qv = _mm512_set1_ps(qnorm);
  __m512 thr = _mm512_set1_ps(h.threshold());
  alignas(64) float v[16];
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 live = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    __m512 ip = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(live, S + i));
    ip = _mm512_fmadd_ps(av, ip, cv);
    __m512 s = _mm512_sub_ps(_mm512_add_ps(qv, _mm512_maskz_loadu_ps(live, norms + i)),
                             _mm512_add_ps(ip, ip));
    unsigned m = _mm512_mask_cmp_ps_mask(live, s, thr, _CMP_LT_OQ);
    if (m) {
      _mm512_store_ps(v, s);
      for (; m; m &= m - 1) {
        unsigned j = unsigned(__builtin_ctz(m));
        if (h.accepts(v[j])) h.push(v[j], id0 + int64_t(i + j));
      }
      thr = _mm512_set1_ps(h.threshold());
    }
  }
}

EC_TARGET_AVX512 void select_hamming_avx512(const int32_t* dist, size_t n, int64_t id0,
                                            TopHamming& h) {
  __m512i thr = _mm512_set1_epi32(h.threshold());
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 live = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    __m512i s = _mm512_maskz_loadu_epi32(live, dist + i);
    unsigned m = _mm512_mask_cmplt_epi32_mask(live, s, thr);
    if (m) {
      for (; m; m &= m - 1) {
        unsigned j = unsigned(__builtin_ctz(m));
        if (h.accepts(dist[i + j])) h.push(dist[i + j], id0 + int64_t(i + j));
      }
      thr = _mm512_set1_epi32(h.threshold());
    }
  }
}

// ---- dispatch table -----------------------------------------------------------------------

struct Kernels {
  void (*dot_u8)(const int16_t*, const uint8_t*, size_t, size_t, int32_t*);
  void (*dot_s8)(const int16_t*, const int8_t*, size_t, size_t, int32_t*);
  void (*hamming)(const uint8_t*, const uint8_t*, size_t, size_t, int32_t*);
  void (*select_ip)(const int32_t*, size_t, int64_t, float, float, TopIp&);
  void (*select_l2)(const int32_t*, const float*, size_t, int64_t, float, float, float, TopL2&);
  void (*select_hamming)(const int32_t*, size_t, int64_t, TopHamming&);
};

constexpr Kernels kRefKernels{dot_u8_i16_ref, dot_s8_i16_ref, hamming_ref,
                              select_ip_ref,  select_l2_ref,  select_hamming_ref};
constexpr Kernels kAvx2Kernels{dot_u8_i16_avx2, dot_s8_i16_avx2, hamming_avx2,
                               select_ip_avx2,  select_l2_avx2,  select_hamming_avx2};
constexpr Kernels kAvx512Kernels{dot_u8_i16_avx512, dot_s8_i16_avx512, hamming_avx512,
                                 select_ip_avx512,  select_l2_avx512,  select_hamming_avx512};

ScanIsa resolve(ScanIsa isa) {
  if (isa == ScanIsa::kAuto) return scan_isa();
  EC_CHECK(scan_isa_supported(isa), kUsage,
           "scan kernels: ISA " << scan_isa_name(isa) << " is not supported by this CPU");
  return isa;
}

const Kernels& kernels_for(ScanIsa isa) {
  switch (resolve(isa)) {
    case ScanIsa::kAvx512:
      return kAvx512Kernels;
    case ScanIsa::kAvx2:
      return kAvx2Kernels;
    default:
      return kRefKernels;
  }
}

// ---- the blocked multi-query top-k driver -------------------------------------------------

/// Each thread takes a contiguous range of queries, prepares them, then walks the rows in
/// blocks of scan_block_rows(): every block is scored against all of the thread's queries
/// while it is in L1/L2, so the codes stream from memory once per thread, not per query.
/// prep(qi) -> State; block(state, i0, nb, buf, heap) scores rows [i0, i0 + nb).
template <class T, bool kMax, class PrepFn, class BlockFn>
void run_topk(size_t nq, size_t n, size_t row_bytes, size_t k, int64_t* ids, T* vals, PrepFn prep,
              BlockFn block) {
  if (nq == 0 || k == 0) return;
  const size_t block_rows = scan_block_rows(row_bytes);
  OmpExceptionGuard guard;
#pragma omp parallel if (nq > 1)
  {
    guard.run([&] {
      const size_t nt = size_t(omp_get_num_threads()), t = size_t(omp_get_thread_num());
      const size_t q0 = nq * t / nt, q1 = nq * (t + 1) / nt;
      if (q0 == q1) return;
      const size_t m = q1 - q0;
      using State = decltype(prep(size_t(0)));
      std::vector<State> states;
      states.reserve(m);
      for (size_t qi = q0; qi < q1; ++qi) states.push_back(prep(qi));
      std::vector<T> hv(m * k);
      std::vector<int64_t> hi(m * k);
      std::vector<TopK<T, kMax>> heaps(m);
      for (size_t j = 0; j < m; ++j) heaps[j] = {hv.data() + j * k, hi.data() + j * k, k, 0};
      std::vector<int32_t> buf(std::min(block_rows, std::max<size_t>(n, 1)));
      for (size_t i0 = 0; i0 < n; i0 += block_rows) {
        const size_t nb = std::min(block_rows, n - i0);
        for (size_t j = 0; j < m; ++j) block(states[j], i0, nb, buf.data(), heaps[j]);
      }
      for (size_t j = 0; j < m; ++j) heaps[j].extract(ids + (q0 + j) * k, vals + (q0 + j) * k);
    });
  }
  guard.rethrow();
}

void check_queries(const float* x, size_t nq, size_t d, const char* what) {
  for (size_t i = 0; i < nq * d; ++i) {
    EC_CHECK(std::isfinite(x[i]), kBadInput,
             what << ": query " << i / d << " has a non-finite value at dimension " << i % d);
  }
}

void check_model(const float* v, size_t d, const char* what, const char* name) {
  EC_CHECK(v != nullptr, kBadInput, what << ": " << name << " is null");
  for (size_t j = 0; j < d; ++j) {
    EC_CHECK(std::isfinite(v[j]), kBadInput,
             what << ": " << name << "[" << j << "] = " << v[j] << " is not finite");
  }
}

void check_common(const void* x, size_t nq, const void* codes, size_t n, size_t d, size_t k,
                  const int64_t* ids, const void* scores, const char* what,
                  const char* dname = "d") {
  EC_CHECK(d > 0 && d <= kMaxScanDim, kBadInput,
           what << ": " << dname << "=" << d << " must be in [1, " << kMaxScanDim << "]");
  EC_CHECK(nq == 0 || x != nullptr, kBadInput, what << ": queries are null, nq=" << nq);
  EC_CHECK(n == 0 || codes != nullptr, kBadInput, what << ": codes are null, n=" << n);
  EC_CHECK(nq == 0 || k == 0 || (ids != nullptr && scores != nullptr), kBadInput,
           what << ": output ids/scores are null, nq=" << nq << " k=" << k);
  EC_CHECK(n < size_t(std::numeric_limits<int64_t>::max()), kBadInput, what << ": n=" << n);
}

/// Quantizes the double weights w (see scan_kernels.h): alpha is the smallest float unit
/// with |wq_j| <= 32767 and sum_j |wq_j| * cmax <= 2^31 - 1, so no int32 sum overflows.
QuantizedQuery quantize_weights(const std::vector<double>& w, double cmax) {
  const size_t d = w.size();
  QuantizedQuery out;
  out.wq.assign(d, 0);
  double amax = 0, l1 = 0;
  for (double v : w) {
    amax = std::max(amax, std::fabs(v));
    l1 += std::fabs(v);
  }
  if (amax == 0) return out;  // alpha = 1, all weights 0
  const double kInt32Max = 2147483647.0;
  const double a = std::max(amax / 32767.0, l1 * cmax / (kInt32Max - 0.5 * cmax * double(d)));
  float alpha = std::max(float(a), std::numeric_limits<float>::min());
  if (double(alpha) < a) alpha = std::nextafter(alpha, std::numeric_limits<float>::infinity());
  for (;;) {
    double sum = 0;
    for (size_t j = 0; j < d; ++j) {
      double r = std::nearbyint(w[j] / double(alpha));
      r = std::clamp(r, -32767.0, 32767.0);
      out.wq[j] = int16_t(r);
      sum += std::fabs(r) * cmax;
    }
    if (sum <= kInt32Max) break;
    // Not reached with the bound above (kept as a guard): grow alpha by the excess.
    alpha = std::nextafter(alpha * float(sum / kInt32Max), std::numeric_limits<float>::infinity());
  }
  out.alpha = alpha;
  return out;
}

template <class C>
void decoded_norms_impl(const C* codes, size_t n, size_t d,
                        float (*decode)(C, size_t, const float*, const float*), const float* a,
                        const float* b, float* norms) {
#pragma omp parallel for if (n > 4096) schedule(static)
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < d; ++j) {
      double v = decode(codes[i * d + j], j, a, b);
      s += v * v;
    }
    norms[i] = float(s);
  }
}

float decode_sq8(uint8_t c, size_t j, const float* vmin, const float* vdiff) {
  return vmin[j] + (c + 0.5f) / 255.0f * vdiff[j];  // FAISS QT_8bit, in float
}
float decode_int8(int8_t c, size_t j, const float* scale, const float*) {
  return float(c) * scale[j];
}

/// The SQ8/INT8 top-k: prepared query, one integer block kernel, one fused select.
template <class C>
void scan_quantized_topk(const float* x, size_t nq, const C* codes, size_t n, size_t d,
                         QuantizedQuery (*prep)(const float*, size_t, const float*, const float*),
                         const float* p0, const float* p1, ScanMetric metric, size_t k,
                         int64_t* ids, float* scores, const float* norms,
                         void (*dot)(const int16_t*, const C*, size_t, size_t, int32_t*),
                         const Kernels& kern, std::vector<float>& norms_store,
                         float (*decode)(C, size_t, const float*, const float*)) {
  auto prep_q = [&](size_t qi) { return prep(x + qi * d, d, p0, p1); };
  if (metric == ScanMetric::kInnerProduct) {
    run_topk<float, true>(
        nq, n, d, k, ids, scores, prep_q,
        [&](const QuantizedQuery& q, size_t i0, size_t nb, int32_t* buf, TopIp& h) {
          dot(q.wq.data(), codes + i0 * d, nb, d, buf);
          kern.select_ip(buf, nb, int64_t(i0), q.alpha, q.c0, h);
        });
    return;
  }
  if (norms == nullptr && n > 0 && nq > 0 && k > 0) {
    norms_store.resize(n);
    decoded_norms_impl(codes, n, d, decode, p0, p1, norms_store.data());
    norms = norms_store.data();
  }
  auto prep_l2 = [&](size_t qi) {
    QuantizedQuery q = prep_q(qi);
    EC_CHECK(std::isfinite(q.qnorm), kBadInput,
             "L2 scan: |q|^2 of query " << qi << " overflows float");
    return q;
  };
  run_topk<float, false>(
      nq, n, d, k, ids, scores, prep_l2,
      [&](const QuantizedQuery& q, size_t i0, size_t nb, int32_t* buf, TopL2& h) {
        dot(q.wq.data(), codes + i0 * d, nb, d, buf);
        kern.select_l2(buf, norms + i0, nb, int64_t(i0), q.alpha, q.c0, q.qnorm, h);
      });
}

QuantizedQuery prep_sq8(const float* q, size_t d, const float* vmin, const float* vdiff) {
  return quantize_sq8_query(q, d, vmin, vdiff);
}
QuantizedQuery prep_int8(const float* q, size_t d, const float* scale, const float*) {
  return quantize_int8_query(q, d, scale);
}

bool cpu_has_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("popcnt");
}
bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("avx512vpopcntdq") && cpu_has_avx2();
}

ScanIsa detect_isa() {
  const char* env = std::getenv("EMBCOMP_SCAN_ISA");
  std::string want = env ? env : "";
  if (want.empty() || want == "auto") {
    if (cpu_has_avx512()) return ScanIsa::kAvx512;
    if (cpu_has_avx2()) return ScanIsa::kAvx2;
    return ScanIsa::kRef;
  }
  ScanIsa isa;
  if (want == "ref") {
    isa = ScanIsa::kRef;
  } else if (want == "avx2") {
    isa = ScanIsa::kAvx2;
  } else if (want == "avx512") {
    isa = ScanIsa::kAvx512;
  } else {
    EC_THROW(kUsage, "EMBCOMP_SCAN_ISA=" << want << " is not one of ref, avx2, avx512, auto");
  }
  EC_CHECK(scan_isa_supported(isa), kUsage,
           "EMBCOMP_SCAN_ISA=" << want << " but this CPU does not support it");
  return isa;
}

}  // namespace

// ---- public functions -----------------------------------------------------------------------

const char* scan_isa_name(ScanIsa isa) {
  switch (isa) {
    case ScanIsa::kAuto:
      return "auto";
    case ScanIsa::kRef:
      return "ref";
    case ScanIsa::kAvx2:
      return "avx2";
    case ScanIsa::kAvx512:
      return "avx512";
  }
  return "?";
}

bool scan_isa_supported(ScanIsa isa) {
  switch (isa) {
    case ScanIsa::kAvx2:
      return cpu_has_avx2();
    case ScanIsa::kAvx512:
      return cpu_has_avx512();
    default:
      return true;
  }
}

ScanIsa scan_isa() {
  static const ScanIsa isa = detect_isa();
  return isa;
}

std::string scan_kernel_name() {
  switch (scan_isa()) {
    case ScanIsa::kAvx512:
      return "avx512 (sq8/int8: int16 query, vpdpwssd; binary: vpopcntq)";
    case ScanIsa::kAvx2:
      return "avx2 (sq8/int8: int16 query, vpmaddwd; binary: vpshufb popcount)";
    default:
      return "ref (scalar)";
  }
}

size_t scan_block_rows(size_t row_bytes) {
  const size_t target = 32768;  // bytes of codes per block: about L1d
  size_t rows = target / std::max<size_t>(row_bytes, 1);
  rows = std::clamp<size_t>(rows / 16 * 16, 16, 4096);
  return rows;
}

QuantizedQuery quantize_sq8_query(const float* q, size_t d, const float* vmin, const float* vdiff) {
  std::vector<double> w(d);
  double c0 = 0, qn = 0;
  for (size_t j = 0; j < d; ++j) {
    w[j] = double(q[j]) * double(vdiff[j]) / 255.0;
    c0 += double(q[j]) * (double(vmin[j]) + 0.5 * double(vdiff[j]) / 255.0);
    qn += double(q[j]) * double(q[j]);
  }
  QuantizedQuery out = quantize_weights(w, 255.0);
  out.c0 = float(c0);
  out.qnorm = float(qn);
  EC_CHECK(std::isfinite(out.c0) && std::isfinite(out.alpha * 2147483647.0f), kBadInput,
           "SQ8 scan: the query's inner products overflow float (c0=" << c0 << ")");
  return out;
}

QuantizedQuery quantize_int8_query(const float* q, size_t d, const float* scale) {
  std::vector<double> w(d);
  double qn = 0;
  for (size_t j = 0; j < d; ++j) {
    w[j] = double(q[j]) * double(scale[j]);
    qn += double(q[j]) * double(q[j]);
  }
  QuantizedQuery out = quantize_weights(w, 128.0);  // |c| <= 128 covers a stray -128 byte
  out.qnorm = float(qn);
  EC_CHECK(std::isfinite(out.alpha * 2147483647.0f), kBadInput,
           "INT8 scan: the query's inner products overflow float");
  return out;
}

void dot_u8_i16_ref(const int16_t* wq, const uint8_t* codes, size_t n, size_t d, int32_t* out) {
  dot_i16_ref(wq, codes, n, d, out);
}
void dot_s8_i16_ref(const int16_t* wq, const int8_t* codes, size_t n, size_t d, int32_t* out) {
  dot_i16_ref(wq, codes, n, d, out);
}

void dot_u8_i16_avx2(const int16_t* wq, const uint8_t* codes, size_t n, size_t d, int32_t* out) {
  if (d < 16) return dot_u8_i16_ref(wq, codes, n, d, out);
  dot_i16_avx2<false>(wq, codes, n, d, out);
}
void dot_s8_i16_avx2(const int16_t* wq, const int8_t* codes, size_t n, size_t d, int32_t* out) {
  if (d < 16) return dot_s8_i16_ref(wq, codes, n, d, out);
  dot_i16_avx2<true>(wq, reinterpret_cast<const uint8_t*>(codes), n, d, out);
}

void dot_u8_i16_avx512(const int16_t* wq, const uint8_t* codes, size_t n, size_t d, int32_t* out) {
  dot_i16_avx512<false>(wq, codes, n, d, out);
}
void dot_s8_i16_avx512(const int16_t* wq, const int8_t* codes, size_t n, size_t d, int32_t* out) {
  dot_i16_avx512<true>(wq, reinterpret_cast<const uint8_t*>(codes), n, d, out);
}

void hamming_ref(const uint8_t* q, const uint8_t* codes, size_t n, size_t cs, int32_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* row = codes + i * cs;
    int32_t s = 0;
    size_t j = 0;
    for (; j + 8 <= cs; j += 8) {
      uint64_t a, b;
      std::memcpy(&a, q + j, 8);
      std::memcpy(&b, row + j, 8);
      s += __builtin_popcountll(a ^ b);
    }
    for (; j < cs; ++j) s += __builtin_popcount(unsigned(q[j] ^ row[j]));
    out[i] = s;
  }
}

void hamming_avx2(const uint8_t* q, const uint8_t* codes, size_t n, size_t cs, int32_t* out) {
  hamming_avx2_impl(q, codes, n, cs, out);
}
void hamming_avx512(const uint8_t* q, const uint8_t* codes, size_t n, size_t cs, int32_t* out) {
  hamming_avx512_impl(q, codes, n, cs, out);
}

void sq8_decoded_norms(const uint8_t* codes, size_t n, size_t d, const float* vmin,
                       const float* vdiff, float* norms) {
  EC_CHECK(n == 0 || (codes && norms), kBadInput, "sq8_decoded_norms: null pointer, n=" << n);
  check_model(vmin, d, "sq8_decoded_norms", "vmin");
  check_model(vdiff, d, "sq8_decoded_norms", "vdiff");
  decoded_norms_impl<uint8_t>(codes, n, d, decode_sq8, vmin, vdiff, norms);
}

void int8_decoded_norms(const int8_t* codes, size_t n, size_t d, const float* scale, float* norms) {
  EC_CHECK(n == 0 || (codes && norms), kBadInput, "int8_decoded_norms: null pointer, n=" << n);
  check_model(scale, d, "int8_decoded_norms", "scale");
  decoded_norms_impl<int8_t>(codes, n, d, decode_int8, scale, nullptr, norms);
}

void scan_sq8_topk(const float* x, size_t nq, const uint8_t* codes, size_t n, size_t d,
                   const float* vmin, const float* vdiff, ScanMetric metric, size_t k, int64_t* ids,
                   float* scores, const float* norms, ScanIsa isa) {
  const char* what = "scan_sq8_topk";
  check_common(x, nq, codes, n, d, k, ids, scores, what);
  check_model(vmin, d, what, "vmin");
  check_model(vdiff, d, what, "vdiff");
  check_queries(x, nq, d, what);
  const Kernels& kern = kernels_for(isa);
  std::vector<float> norms_store;
  scan_quantized_topk<uint8_t>(x, nq, codes, n, d, prep_sq8, vmin, vdiff, metric, k, ids, scores,
                               norms, kern.dot_u8, kern, norms_store, decode_sq8);
}

void scan_int8_topk(const float* x, size_t nq, const int8_t* codes, size_t n, size_t d,
                    const float* scale, ScanMetric metric, size_t k, int64_t* ids, float* scores,
                    const float* norms, ScanIsa isa) {
  const char* what = "scan_int8_topk";
  check_common(x, nq, codes, n, d, k, ids, scores, what);
  check_model(scale, d, what, "scale");
  check_queries(x, nq, d, what);
  const Kernels& kern = kernels_for(isa);
  std::vector<float> norms_store;
  scan_quantized_topk<int8_t>(x, nq, codes, n, d, prep_int8, scale, nullptr, metric, k, ids, scores,
                              norms, kern.dot_s8, kern, norms_store, decode_int8);
}

void scan_binary_topk(const uint8_t* qcodes, size_t nq, const uint8_t* codes, size_t n,
                      size_t code_size, size_t k, int64_t* ids, int32_t* distances, ScanIsa isa) {
  const char* what = "scan_binary_topk";
  check_common(qcodes, nq, codes, n, code_size, k, ids, distances, what, "code_size");
  EC_CHECK(code_size <= size_t(std::numeric_limits<int32_t>::max()) / 8, kBadInput,
           what << ": code_size=" << code_size << " bytes overflows int32 distances");
  const Kernels& kern = kernels_for(isa);
  run_topk<int32_t, false>(
      nq, n, code_size, k, ids, distances, [&](size_t qi) { return qcodes + qi * code_size; },
      [&](const uint8_t* q, size_t i0, size_t nb, int32_t* buf, TopHamming& h) {
        kern.hamming(q, codes + i0 * code_size, nb, code_size, buf);
        kern.select_hamming(buf, nb, int64_t(i0), h);
      });
}

}  // namespace embcomp
