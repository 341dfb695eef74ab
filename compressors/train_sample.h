// Seeded training subsample shared by the methods that train on a subset of the rows.
#pragma once

#include <cstdint>

#include "toolkit/matrix.h"

namespace embcomp {

/// min(x.n, max_rows) rows of x: all rows in order when x.n <= max_rows, otherwise a
/// uniform sample without replacement chosen by seed, kept in increasing row order.
FloatMatrix train_sample(MatrixView<float> x, size_t max_rows, uint64_t seed);

}  // namespace embcomp
