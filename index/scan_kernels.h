// Exhaustive-scan kernels over compressed codes, with runtime CPU dispatch (issue 4).
//
// Three scans, each returning the top-k rows per query, best first:
//   scan_sq8_topk     float query vs SQ8 codes (FAISS QT_8bit: uint8 per dim,
//                     decode x_j = vmin_j + (c_j + 0.5) / 255 * vdiff_j), IP or squared L2
//   scan_int8_topk    float query vs INT8 codes (signed int8 per dim, decode x_j = c_j * s_j)
//   scan_binary_topk  binary query code vs binary codes (ceil(d/8) bytes, any size), Hamming
//
// SQ8 / INT8 scoring never decodes a row. Per query (see docs/scan_kernels.md):
//   w_j   = q_j * vdiff_j / 255        (SQ8)     or  q_j * s_j  (INT8)     [in double]
//   c0    = sum_j q_j * (vmin_j + 0.5 * vdiff_j / 255)  (SQ8)  or  0  (INT8)
//   alpha = max(max_j |w_j| / 32767, sum_j |w_j| * cmax / (2^31 - 1 - cmax * d / 2))
//           with cmax = 255 (SQ8) or 128 (INT8): the smallest unit for which the int32
//           dot product below can never overflow
//   wq_j  = round(w_j / alpha)         (int16, |wq_j| <= 32767)
// and per row i:
//   S_i   = sum_j wq_j * c_ij          (exact int32: VNNI vpdpwssd / AVX2 vpmaddwd)
//   ip_i  = fma(alpha, float(S_i), c0)
//   l2_i  = (||q||^2 + norms_i) - 2 * ip_i       (norms_i = ||decoded row i||^2)
// Error against the exact <q, decoded row> (real arithmetic):
//   |ip_i - <q, x_i>| <= alpha / 2 * sum_j |c_ij| + 2^-23 * (|c0| + |alpha * S_i|)
// i.e. about 1.5e-5 * max_j|w_j| * sum_j|c_ij| for small d: the query is kept to ~15 bits.
//
// Every ISA computes bit-identical scores and ids: the integer sums are exact, the float
// epilogue is the same IEEE operations, ties are broken by the smaller id. So the scalar
// `_ref` twins define the results and the SIMD versions are tested against them exactly.
//
// Dispatch: the best ISA the CPU supports is picked once (scan_isa()); the environment
// variable EMBCOMP_SCAN_ISA=ref|avx2|avx512 overrides it (an ISA the CPU lacks is an
// error, kUsage). Every top-k function also takes an explicit ScanIsa for tests.
//   kAvx512: avx512f + avx512bw + avx512vl + avx512vnni + avx512vpopcntdq (Ice Lake and later)
//   kAvx2:   avx2 + fma + popcnt (Haswell and later)
//   kRef:    portable scalar code; defines the results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace embcomp {

enum class ScanIsa { kAuto, kRef, kAvx2, kAvx512 };

/// "auto", "ref", "avx2", "avx512".
const char* scan_isa_name(ScanIsa isa);
/// Whether this CPU (and OS) can run the kernels of isa; kRef and kAuto always can.
bool scan_isa_supported(ScanIsa isa);
/// The ISA kAuto resolves to: EMBCOMP_SCAN_ISA when set, else the best supported one.
/// Decided once per process. Throws kUsage for an unknown or unsupported override.
ScanIsa scan_isa();
/// For logs, e.g. "avx512 (vpdpwssd int16 query, vpopcntq)".
std::string scan_kernel_name();

enum class ScanMetric { kInnerProduct, kL2 };

/// Rows per block in which the top-k scans walk the codes: each block is scored against
/// every query of a thread while it is in cache (about 32 KiB of codes).
size_t scan_block_rows(size_t row_bytes);

// ---- top-k scans ------------------------------------------------------------------------
// Shared contract:
//   x        nq * d floats, row-major queries (must be finite)
//   codes    n rows, row-major: n * d bytes (SQ8, INT8) or n * code_size bytes (binary)
//   ids      nq * k, row-major: row ids of the k best rows per query, best first
//   scores   nq * k, matching ids: IP (larger is better) or squared L2 / Hamming (smaller
//            is better). Equal scores are ordered by smaller id.
//   When n < k the last k - n entries are id -1 with score -inf (IP), +inf (L2) or
//   INT32_MAX (Hamming), as FAISS pads. k = 0 writes nothing.
//   Parallel over queries with OpenMP (each thread scans all rows for its queries).
//   norms    (L2 only) n floats, ||decoded row||^2 from sq8_decoded_norms /
//            int8_decoded_norms; nullptr computes them for this call (one extra pass).
// Throws kBadInput (null pointers with nonzero sizes, d = 0, d > 2^20, non-finite
// queries or model values) and kUsage (an ISA the CPU lacks).

