// Tests for AtomicFile (toolkit/io.h) and the writers built on it, under hostile conditions
// (reliability review #5, #6, #14, #26): device nodes, FIFOs, sockets and symlinks at the
// output path, a symlink planted at a temporary's name, a full disk (simulated with
// RLIMIT_FSIZE), temporaries left by a killed process. Also BinaryWriter on an AtomicFile.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "eval/qrels.h"
#include "test_data.h"
#include "toolkit/cli.h"
#include "toolkit/error.h"
#include "toolkit/io.h"
#include "toolkit/serialize.h"

namespace embcomp {
namespace {

namespace fs = std::filesystem;
using testing::slurp;

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)

std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return testing::temp_dir(std::string(info->test_suite_name()) + "_" + info->name());
}

void put_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

/// Sorted names in dir (hidden ones included).
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// The message of the embcomp::Error f throws, checking its kind ("" and a failure otherwise).
std::string error_of(const std::function<void()>& f, ErrorKind kind = ErrorKind::kBadInput) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(int(e.kind()), int(kind)) << e.message();
    return e.message();
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

/// Runs f in a forked child and returns its exit status as waitpid reports it. The child exits
/// with 0 when f returns, 10 + kind for an embcomp::Error, 9 for another exception; alarm()
/// kills it with SIGALRM after timeout_s, so that a reader blocking on a FIFO fails the test
/// instead of hanging the suite. setup runs first in the child (resource limits, signals).
int in_child(
    const std::function<void()>& f, unsigned timeout_s = 20,
    const std::function<void()>& setup = [] {}) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(timeout_s);
    setup();
    int code = 0;
    try {
      f();
    } catch (const Error& e) {
      code = 10 + int(e.kind());
    } catch (...) {
      code = 9;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

int exit_for(ErrorKind kind) { return W_EXITCODE(10 + int(kind), 0); }

/// A pid that is not running: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

// ---- the temporary ----------------------------------------------------------------------------

TEST(AtomicFile, TemporaryIsCreatedExclusivelyWithAnUnpredictableName) {
  const std::string dir = test_dir();
  const std::string path = dir + "/out.txt";
  AtomicFile a(path), b(path);
  const std::regex pattern(std::regex_replace(dir, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                           R"(/\.out\.txt\.embcomp\.tmp\.)" + std::to_string(::getpid()) +
                           R"(\.[0-9A-Za-z]{6})");
  EXPECT_TRUE(std::regex_match(a.tmp_path(), pattern)) << a.tmp_path();
  EXPECT_TRUE(std::regex_match(b.tmp_path(), pattern)) << b.tmp_path();
  EXPECT_NE(a.tmp_path(), b.tmp_path());
  struct stat st {};
  ASSERT_EQ(::lstat(a.tmp_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 0);
  EXPECT_FALSE(fs::exists(path));
}

TEST(AtomicFile, WritePathOpensTheTemporaryItself) {
  const std::string dir = test_dir();
  AtomicFile f(dir + "/out.txt");
  {
    std::ofstream os(f.write_path(), std::ios::binary);
    os << "through write_path";
  }
  EXPECT_EQ(slurp(f.tmp_path()), "through write_path");
  f.commit();
  EXPECT_EQ(slurp(dir + "/out.txt"), "through write_path");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out.txt"});
}

// Appendix B #10: a symlink planted at the temporary name of the old scheme
// ("<out>.tmp.<pid>") made embcomp overwrite the link's target, and the final path became
// the link.
TEST(AtomicFile, SymlinkAtTheOldPredictableTemporaryNameIsNotFollowed) {
  const std::string dir = test_dir();
  const std::string victim = dir + "/victim.txt", out = dir + "/o.fvecs";
  put_file(victim, "precious");
  fs::create_symlink(victim, out + ".tmp." + std::to_string(::getpid()));
  const FloatMatrix x = testing::low_rank(10, 4, 2, 0.1f, 1);
  write_fvecs(out, x.view());
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_FALSE(fs::is_symlink(out));
  EXPECT_EQ(read_floats(out).values, x.values);
}

// The temporary's name is unpredictable, but an attacker who can write to the folder could
// still swap the temporary for a symlink while it is being written: write_path() keeps
// writing into the file created here, and commit() refuses the swapped name.
TEST(AtomicFile, TemporarySwappedForASymlinkIsNotFollowedNorCommitted) {
  const std::string dir = test_dir();
  const std::string victim = dir + "/victim.txt", out = dir + "/out.txt";
  put_file(victim, "precious");
  AtomicFile f(out);
  ASSERT_EQ(f.write_path().rfind("/proc/self/fd/", 0), 0u)
      << "this test needs /proc; without it write_path() is the name itself";
  fs::remove(f.tmp_path());
  fs::create_symlink(victim, f.tmp_path());
  {
    std::ofstream os(f.write_path(), std::ios::binary | std::ios::trunc);
    os << "evil";
  }
  // Opening the name itself: its last component is a symlink, refused (O_NOFOLLOW).
  EXPECT_CONTAINS(error_of([&] { BinaryWriter w(f.tmp_path(), out); }, ErrorKind::kRuntime),
                  "cannot create");
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_CONTAINS(error_of([&] { f.commit(); }, ErrorKind::kRuntime), "was replaced");
  EXPECT_FALSE(fs::exists(out));
}

TEST(AtomicFile, DestructorRemovesTheTemporaryButNotAFileSwappedIn) {
  const std::string dir = test_dir();
  {
    AtomicFile f(dir + "/a.txt");
    f.write("half", 4);
  }
  EXPECT_TRUE(names_in(dir).empty());
  {
    AtomicFile f(dir + "/b.txt");
    fs::remove(f.tmp_path());
    put_file(f.tmp_path(), "someone else's");
  }
  EXPECT_EQ(names_in(dir).size(), 1u) << "a file that is not ours is left alone";
}

// ---- the final path ---------------------------------------------------------------------------

/// Every writer must refuse path with kBadInput naming it and leave the node as it was.
void expect_every_writer_refuses(const std::string& path, const std::string& want) {
  const FloatMatrix x = testing::low_rank(10, 4, 2, 0.1f, 2);
  const std::vector<std::function<void()>> writers = {
      [&] { write_text_file(path, "text"); },
      [&] { write_fvecs(path, x.view()); },
      [&] { write_npy(path, x.view()); },
      [&] { write_ann_hdf5(path, x.view(), x.view(), {}, {}, "euclidean"); },
      [&] {
        write_ids_file(path, {"a", "b"});
      },
      [&] { AtomicFile f(path); },
  };
  for (size_t i = 0; i < writers.size(); ++i) {
    EXPECT_CONTAINS(error_of(writers[i]), path + ": cannot write: " + want) << "writer " << i;
  }
}

TEST(AtomicFile, RefusesADeviceNodeAtTheOutputPath) {
  const std::string dir = test_dir();
  const std::string null = dir + "/null";
  // Appendix B #10: a node like /dev/null (character device 1,3) became a regular file.
  if (::mknod(null.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod needs CAP_MKNOD: " << std::strerror(errno);
  }
  expect_every_writer_refuses(null, "is a character device, not a regular file");
  struct stat st {};
  ASSERT_EQ(::lstat(null.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"null"});
}

TEST(AtomicFile, RefusesAFifoASocketAndADirectory) {
  const std::string dir = test_dir();
  const std::string fifo = dir + "/fifo", sock = dir + "/sock", sub = dir + "/sub";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0666), 0);
  fs::create_directory(sub);
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::strcpy(addr.sun_path, sock.c_str());
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  expect_every_writer_refuses(fifo, "is a FIFO, not a regular file");
  expect_every_writer_refuses(sock, "is a socket, not a regular file");
  expect_every_writer_refuses(sub, "is a directory");
  ::close(s);
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_TRUE(fs::is_socket(sock));
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"fifo", "sock", "sub"}));
}

