// Subcommands that live outside main.cpp. Each takes the arguments after `embcomp`
// (argv[0] is the command name), returns the exit code on success (0), prints its help and
// returns 0 on --help, and throws embcomp::Error on bad usage or input; main() maps the
// error to its exit code (2 usage/input, 1 runtime) and prints the one-line message.
#pragma once

namespace embcomp {

/// `embcomp embed-text`: SIF text embeddings from word vectors (eval/text_embed.h).
int cmd_embed_text(int argc, char** argv);

/// `embcomp eval`: retrieval metrics of a run, or of exact search over embeddings, against
/// relevance judgments (eval/metrics.h).
int cmd_eval(int argc, char** argv);

/// `embcomp sweep`: every method family sized to each memory budget, a recommendation
/// per budget from a validation split, checked once on the test split (eval/sweep.h).
int cmd_sweep(int argc, char** argv);

/// `embcomp ctr-gen`: synthetic Criteo-like CTR data with a planted model
/// (eval/ctr_synthetic.h), read back as "synthetic:PATH".
int cmd_ctr_gen(int argc, char** argv);

/// `embcomp ctr-data`: loads and caches a CTR source (eval/ctr_data.h) and prints its splits.
int cmd_ctr_data(int argc, char** argv);

/// `embcomp ctr-train`: trains a CTR model with compressed embedding tables and reports
/// AUC/logloss against the table's memory (eval/ctr_train.h).
int cmd_ctr_train(int argc, char** argv);

}  // namespace embcomp
