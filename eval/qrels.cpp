#include "eval/qrels.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "toolkit/error.h"
#include "toolkit/io.h"

namespace embcomp {

namespace {

constexpr const char* kSpace = " \t\r\v\f";

/// Fields of a line split on runs of spaces/tabs (views into line).
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> f;
  size_t i = 0;
  while (true) {
    i = line.find_first_not_of(kSpace, i);
    if (i == std::string_view::npos) break;
    size_t j = line.find_first_of(kSpace, i);
    if (j == std::string_view::npos) j = line.size();
    f.push_back(line.substr(i, j - i));
    i = j;
  }
  return f;
}

bool parse_int(std::string_view s, long long& v) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool parse_double(std::string_view s, double& v) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

/// Opens path for reading; a missing file, a folder, a FIFO/device/socket or an unreadable file
/// is kBadInput. Checked before opening: opening a FIFO would wait for a writer.
std::ifstream open_text(const std::string& path, const char* what) {
  std::error_code ec;
  EC_CHECK(std::filesystem::exists(path, ec), kBadInput, what << " " << path << ": no such file");
  EC_CHECK(!std::filesystem::is_directory(path, ec), kBadInput,
           what << " " << path << ": is a folder, not a file");
  require_regular_file(path, what);
  std::ifstream in(path, std::ios::binary);
  EC_CHECK(in.is_open(), kBadInput,
           what << " " << path << ": cannot open: " << std::strerror(errno));
  return in;
}

/// getline that drops one trailing '\r'.
bool next_line(std::istream& in, std::string& line) {
  if (!std::getline(in, line)) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(kSpace) == std::string_view::npos;
}

/// Shortest text that reads back as the same value: as a float when the value is one
/// (scores from a float search), else as a double.
std::string score_text(double v) {
  char buf[64];
  const float f = float(v);
  std::to_chars_result r = double(f) == v ? std::to_chars(buf, buf + sizeof buf, f)
                                          : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

size_t Qrels::judgments() const {
  size_t n = 0;
  for (const auto& [q, docs] : by_query) n += docs.size();
  return n;
}

Qrels read_qrels(std::istream& in, const std::string& name) {
  Qrels qrels;
  std::unordered_map<std::string, size_t> first_line;  // "qid\tdocid" -> line
  std::string line;
  size_t lineno = 0;
  int format = 0;  // 0 undecided, 4 TREC, 3 BEIR
  while (next_line(in, line)) {
    ++lineno;
    if (is_blank(line)) continue;
    std::vector<std::string_view> f = split_fields(line);
    if (format == 0) {
      if (f.size() == 3 && f[0] == "query-id" && f[1] == "corpus-id" && f[2] == "score") {
        format = 3;
        continue;
      }
      format = 4;
    }
    if (format == 4) {
      EC_CHECK(f.size() == 4, kBadInput,
               name << " line " << lineno
                    << ": expected 4 fields (TREC qrels `qid iter docid rel`), got " << f.size()
                    << (f.size() == 6   ? "; is this a run file?"
                        : f.size() == 3 ? "; BEIR qrels must start with the header line "
                                          "`query-id corpus-id score`"
                                        : ""));
    } else {
      EC_CHECK(f.size() == 3, kBadInput,
               name << " line " << lineno
                    << ": expected 3 fields (BEIR qrels `query-id corpus-id score`), got "
                    << f.size());
    }
    const std::string_view qid = f[0], docid = f[format == 4 ? 2 : 1], rel = f[format == 4 ? 3 : 2];
    long long label = 0;
    EC_CHECK(
        parse_int(rel, label) && label >= INT32_MIN && label <= INT32_MAX, kBadInput,
        name << " line " << lineno << ": relevance '" << printable(rel) << "' is not an integer");
    std::string key = std::string(qid) + '\t' + std::string(docid);
    auto [it, fresh] = first_line.emplace(std::move(key), lineno);
    EC_CHECK(fresh, kBadInput,
             name << " line " << lineno << ": query " << printable(qid) << " judges document "
                  << printable(docid) << " twice (first at line " << it->second << ")");
    qrels.by_query[std::string(qid)][std::string(docid)] = int(label);
  }
  EC_CHECK(!in.bad(), kBadInput, name << ": read error after line " << lineno);
  EC_CHECK(!qrels.by_query.empty(), kBadInput, name << ": no judgments");
  return qrels;
}

Qrels read_qrels(const std::string& path) {
  std::ifstream in = open_text(path, "qrels");
  return read_qrels(in, path);
}

void sort_run_docs(std::vector<ScoredDoc>& docs) {
  std::sort(docs.begin(), docs.end(), [](const ScoredDoc& a, const ScoredDoc& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.docid > b.docid;  // trec_eval: strcmp(p2->docno, p1->docno)
  });
}

Run read_trec_run(std::istream& in, const std::string& name) {
  struct Entry {
    ScoredDoc doc;
    size_t line;
  };
  std::map<std::string, std::vector<Entry>> entries;
  std::string line;
  size_t lineno = 0;
  while (next_line(in, line)) {
    ++lineno;
    if (is_blank(line)) continue;
    std::vector<std::string_view> f = split_fields(line);
    EC_CHECK(f.size() == 6, kBadInput,
             name << " line " << lineno
                  << ": expected 6 fields (TREC run `qid Q0 docid rank score tag`), got "
                  << f.size() << (f.size() == 4 ? "; is this a qrels file?" : ""));
    long long rank = 0;
    EC_CHECK(parse_int(f[3], rank), kBadInput,
             name << " line " << lineno << ": rank '" << printable(f[3]) << "' is not an integer");
    double score = 0;
    EC_CHECK(
        parse_double(f[4], score) && std::isfinite(score), kBadInput,
        name << " line " << lineno << ": score '" << printable(f[4]) << "' is not a finite number");
    entries[std::string(f[0])].push_back({{std::string(f[2]), score}, lineno});
  }
  EC_CHECK(!in.bad(), kBadInput, name << ": read error after line " << lineno);
  EC_CHECK(!entries.empty(), kBadInput, name << ": the run is empty");
  Run run;
  for (auto& entry : entries) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const auto& qid = entry.first;
    auto& list = entry.second;
    // Duplicates: sort positions by (docid, line) and compare neighbours.
    std::vector<size_t> order(list.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (list[a].doc.docid != list[b].doc.docid) return list[a].doc.docid < list[b].doc.docid;
      return list[a].line < list[b].line;
    });
    for (size_t i = 1; i < order.size(); ++i) {
      const Entry& prev = list[order[i - 1]];
      const Entry& cur = list[order[i]];
      EC_CHECK(prev.doc.docid != cur.doc.docid, kBadInput,
               name << " line " << cur.line << ": query " << printable(qid) << " lists document "
                    << printable(cur.doc.docid) << " twice (first at line " << prev.line << ")");
    }
    std::vector<ScoredDoc>& docs = run[qid];
    docs.reserve(list.size());
    for (auto& e : list) docs.push_back(std::move(e.doc));
    sort_run_docs(docs);
  }
  return run;
}