// Decision: a symlink at the output path is refused (not replaced, not written through).
TEST(AtomicFile, RefusesASymlinkAtTheOutputPath) {
  const std::string dir = test_dir();
  const std::string target = dir + "/target.txt", link = dir + "/link.txt";
  put_file(target, "kept");
  fs::create_symlink(target, link);
  expect_every_writer_refuses(link, "is a symbolic link");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(slurp(target), "kept");
  fs::create_symlink(dir + "/nowhere", dir + "/dangling");
  EXPECT_CONTAINS(error_of([&] { write_text_file(dir + "/dangling", "x"); }), "is a symbolic link");
  EXPECT_FALSE(fs::exists(dir + "/nowhere"));
}

TEST(AtomicFile, CommitRefusesANodeThatAppearedAtTheOutputPath) {
  const std::string dir = test_dir();
  const std::string out = dir + "/out.txt";
  AtomicFile f(out);
  f.write("new", 3);
  ASSERT_EQ(::mkfifo(out.c_str(), 0666), 0);
  EXPECT_CONTAINS(error_of([&] { f.commit(); }), "is a FIFO");
  EXPECT_TRUE(fs::is_fifo(out));
}

TEST(AtomicFile, ReplacesARegularFile) {
  const std::string dir = test_dir();
  put_file(dir + "/out.txt", "old");
  write_text_file(dir + "/out.txt", "new");
  EXPECT_EQ(slurp(dir + "/out.txt"), "new");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out.txt"});
}

