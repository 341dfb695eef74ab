// `embcomp embed-text` and `embcomp eval`: text -> vectors, and retrieval quality against
// relevance judgments. Declared in toolkit/commands.h; main.cpp dispatches to them.
#include <omp.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "eval/knn.h"
#include "eval/metrics.h"
#include "eval/qrels.h"
#include "eval/text_embed.h"
#include "toolkit/cli.h"
#include "toolkit/commands.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
#include "toolkit/threads.h"
#include "toolkit/io.h"
#include "toolkit/metric.h"

namespace po = boost::program_options;

namespace embcomp {

namespace {

/// Checks that a float output path has an extension write_floats can write.
void check_float_output(const std::string& path) {
  const VecFormat f = format_from_extension(path);
  EC_CHECK(f == VecFormat::kFvecs || f == VecFormat::kNpy || f == VecFormat::kHdf5 ||
               f == VecFormat::kFbin,
           kUsage,
           path << ": cannot write vectors in this format (use .fvecs, .npy, .fbin or .hdf5)");
  check_output_path(path);
}

std::string percent(size_t part, size_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", whole ? 100.0 * double(part) / double(whole) : 0.0);
  return buf;
}

std::string fixed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

/// text without the spaces that padding leaves at the end of each line.
std::string trim_line_ends(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    size_t end = nl;
    while (end > start && text[end - 1] == ' ') --end;
    out.append(text, start, end - start);
    if (nl < text.size()) out += '\n';
    start = nl + 1;
  }
  return out;
}

void warn(const std::string& cmd, const std::string& msg) {
  std::cerr << "embcomp " << cmd << ": warning: " << msg << "\n";
}

}  // namespace

// ---- embed-text -----------------------------------------------------------------------------

int cmd_embed_text(int argc, char** argv) {
  std::vector<std::string> words, vectors;
  std::string docs, out, ids_out, queries, queries_out, query_ids_out;
  SifParams sif;
  int threads = 0;
  // The help text's first paragraph is the caption (parse_command_line prints the synopsis,
  // then the options under their caption).
  po::options_description desc(
      "Embeds texts as SIF vectors (Arora, Liang, Ma 2017): tokens are lowercased [a-z0-9]+\n"
      "runs; each in-vocabulary token is weighted a/(a+p(w)) with p(w) its frequency in the\n"
      "corpus, the weighted vectors are averaged, the corpus's first principal component is\n"
      "removed, and rows are L2-normalized (docs/metrics.md).\n\n"
      "embed-text options");
  // One option per line reads better than clang-format's layout of the chained calls.
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("words", po::value(&words),
       "words file: line i is the word of row i of the matching --vectors file (repeat "
       "--words/--vectors in pairs to merge vocabularies, e.g. glove-100-30k's base and query words)")
      ("vectors", po::value(&vectors), "word vectors file (.fvecs .npy .fbin ...), aligned with its --words file")
      ("docs", po::value(&docs)->required(),
       "corpus: a TSV file of `id<TAB>text` lines, or a folder of text files (id = file name without "
       "extension); word frequencies p(w) and the removed component come from it")
      ("out", po::value(&out)->required(), "corpus vectors (.fvecs .npy .fbin .hdf5), row i = text i")
      ("ids-out", po::value(&ids_out)->required(), "corpus ids, one per line, aligned with --out")
      ("queries", po::value(&queries), "queries to embed with the corpus's p(w) and component (TSV or folder)")
      ("queries-out", po::value(&queries_out), "query vectors (required with --queries)")
      ("query-ids-out", po::value(&query_ids_out), "query ids (required with --queries)")
      ("sif-a", po::value(&sif.a)->default_value(1e-3, "0.001"), "SIF weight parameter a: a / (a + p(w))")
      ("rmpc", po::value(&sif.rmpc)->default_value(1),
       "principal components removed (1 in the SIF paper; 0 keeps the weighted average)")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)")
      ("quiet,q", "no summary on stderr");
  // clang-format on
  po::variables_map vm;
  if (!parse_command_line("embed-text", desc, argc, argv, vm,
                          "--words W.txt --vectors V.fvecs [--words W2 --vectors V2 ...] "
                          "--docs docs.tsv|DIR --out corpus.fvecs --ids-out corpus_ids.txt "
                          "[--queries q.tsv --queries-out q.fvecs --query-ids-out q_ids.txt]"))
    return 0;
  const bool quiet = vm.count("quiet") > 0;
  set_omp_threads(threads);
  EC_CHECK(!words.empty(), kUsage, "embed-text: --words and --vectors are required");
  EC_CHECK(words.size() == vectors.size(), kUsage,
           "embed-text: " << words.size() << " --words but " << vectors.size()
                          << " --vectors: give them in pairs");
  const bool with_queries = !queries.empty();
  EC_CHECK(with_queries == !queries_out.empty() && with_queries == !query_ids_out.empty(), kUsage,
           "embed-text: --queries, --queries-out and --query-ids-out go together");
  // Every output is checked before any work.
  check_float_output(out);
  check_output_path(ids_out);
  if (with_queries) {
    check_float_output(queries_out);
    check_output_path(query_ids_out);
  }
  std::set<std::string> outputs = {out, ids_out};
  if (with_queries) outputs.insert({queries_out, query_ids_out});
  EC_CHECK(outputs.size() == (with_queries ? 4u : 2u), kUsage,
           "embed-text: the output paths must differ");

  const TextCollection corpus = read_text_collection(docs);
  TextCollection qs;
  if (with_queries) qs = read_text_collection(queries);
  const WordVectors vocab = load_word_vectors(words, vectors);
  SifEncoder enc(vocab, sif);
  enc.train(corpus.texts);
  SifStats cs, qstats;
  const FloatMatrix x = enc.apply(corpus.texts, &cs);
  FloatMatrix q;
  if (with_queries) q = enc.apply(qs.texts, &qstats);

  write_floats(out, x.view());
  write_ids_file(ids_out, corpus.ids);
  if (with_queries) {
    write_floats(queries_out, q.view());
    write_ids_file(query_ids_out, qs.ids);
  }
  auto report = [&](const char* what, const SifStats& s) {
    if (!quiet)
      std::cerr << "[embed-text] " << what << ": " << s.texts << " texts, " << s.tokens
                << " tokens, " << percent(s.in_vocab_tokens, s.tokens) << " in vocabulary\n";
    if (s.empty_texts)
      warn("embed-text", std::to_string(s.empty_texts) + " " + what +
                             " texts have no in-vocabulary word and are zero vectors");
  };
  if (!quiet)
    std::cerr << "[embed-text] vocabulary: " << vocab.words.size() << " words, d=" << vocab.x.d
              << "; SIF a=" << sif.a << ", rmpc=" << sif.rmpc << "\n";
  report("corpus", cs);
  if (with_queries) report("query", qstats);
  if (!quiet)
    std::cerr << "[embed-text] wrote " << out << " (" << x.n << " x " << x.d << ")"
              << (with_queries ? " and " + queries_out + " (" + std::to_string(q.n) + " x " +
                                     std::to_string(q.d) + ")"
                               : std::string())
              << "\n";
  return 0;
}

