// Helpers shared by the embcomp subcommands (toolkit/main.cpp and toolkit/cmd_*.cpp).
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "toolkit/dataset.h"

namespace embcomp {

/// Parses a subcommand's options into vm; prints help and returns false on --help.
/// Throws kUsage naming the command on an unknown or malformed option, and on a negative
/// value for an unsigned option (reject_negative_unsigned).
bool parse_command_line(const std::string& cmd, const boost::program_options::options_description& desc,
                        int argc, char** argv, boost::program_options::variables_map& vm,
                        const std::string& synopsis);

/// Throws kUsage when an option stored in an unsigned integer is given a negative value
/// ("--k -1", "--seed -1"): boost would wrap it to 2^64 - 1. parse_command_line calls it;
/// a command that parses its own command line calls it before po::store.
void reject_negative_unsigned(const std::string& cmd,
                              const boost::program_options::options_description& desc,
                              const boost::program_options::parsed_options& parsed);

/// --data, --base, --queries, --gt, --metric, --dim.
void add_dataset_options(boost::program_options::options_description& desc, DatasetSpec& ds);

/// Fails with kBadInput when out's folder does not exist or is not writable, or out is a
/// folder: checked before any work, so a bad --out never costs a run.
void check_output_path(const std::string& out);

/// Splits "a; b;c" on sep, trimming spaces and tabs around each item; empty items are
/// dropped unless keep_empty (then "a,,b" gives "a", "", "b").
std::vector<std::string> split_list(const std::string& text, char sep, bool keep_empty = false);

/// Writes text to path atomically (temporary name, then rename).
void write_text_file(const std::string& path, const std::string& text);

}  // namespace embcomp