// ---- a full disk (#14) --------------------------------------------------------------------------

/// Limits the file size the child may write to 1000 bytes; a write beyond fails with EFBIG
/// (SIGXFSZ ignored), the way a full disk fails with ENOSPC.
void small_fsize() {
  ::signal(SIGXFSZ, SIG_IGN);
  const rlimit lim{1000, 1000};
  ::setrlimit(RLIMIT_FSIZE, &lim);
}

TEST(AtomicFile, FullDiskFailsWithRuntimeErrorAndLeavesNothing) {
  const std::string dir = test_dir();
  const std::string big(64 * 1024, 'x'), small(100, 'y');
  const FloatMatrix x = testing::low_rank(200, 16, 4, 0.1f, 3);
  embcomp::Run run;
  for (int i = 0; i < 100; ++i) run["q" + std::to_string(i)] = {{"d" + std::to_string(i), 1.0}};
  const std::vector<std::pair<std::string, std::function<void()>>> writers = {
      {"write_text_file", [&] { write_text_file(dir + "/t.txt", big); }},
      {"write_trec_run", [&] { write_trec_run(dir + "/r.tsv", run, "tag"); }},
      {"write_fvecs", [&] { write_fvecs(dir + "/x.fvecs", x.view()); }},
      {"write_npy", [&] { write_npy(dir + "/x.npy", x.view()); }},
      {"write_floats .h5", [&] { write_floats(dir + "/x.h5", x.view()); }},
      {"BinaryWriter",
       [&] {
         AtomicFile f(dir + "/b.bin");
         BinaryWriter w(f);
         w.begin_section("DATA");
         w.put_vector(x.values);
         w.end_section();
         w.close();
         f.commit();
       }},
  };
  for (const auto& [name, write] : writers) {
    EXPECT_EQ(in_child(write, 60, small_fsize), exit_for(ErrorKind::kRuntime)) << name;
    EXPECT_TRUE(names_in(dir).empty()) << name;
  }
  // The limit is what fails them: a small text goes through.
  EXPECT_EQ(in_child([&] { write_text_file(dir + "/s.txt", small); }, 60, small_fsize), 0);
  EXPECT_EQ(slurp(dir + "/s.txt"), small);
}

// The CLI: `eval --out` with a file-size limit of 512 bytes (the reproducer of #14 used a full
// tmpfs and got exit 0 with a 0-byte file).
TEST(AtomicFile, CliOutputOnAFullDiskExitsOneAndLeavesNoFile) {
  const std::string dir = test_dir(), out_dir = dir + "/out";
  fs::create_directory(out_dir);
  std::string qrels, run;
  for (int q = 0; q < 60; ++q) {
    qrels += "q" + std::to_string(q) + " 0 d" + std::to_string(q) + " 1\n";
    run += "q" + std::to_string(q) + " Q0 d" + std::to_string(q) + " 1 1.0 t\n";
  }
  put_file(dir + "/qrels.txt", qrels);
  put_file(dir + "/run.tsv", run);
  const std::string args = "eval --qrels " + dir + "/qrels.txt --run " + dir +
                           "/run.tsv --per-query --out " + out_dir + "/e.txt";
  const testing::CliRun ok = testing::run_embcomp(dir, args);
  ASSERT_EQ(ok.code, 0) << ok.err;
  ASSERT_GT(fs::file_size(out_dir + "/e.txt"), 512u) << "the output must exceed the limit";
  fs::remove(out_dir + "/e.txt");
  const testing::CliRun full = testing::run_embcomp(dir, args, "trap '' XFSZ; ulimit -f 1;");
  EXPECT_EQ(full.code, 1) << full.err;
  EXPECT_EQ(std::count(full.err.begin(), full.err.end(), '\n'), 1) << full.err;
  EXPECT_CONTAINS(full.err, "write failed");
  EXPECT_TRUE(names_in(out_dir).empty());
}

// ---- temporaries left by a killed process (#26) ------------------------------------------------