Run read_trec_run(const std::string& path) {
  std::ifstream in = open_text(path, "run");
  return read_trec_run(in, path);
}

void write_trec_run(const std::string& path, const Run& run, const std::string& tag) {
  EC_CHECK(!tag.empty() && tag.find_first_of(kSpace) == std::string::npos, kUsage,
           "run tag '" << printable(tag) << "' must be one word");
  std::string text;
  for (const auto& [qid, docs] : run) {
    for (size_t r = 0; r < docs.size(); ++r) {
      text += qid;
      text += " Q0 ";
      text += docs[r].docid;
      text += ' ';
      text += std::to_string(r + 1);
      text += ' ';
      text += score_text(docs[r].score);
      text += ' ';
      text += tag;
      text += '\n';
    }
  }
  write_file_atomic(path, text);
}

std::vector<std::string> read_ids_file(std::istream& in, const std::string& name) {
  std::vector<std::string> ids;
  std::unordered_map<std::string, size_t> seen;
  std::string line;
  size_t lineno = 0;
  while (next_line(in, line)) {
    ++lineno;
    EC_CHECK(!line.empty(), kBadInput,
             name << " line " << lineno << ": empty line (every line must hold the id of one row)");
    EC_CHECK(line.find_first_of(kSpace) == std::string::npos, kBadInput,
             name << " line " << lineno << ": id '" << printable(line) << "' contains whitespace");
    auto [it, fresh] = seen.emplace(line, lineno);
    EC_CHECK(fresh, kBadInput,
             name << " line " << lineno << ": id '" << printable(line) << "' already on line "
                  << it->second);
    ids.push_back(line);
  }
  EC_CHECK(!in.bad(), kBadInput, name << ": read error after line " << lineno);
  EC_CHECK(!ids.empty(), kBadInput, name << ": no ids");
  return ids;
}

std::vector<std::string> read_ids_file(const std::string& path) {
  std::ifstream in = open_text(path, "ids file");
  return read_ids_file(in, path);
}

void write_ids_file(const std::string& path, const std::vector<std::string>& ids) {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    EC_CHECK(
        !ids[i].empty() && ids[i].find_first_of(kSpace) == std::string::npos, kBadInput,
        path << ": id " << i << " ('" << printable(ids[i]) << "') is empty or holds whitespace");
    text += ids[i];
    text += '\n';
  }
  write_file_atomic(path, text);
}

Run make_run(const std::vector<int64_t>& ids, const std::vector<float>& scores, size_t nq, size_t k,
             const std::vector<std::string>& query_ids, const std::vector<std::string>& doc_ids) {
  EC_CHECK(ids.size() == nq * k && scores.size() == nq * k, kRuntime,
           "make_run: " << ids.size() << " ids and " << scores.size() << " scores for nq=" << nq
                        << ", k=" << k);
  EC_CHECK(query_ids.size() == nq, kBadInput,
           "there are " << nq << " query rows but " << query_ids.size() << " query ids");
  Run run;
  for (size_t q = 0; q < nq; ++q) {
    auto [it, fresh] = run.emplace(query_ids[q], std::vector<ScoredDoc>{});
    EC_CHECK(fresh, kBadInput, "query id '" << query_ids[q] << "' names two query rows");
    for (size_t j = 0; j < k; ++j) {
      const int64_t id = ids[q * k + j];
      if (id < 0) continue;
      EC_CHECK(
          size_t(id) < doc_ids.size(), kBadInput,
          "search result row " << id << " has no document id (" << doc_ids.size() << " ids given)");
      it->second.push_back({doc_ids[size_t(id)], double(scores[q * k + j])});
    }
    sort_run_docs(it->second);
  }
  return run;
}

}  // namespace embcomp
