#include "eval/metrics.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>

#include "toolkit/error.h"

namespace embcomp {

namespace {

struct KindName {
  RetrievalMetricKind kind;
  const char* name;      ///< our name: "ndcg" in "ndcg@10"
  const char* trec_cut;  ///< trec_eval's measure name before the cutoff, "" when none
};

constexpr KindName kKinds[] = {
    {RetrievalMetricKind::kNdcg, "ndcg", "ndcg_cut"},
    {RetrievalMetricKind::kMrr, "mrr", ""},
    {RetrievalMetricKind::kRecall, "recall", "recall"},
    {RetrievalMetricKind::kMap, "map", "map_cut"},
    {RetrievalMetricKind::kPrecision, "p", "p"},
};

const char* kind_name(RetrievalMetricKind kind) {
  for (const auto& kn : kKinds)
    if (kn.kind == kind) return kn.name;
  return "?";
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

/// k from the text after the separator: digits only, >= 1.
bool parse_cutoff(const std::string& s, size_t& k) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), k);
  return ec == std::errc() && p == s.data() + s.size() && k >= 1;
}

/// One item in any accepted spelling; false when it is none of them.
bool parse_item(const std::string& item, RetrievalMetric& m) {
  const std::string s = lower(item);
  for (const auto& kn : kKinds) {
    const std::string name = kn.name;
    std::vector<std::string> prefixes = {name + "@", name + "_at_"};
    if (*kn.trec_cut) {
      prefixes.push_back(std::string(kn.trec_cut) + "_");
      prefixes.push_back(std::string(kn.trec_cut) + ".");
    }
    for (const auto& pre : prefixes) {
      if (s.size() > pre.size() && s.compare(0, pre.size(), pre) == 0 &&
          parse_cutoff(s.substr(pre.size()), m.k)) {
        m.kind = kn.kind;
        return true;
      }
    }
  }
  return false;
}

size_t count_relevant(const std::map<std::string, int>& judged) {
  size_t r = 0;
  for (const auto& [doc, label] : judged) r += label > 0;
  return r;
}

}  // namespace

std::string RetrievalMetric::name() const {
  return std::string(kind_name(kind)) + "@" + std::to_string(k);
}

std::string RetrievalMetric::key() const {
  return std::string(kind_name(kind)) + "_at_" + std::to_string(k);
}

std::vector<RetrievalMetric> parse_retrieval_metrics(const std::string& list) {
  std::vector<RetrievalMetric> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = trim(list.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) {
      EC_CHECK(false, kBadInput,
               "metric list '" << list << "' has an empty item (expected e.g. ndcg@10,mrr@10)");
    }
    RetrievalMetric m;
    EC_CHECK(
        parse_item(item, m), kBadInput,
        "unknown metric '" << item
                           << "': expected NAME@K with NAME one of ndcg, mrr, recall, map, p "
                              "and K >= 1 (or trec_eval's ndcg_cut_K, map_cut_K, recall_K, P_K)");
    const bool seen = std::any_of(out.begin(), out.end(), [&](const RetrievalMetric& o) {
      return o.kind == m.kind && o.k == m.k;
    });
    if (!seen) out.push_back(m);
  }
  return out;
}

