// MGQE: multi-granular quantized embeddings (Kang, Cheng, Chen, Yi, Lin, Hong, Chi,
// "Learning Multi-granular Quantized Embeddings for Large-Vocab Categorical Features in
// Recommender Systems", WWW 2020 companion). DPQ (emb_dpq.h) with less capacity for
// infrequent ids: rows are split by training frequency (TableInit::counts) into a hot
// group, which uses all Kc = 2^nbits centroids of every sub-space, and a tail group, which
// uses only the first 2^tail_nbits of them (a nested subset of the same codebooks, as in the
// paper), so a tail code takes tail_nbits bits instead of nbits.
//
//   hot     = the ceil(kMgqeHotShare N) ids with the highest count (ties: smaller id); the
//             smallest ids when counts is empty
//   lookup(id):  g = hot bit of id;  pos = rank of id in its group (bitmap + directory)
//                out[j d .. j d + d) = V[code_g(pos, j)][j d .. j d + d)
//   backward / step: DPQ's, with the softmax and argmax over the row's 2^nbits_g centroids
//   bytes() = 4 Kc D + ceil(K M nbits / 8) + ceil((N - K) M tail_nbits / 8)
//             + 8 ceil(N / 64) + 4 ceil(N / 512)          (V, both code streams, groups)
// with K hot ids. Training-only state (query table, key codebook, optimizer moments) is
// optimizer_bytes(), as for DPQ.
//
// Budget solver ("MGQE@B"): tail_nbits = max(1, nbits - 2) (a quarter of the centroids);
// among M | D and nbits in 1..8, the setting with the most code bits per row on average,
// (K nbits + (N - K) tail_nbits) M / N, whose bytes fit B 4 N D (ties: fewer bytes).
#pragma once

#include <cstdint>

#include "compressors/emb_dpq.h"

namespace embcomp::ctr {

/// Share of the ids in the hot group (the rest are the tail).
inline constexpr double kMgqeHotShare = 0.1;
/// Centroid bits of the tail group for nbits of the hot group: max(1, nbits - 2).
inline int mgqe_tail_bits(int nbits) { return nbits > 2 ? nbits - 2 : 1; }
/// bytes() of MGQE with K hot ids (see the header comment).
int64_t mgqe_bytes(int64_t rows, int dim, int64_t K, int M, int nbits);

}  // namespace embcomp::ctr
