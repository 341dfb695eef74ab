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
                   double budget_bytes, double full_bytes) {
  EC_CHECK(!candidates.empty(), kBadInput, spec << ": no setting of the method is possible");
  auto better = [](const KnobChoice& a, const KnobChoice& b) {
    if (a.info != b.info) return a.info > b.info;
    if (a.preference != b.preference) return a.preference > b.preference;
    return a.bytes < b.bytes;
  };
  size_t best = candidates.size();
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (double(candidates[i].bytes) > budget_bytes) continue;
    if (best == candidates.size() || better(candidates[i], candidates[best])) best = i;
  }
  if (best < candidates.size()) return best;
  size_t smallest = 0;
  for (size_t i = 1; i < candidates.size(); ++i)
    if (candidates[i].bytes < candidates[smallest].bytes) smallest = i;
  budget_unreachable(spec, budget_bytes, full_bytes, candidates[smallest].knob,
                     candidates[smallest].bytes);
}

void budget_unreachable(const std::string& spec, double budget_bytes, double full_bytes,
                        const std::string& smallest_knob, size_t smallest_bytes) {
  std::string ratio;
  if (full_bytes > 0) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), ", %.6g of fp32 (budget %.6g)", double(smallest_bytes) / full_bytes,
                  budget_bytes / full_bytes);
    ratio = buf;
  }
  EC_THROW(kBadInput, spec << ": budget of " << static_cast<size_t>(budget_bytes)
                           << " bytes is unreachable (cannot be met): the smallest setting ("
                           << smallest_knob << ") takes " << smallest_bytes << " bytes" << ratio);
}

std::string budget_gap_note(double actual, double budget, const std::string& why) {
  if (actual <= budget && actual >= 0.98 * budget) return "";
  char buf[160];
  std::snprintf(buf, sizeof(buf), "actual %.4f of fp32 vs budget %.4f (%+.1f%%)", actual, budget,
                100.0 * (actual - budget) / budget);
  return std::string(buf) + (why.empty() ? "" : ": " + why);
}

}  // namespace embcomp