/// SQ8 (FAISS QT_8bit) codes; vmin, vdiff: d floats each (faiss::ScalarQuantizer::trained
/// holds vmin then vdiff).
void scan_sq8_topk(const float* x, size_t nq, const uint8_t* codes, size_t n, size_t d,
                   const float* vmin, const float* vdiff, ScanMetric metric, size_t k, int64_t* ids,
                   float* scores, const float* norms = nullptr, ScanIsa isa = ScanIsa::kAuto);

/// INT8 codes (compressors/int8.h); scale: d floats s_j.
void scan_int8_topk(const float* x, size_t nq, const int8_t* codes, size_t n, size_t d,
                    const float* scale, ScanMetric metric, size_t k, int64_t* ids, float* scores,
                    const float* norms = nullptr, ScanIsa isa = ScanIsa::kAuto);

/// Binary codes (compressors/binary.h, FAISS IndexBinary layout): queries are nq *
/// code_size bytes of already-encoded query codes; distances are Hamming distances.
void scan_binary_topk(const uint8_t* qcodes, size_t nq, const uint8_t* codes, size_t n,
                      size_t code_size, size_t k, int64_t* ids, int32_t* distances,
                      ScanIsa isa = ScanIsa::kAuto);

/// norms: n floats, norms_i = sum_j (vmin_j + (c_ij + 0.5) / 255 * vdiff_j)^2 with the
/// decoded values in float (as FAISS decodes) and the sum in double.
void sq8_decoded_norms(const uint8_t* codes, size_t n, size_t d, const float* vmin,
                       const float* vdiff, float* norms);
/// norms: n floats, norms_i = sum_j (c_ij * s_j)^2.
void int8_decoded_norms(const int8_t* codes, size_t n, size_t d, const float* scale, float* norms);

// ---- per-query preparation (shared by every ISA) ----------------------------------------

/// A query turned into int16 weights, see the top of this file.
struct QuantizedQuery {
  std::vector<int16_t> wq;  ///< wq_j, d entries
  float alpha = 1;          ///< value of one unit of S
  float c0 = 0;             ///< constant term of the inner product
  float qnorm = 0;          ///< ||q||^2 (for L2)
};
QuantizedQuery quantize_sq8_query(const float* q, size_t d, const float* vmin, const float* vdiff);
QuantizedQuery quantize_int8_query(const float* q, size_t d, const float* scale);

// ---- block kernels with their scalar _ref twins ------------------------------------------
// Call an _avx2 / _avx512 function only when scan_isa_supported() says so (else SIGILL).
// AVX2 versions fall back to the _ref code when d < 16 (nothing to vectorize).

/// out[i] = sum_{j<d} wq[j] * codes[i*d + j] for i < n, codes uint8 (SQ8). int32 sums
/// wrap modulo 2^32 in every version (never happens for weights from quantize_*_query).
void dot_u8_i16_ref(const int16_t* wq, const uint8_t* codes, size_t n, size_t d, int32_t* out);
void dot_u8_i16_avx2(const int16_t* wq, const uint8_t* codes, size_t n, size_t d, int32_t* out);
void dot_u8_i16_avx512(const int16_t* wq, const uint8_t* codes, size_t n, size_t d, int32_t* out);

/// The same with signed int8 codes (INT8).
void dot_s8_i16_ref(const int16_t* wq, const int8_t* codes, size_t n, size_t d, int32_t* out);
void dot_s8_i16_avx2(const int16_t* wq, const int8_t* codes, size_t n, size_t d, int32_t* out);
void dot_s8_i16_avx512(const int16_t* wq, const int8_t* codes, size_t n, size_t d, int32_t* out);

/// out[i] = popcount(q XOR codes[i*cs .. i*cs + cs)) for i < n, any code size cs >= 1.
void hamming_ref(const uint8_t* q, const uint8_t* codes, size_t n, size_t cs, int32_t* out);
void hamming_avx2(const uint8_t* q, const uint8_t* codes, size_t n, size_t cs, int32_t* out);
void hamming_avx512(const uint8_t* q, const uint8_t* codes, size_t n, size_t cs, int32_t* out);

}  // namespace embcomp
