// Similarity metrics of a dataset.
#pragma once

#include <string>

namespace embcomp {

/// kAngular is cosine similarity: datasets normalize their rows at load time, so that
/// searching them is searching by inner product.
enum class Metric { kL2, kIP, kAngular };

/// "l2" | "euclidean", "ip" | "dot", "angular" | "cosine"; throws kBadInput otherwise.
Metric parse_metric(const std::string& s);
std::string metric_name(Metric m);

}  // namespace embcomp
