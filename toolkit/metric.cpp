#include "toolkit/metric.h"

#include "toolkit/error.h"

namespace embcomp {

Metric parse_metric(const std::string& s) {
  if (s == "l2" || s == "L2" || s == "euclidean") return Metric::kL2;
  if (s == "ip" || s == "IP" || s == "dot" || s == "inner_product") return Metric::kIP;
  if (s == "angular" || s == "cosine") return Metric::kAngular;
  EC_THROW(kBadInput, "unknown metric '" << s << "' (use l2, ip or angular)");
}

std::string metric_name(Metric m) {
  switch (m) {
    case Metric::kL2:
      return "l2";
    case Metric::kIP:
      return "ip";
    case Metric::kAngular:
      break;
  }
  return "angular";
}

}  // namespace embcomp