// ---- eval -----------------------------------------------------------------------------------

int cmd_eval(int argc, char** argv) {
  std::string run_path, qrels_path, metrics_list, format, out, corpus, corpus_ids, queries,
      query_ids, search_metric, run_out;
  size_t depth = 0;
  int threads = 0;
  po::options_description desc(
      "Retrieval quality against relevance judgments, with trec_eval's definitions\n"
      "(docs/metrics.md). Queries of the qrels that the run lacks score 0 (trec_eval -c);\n"
      "queries without a relevant document, and run queries without qrels, are skipped and\n"
      "counted.\n\n"
      "eval options");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("run", po::value(&run_path), "TREC run `qid Q0 docid rank score tag` (ranked by score, trec_eval ties)")
      ("qrels", po::value(&qrels_path)->required(),
       "relevance judgments: TREC `qid 0|Q0 docid rel`, or BEIR TSV with a `query-id corpus-id score` header")
      ("metrics", po::value(&metrics_list)->default_value("ndcg@10,mrr@10,recall@100"),
       "comma-separated NAME@K, NAME in ndcg mrr recall map p")
      ("corpus", po::value(&corpus), "instead of --run: corpus vectors, searched exactly (fp32) for each query")
      ("corpus-ids", po::value(&corpus_ids),
       "ids of the corpus rows; with --run, qrels documents are also checked against them")
      ("queries", po::value(&queries), "query vectors (with --corpus)")
      ("query-ids", po::value(&query_ids), "ids of the query rows (with --corpus)")
      ("search-metric", po::value(&search_metric)->default_value("ip"),
       "ip | l2 | angular, for the exact search (with --corpus)")
      ("depth", po::value(&depth)->default_value(0),
       "documents retrieved per query with --corpus (0 = the largest metric cutoff)")
      ("run-out", po::value(&run_out), "with --corpus: also write the search results as a TREC run")
      ("format", po::value(&format)->default_value("table"), "table | jsonl")
      ("out", po::value(&out), "write the results here (atomically) instead of stdout")
      ("per-query", "also report every evaluated query")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)");
  // clang-format on
  po::variables_map vm;
  if (!parse_command_line("eval", desc, argc, argv, vm,
                          "--qrels QRELS (--run RUN | --corpus C --corpus-ids CI --queries Q "
                          "--query-ids QI) [--metrics ndcg@10,mrr@10,recall@100] "
                          "[--format table|jsonl] [--out FILE] [--per-query]"))
    return 0;
  const bool per_query = vm.count("per-query") > 0;
  set_omp_threads(threads);
  EC_CHECK(format == "table" || format == "jsonl", kUsage,
           "--format must be table or jsonl, not '" << format << "'");
  const std::vector<RetrievalMetric> metrics = parse_retrieval_metrics(metrics_list);
  const bool search = !corpus.empty();
  EC_CHECK(search != !run_path.empty(), kUsage,
           "eval: give either --run, or --corpus with --corpus-ids, --queries and --query-ids");
  if (search) {
    EC_CHECK(!corpus_ids.empty() && !queries.empty() && !query_ids.empty(), kUsage,
             "eval: --corpus needs --corpus-ids, --queries and --query-ids");
  } else {
    EC_CHECK(queries.empty() && query_ids.empty() && run_out.empty() && vm["depth"].defaulted(),
             kUsage,
             "eval: --queries, --query-ids, --depth and --run-out go with --corpus, not --run");
  }
  if (!out.empty()) check_output_path(out);
  if (!run_out.empty()) check_output_path(run_out);

  const Qrels qrels = read_qrels(qrels_path);
  std::vector<std::string> cids;
  if (!corpus_ids.empty()) cids = read_ids_file(corpus_ids);
  Run run;
  if (search) {
    const Metric metric = parse_metric(search_metric);
    FloatMatrix base = read_floats(corpus);
    FloatMatrix q = read_floats(queries);
    const std::vector<std::string> qids = read_ids_file(query_ids);
    EC_CHECK(cids.size() == base.n, kBadInput,
             corpus_ids << " has " << cids.size() << " ids but " << corpus << " has " << base.n
                        << " rows");
    EC_CHECK(
        qids.size() == q.n, kBadInput,
        query_ids << " has " << qids.size() << " ids but " << queries << " has " << q.n << " rows");
    EC_CHECK(base.d == q.d, kBadInput,
             corpus << " has d=" << base.d << " but " << queries << " has d=" << q.d);
    size_t max_k = 0;
    for (const auto& m : metrics) max_k = std::max(max_k, m.k);
    if (depth == 0) depth = std::min(max_k, base.n);
    EC_CHECK(depth >= 1 && depth <= base.n, kBadInput,
             "--depth " << depth << " must be in [1, " << base.n << "] (the corpus has " << base.n
                        << " rows)");
    if (metric == Metric::kAngular) {
      normalize_rows(base);
      normalize_rows(q);
    }
    const Metric m = metric == Metric::kAngular ? Metric::kIP : metric;
    KnnResult r = exact_knn(base.view(), q.view(), depth, m);
    // Run scores are "higher is better": negated squared distances for L2.
    if (m == Metric::kL2)
      for (float& s : r.scores) s = -s;
    run = make_run(r.ids, r.scores, r.nq, r.k, qids, cids);
    if (!run_out.empty()) write_trec_run(run_out, run, "embcomp-exact");
  } else {
    run = read_trec_run(run_path);
  }

  const RunEvaluation ev = evaluate_run(run, qrels, metrics);

  // Ids that cannot match are reported, never silently scored 0.
  std::unordered_set<std::string> known;
  const bool against_corpus = !cids.empty();
  if (against_corpus) {
    known.insert(cids.begin(), cids.end());
  } else {
    for (const auto& [qid, docs] : run)
      for (const auto& d : docs) known.insert(d.docid);
  }
  size_t relevant = 0, unknown_relevant = 0;
  std::set<std::string> unknown_docs;
  for (const auto& [qid, judged] : qrels.by_query) {
    for (const auto& [doc, label] : judged) {
      if (label <= 0) continue;
      ++relevant;
      if (!known.count(doc)) {
        ++unknown_relevant;
        unknown_docs.insert(doc);
      }
    }
  }
  size_t matched_queries = 0;
  for (const auto& [qid, docs] : run) matched_queries += qrels.by_query.count(qid);
  const std::string where = against_corpus ? "the corpus ids " + corpus_ids : "the run";
  if (matched_queries == 0) {
    warn("eval", "no query id of the run is in the qrels (run '" + run.begin()->first +
                     "', qrels '" + qrels.by_query.begin()->first +
                     "'): every evaluated query scores 0; check that they use the same ids");
  }
  if (unknown_relevant > 0) {
    warn("eval",
         std::to_string(unknown_relevant) + " of " + std::to_string(relevant) +
             " relevant judgments (" + std::to_string(unknown_docs.size()) + " documents, e.g. '" +
             *unknown_docs.begin() + "') name documents absent from " + where +
             (unknown_relevant == relevant ? " (all of them: check the document ids)" : "") +
             (against_corpus ? "; they can never be retrieved"
                             : "; give --corpus-ids to check them against the corpus"));
  }
  if (ev.queries_missing_from_run > 0)
    warn("eval", std::to_string(ev.queries_missing_from_run) + " of " + std::to_string(ev.queries) +
                     " evaluated queries are missing from the run and score 0");
  if (ev.run_queries_without_qrels > 0)
    warn("eval", std::to_string(ev.run_queries_without_qrels) + " of " +
                     std::to_string(ev.run_queries) +
                     " run queries have no qrels and are not evaluated");
  if (ev.queries_skipped_no_relevant > 0)
    warn("eval", std::to_string(ev.queries_skipped_no_relevant) +
                     " qrels queries have no relevant document and are skipped");

  std::string text;
  if (format == "jsonl") {
    nlohmann::ordered_json s;
    s["run"] = search ? "exact " + search_metric + " search of " + corpus : run_path;
    s["qrels"] = qrels_path;
    for (size_t j = 0; j < metrics.size(); ++j) s[metrics[j].key()] = ev.means[j];
    s["queries"] = ev.queries;
    s["queries_missing_from_run"] = ev.queries_missing_from_run;
    s["queries_skipped_no_relevant"] = ev.queries_skipped_no_relevant;
    s["run_queries"] = ev.run_queries;
    s["run_queries_without_qrels"] = ev.run_queries_without_qrels;
    s["qrels_queries"] = ev.qrels_queries;
    s["relevant_judgments"] = relevant;
    s["relevant_judgments_unknown_docs"] = unknown_relevant;
    s["unknown_docs_checked_against"] = against_corpus ? "corpus_ids" : "run";
    if (search) s["depth"] = depth;
    text += s.dump() + "\n";
    if (per_query) {
      for (const auto& qs : ev.per_query) {
        nlohmann::ordered_json r;
        r["query"] = qs.qid;
        r["relevant"] = qs.relevant;
        r["missing_from_run"] = qs.missing_from_run;
        for (size_t j = 0; j < metrics.size(); ++j) r[metrics[j].key()] = qs.values[j];
        text += r.dump() + "\n";
      }
    }
  } else {
    auto pad = [](const std::string& s, size_t w) {
      return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' ');
    };
    if (per_query) {
      size_t w = 8;
      for (const auto& qs : ev.per_query) w = std::max(w, qs.qid.size() + 2);
      text += pad("query", w);
      for (const auto& m : metrics) text += pad(m.name(), 12);
      text += "\n";
      for (const auto& qs : ev.per_query) {
        text += pad(qs.qid, w);
        for (double v : qs.values) text += pad(fixed4(v), 12);
        text += qs.missing_from_run ? "(missing from the run)\n" : "\n";
      }
      text += pad("all", w);
      for (double v : ev.means) text += pad(fixed4(v), 12);
      text += "\n\n";
    } else {
      text += pad("metric", 14) + "mean\n";
      for (size_t j = 0; j < metrics.size(); ++j)
        text += pad(metrics[j].name(), 14) + fixed4(ev.means[j]) + "\n";
    }
    text += "queries: " + std::to_string(ev.queries) + " evaluated (" +
            std::to_string(ev.queries_missing_from_run) + " missing from the run, scored 0), " +
            std::to_string(ev.queries_skipped_no_relevant) +
            " skipped without a relevant document, " +
            std::to_string(ev.run_queries_without_qrels) + " run queries without qrels\n";
    text = trim_line_ends(text);
  }
  if (out.empty()) {
    std::cout << text << std::flush;
  } else {
    write_text_file(out, text);
  }
  return 0;
}

}  // namespace embcomp