double metric_value(const RetrievalMetric& m, const std::vector<std::string>& ranked,
                    const std::map<std::string, int>& judged) {
  const size_t R = count_relevant(judged);
  EC_CHECK(R > 0, kRuntime, "metric_value: the query has no relevant document");
  const size_t n = std::min(m.k, ranked.size());
  // label of the document at 0-based position i, 0 when not judged
  auto label = [&](size_t i) {
    auto it = judged.find(ranked[i]);
    return it == judged.end() ? 0 : it->second;
  };
  switch (m.kind) {
    case RetrievalMetricKind::kPrecision:
    case RetrievalMetricKind::kRecall: {
      size_t hits = 0;
      for (size_t i = 0; i < n; ++i) hits += label(i) > 0;
      return m.kind == RetrievalMetricKind::kPrecision ? double(hits) / double(m.k)
                                                       : double(hits) / double(R);
    }
    case RetrievalMetricKind::kMrr:
      for (size_t i = 0; i < n; ++i)
        if (label(i) > 0) return 1.0 / double(i + 1);
      return 0.0;
    case RetrievalMetricKind::kMap: {
      double sum = 0;
      size_t hits = 0;
      for (size_t i = 0; i < n; ++i) {
        if (label(i) > 0) {
          ++hits;
          sum += double(hits) / double(i + 1);
        }
      }
      return sum / double(R);
    }
    case RetrievalMetricKind::kNdcg: {
      double dcg = 0;
      for (size_t i = 0; i < n; ++i) {
        const int g = label(i);
        if (g > 0) dcg += double(g) / std::log2(double(i + 2));  // rank i + 1
      }
      std::vector<int> ideal;
      for (const auto& [doc, g] : judged)
        if (g > 0) ideal.push_back(g);
      std::sort(ideal.begin(), ideal.end(), std::greater<int>());
      double idcg = 0;
      for (size_t i = 0; i < std::min(m.k, ideal.size()); ++i)
        idcg += double(ideal[i]) / std::log2(double(i + 2));
      return dcg / idcg;  // idcg > 0 since R > 0
    }
  }
  return 0.0;
}

bool qid_less(const std::string& a, const std::string& b) {
  auto digits = [](const std::string& s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const bool da = digits(a), db = digits(b);
  if (da != db) return da;
  if (da) {
    const size_t za = std::min(a.find_first_not_of('0'), a.size());
    const size_t zb = std::min(b.find_first_not_of('0'), b.size());
    const size_t la = a.size() - za, lb = b.size() - zb;
    if (la != lb) return la < lb;
    const int c = a.compare(za, la, b, zb, lb);
    if (c != 0) return c < 0;
  }
  return a < b;
}

RunEvaluation evaluate_run(const Run& run, const Qrels& qrels,
                           const std::vector<RetrievalMetric>& metrics) {
  EC_CHECK(!metrics.empty(), kBadInput, "no metrics to compute");
  RunEvaluation ev;
  ev.metrics = metrics;
  ev.run_queries = run.size();
  ev.qrels_queries = qrels.by_query.size();
  for (const auto& [qid, docs] : run) ev.run_queries_without_qrels += !qrels.by_query.count(qid);
  std::vector<std::string> ranked;
  for (const auto& [qid, judged] : qrels.by_query) {
    QueryScores qs;
    qs.qid = qid;
    qs.relevant = count_relevant(judged);
    if (qs.relevant == 0) {
      ++ev.queries_skipped_no_relevant;
      continue;
    }
    auto it = run.find(qid);
    if (it == run.end()) {
      qs.missing_from_run = true;
      qs.values.assign(metrics.size(), 0.0);
      ++ev.queries_missing_from_run;
    } else {
      ranked.clear();
      for (const auto& d : it->second) ranked.push_back(d.docid);
      for (const auto& m : metrics) qs.values.push_back(metric_value(m, ranked, judged));
    }
    ev.per_query.push_back(std::move(qs));
  }
  ev.queries = ev.per_query.size();
  EC_CHECK(ev.queries > 0, kBadInput,
           "the qrels hold no query with a relevant document (label > 0): nothing to evaluate");
  std::sort(ev.per_query.begin(), ev.per_query.end(),
            [](const QueryScores& a, const QueryScores& b) { return qid_less(a.qid, b.qid); });
  ev.means.assign(metrics.size(), 0.0);
  for (const auto& qs : ev.per_query)
    for (size_t j = 0; j < metrics.size(); ++j) ev.means[j] += qs.values[j];
  for (double& v : ev.means) v /= double(ev.queries);
  return ev;
}

}  // namespace embcomp
