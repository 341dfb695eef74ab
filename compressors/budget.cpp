#include "compressors/budget.h"

#include <cstdio>

#include "toolkit/error.h"

namespace embcomp {

double parse_budget(const std::string& spec, const std::string& text) {
  EC_CHECK(!text.empty(), kBadInput, spec << ": empty budget after '@'");
  double v = 0;
  size_t used = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    EC_THROW(kBadInput, spec << ": budget '" << text << "' is not a number or NNx");
  }
  double fraction = v;
  if (used < text.size()) {
    EC_CHECK(used + 1 == text.size() && (text.back() == 'x' || text.back() == 'X'), kBadInput,
             spec << ": budget '" << text << "' is not a number or NNx");
    EC_CHECK(v > 0, kBadInput, spec << ": compression factor " << text << " must be > 1x");
    fraction = 1.0 / v;
  }
  EC_CHECK(fraction > 0 && fraction < 1, kBadInput,
           spec << ": budget " << text << " must be a fraction in (0, 1) or a factor > 1x");
  return fraction;
}

size_t choose_knob(const std::string& spec, const std::vector<KnobChoice>& candidates,
                   double budget_bytes) {
  size_t best = candidates.size();
  for (size_t i = 0; i < candidates.size(); ++i) {
    const auto& c = candidates[i];
    if (double(c.bytes) > budget_bytes) continue;
    if (best == candidates.size() || c.bytes > candidates[best].bytes ||
        (c.bytes == candidates[best].bytes && c.preference > candidates[best].preference))
      best = i;
  }
  if (best == candidates.size()) {
    EC_CHECK(!candidates.empty(), kBadInput, spec << ": no setting of the method is possible");
    size_t smallest = 0;
    for (size_t i = 1; i < candidates.size(); ++i)
      if (candidates[i].bytes < candidates[smallest].bytes) smallest = i;
    // The closest achievable setting is accepted when it is at most 2% over (the
    // record's budget_note says so); further off, the budget cannot be met.
    if (double(candidates[smallest].bytes) <= 1.02 * budget_bytes) return smallest;
    EC_THROW(kBadInput, spec << ": budget of " << static_cast<size_t>(budget_bytes)
                             << " bytes cannot be met; the smallest setting ("
                             << candidates[smallest].knob << ") takes "
                             << candidates[smallest].bytes << " bytes");
  }
  return best;
}

std::string budget_gap_note(double actual, double budget, const std::string& why) {
  if (actual <= budget && actual >= 0.98 * budget) return "";
  char buf[160];
  std::snprintf(buf, sizeof(buf), "actual %.4f of fp32 vs budget %.4f (%+.1f%%)", actual, budget,
                100.0 * (actual - budget) / budget);
  return std::string(buf) + (why.empty() ? "" : ": " + why);
}

}  // namespace embcomp