TEST(AtomicFile, RemovesTemporariesOfDeadProcessesForTheSameTarget) {
  const std::string dir = test_dir();
  const std::string dead = std::to_string(dead_pid()), live = std::to_string(::getppid());
  const std::string stale = ".out.txt.embcomp.tmp." + dead + ".AbC123";
  const std::vector<std::string> kept = {
      ".out.txt.embcomp.tmp." + live + ".AbC123",    // its writer still runs
      ".other.txt.embcomp.tmp." + dead + ".AbC123",  // another target
      ".out.txt.embcomp.tmp." + dead + ".AbC12",     // not a name AtomicFile makes
      "out.txt.tmp." + dead,                         // the old scheme's name: not ours to judge
  };
  put_file(dir + "/" + stale, "left by SIGKILL");
  for (const auto& k : kept) put_file(dir + "/" + k, "keep");
  fs::create_directory(dir + "/.out.txt.embcomp.tmp." + dead + ".Dir123");  // not a file
  write_text_file(dir + "/out.txt", "done");
  std::vector<std::string> want = kept;
  want.push_back("out.txt");
  want.push_back(".out.txt.embcomp.tmp." + dead + ".Dir123");
  std::sort(want.begin(), want.end());
  EXPECT_EQ(names_in(dir), want);
}

TEST(AtomicFile, SigkillLeavesATemporaryTheNextWriteRemoves) {
  const std::string dir = test_dir();
  const pid_t pid = ::fork();
  if (pid == 0) {
    AtomicFile f(dir + "/out.txt");
    f.write("partial", 7);
    ::kill(::getpid(), SIGKILL);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(names_in(dir).size(), 1u);
  write_text_file(dir + "/out.txt", "complete");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out.txt"});
  EXPECT_EQ(slurp(dir + "/out.txt"), "complete");
}

// ---- BinaryWriter ------------------------------------------------------------------------------

TEST(AtomicFile, BinaryWriterOnAnAtomicFileRoundTripsLargeSections) {
  const std::string dir = test_dir();
  const std::string path = dir + "/b.bin";
  std::vector<uint8_t> big(3u << 20);  // larger than the writer's buffer
  for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 7 + 1);
  {
    AtomicFile f(path);
    BinaryWriter w(f);
    w.begin_section("HEAD");
    w.put_string("spec");
    w.begin_section("BODY");  // its length is patched after the big payload went to the file
    w.put_vector(big);
    w.end_section();
    w.put_u32(42);
    w.end_section();
    w.pad_to(64);
    w.put_u64(7);
    w.close();
    f.commit();
  }
  BinaryReader r(path, path);
  r.begin_section("HEAD");
  EXPECT_EQ(r.get_string(), "spec");
  r.begin_section("BODY");
  EXPECT_EQ(r.get_vector<uint8_t>(), big);
  r.end_section();
  EXPECT_EQ(r.get_u32(), 42u);
  r.end_section();
  r.skip_to_alignment(64);
  EXPECT_EQ(r.get_u64(), 7u);
  EXPECT_EQ(r.position(), r.size());
}

// ---- readers refuse FIFOs without blocking (#10)
// -------------------------------------------------

TEST(AtomicFile, ReadersRefuseAFifoWithoutBlocking) {
  const std::string dir = test_dir();
  const std::vector<std::pair<std::string, std::function<void(const std::string&)>>> readers = {
      {"qrels", [](const std::string& p) { read_qrels(p); }},
      {"run", [](const std::string& p) { read_trec_run(p); }},
      {"ids", [](const std::string& p) { read_ids_file(p); }},
      {"index", [](const std::string& p) { BinaryReader r(p, p); }},
      {"hdf5.h5", [](const std::string& p) { read_floats(p); }},
      {"fvecs.fvecs", [](const std::string& p) { read_floats(p); }},
  };
  for (const auto& [name, read] : readers) {
    const std::string fifo = dir + "/" + name;
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0666), 0);
    // The child exits 0 only for kBadInput saying why; a reader that blocks is killed.
    const int status = in_child([&] {
      try {
        read(fifo);
      } catch (const Error& e) {
        const bool why = e.message().find("not a regular file") != std::string::npos;
        ::_exit(e.kind() == ErrorKind::kBadInput && why ? 0 : 3);
      }
    });
    EXPECT_EQ(status, 0) << name << ": " << (WIFSIGNALED(status) ? "blocked" : "wrong error");
  }
}

TEST(AtomicFile, CliEvalWithAFifoExitsTwoQuickly) {
  const std::string dir = test_dir();
  ASSERT_EQ(::mkfifo((dir + "/qrels.txt").c_str(), 0666), 0);
  put_file(dir + "/run.tsv", "q1 Q0 d1 1 1.0 t\n");
  const testing::CliRun r = testing::run_embcomp(
      dir, "eval --qrels " + dir + "/qrels.txt --run " + dir + "/run.tsv", "timeout -s KILL 20");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_CONTAINS(r.err, "not a regular file");
}

}  // namespace
}  // namespace embcomp
