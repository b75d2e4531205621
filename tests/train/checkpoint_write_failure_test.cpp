// Checkpoints under write failures: a full disk (RLIMIT_FSIZE in a forked child, SIGXFSZ ignored
// so the write fails with EFBIG as on a full file system) and a read-only folder each give an
// error naming the checkpoint and the cause, leave the previous checkpoint intact and loadable,
// leave no temp file behind, and the run continues from that checkpoint afterwards.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <functional>

#include "mmfuse/train/checkpoint.h"
#include "test_util.h"

namespace mmfuse::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Runs `fn` in a forked child; returns its exception message ("" when it returned normally).
std::string message_from_child(const std::function<void()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string msg;
    try {
      fn();
    } catch (const std::exception& e) {
      msg = e.what();
    }
    if (!msg.empty() && ::write(fds[1], msg.data(), msg.size()) < 0) ::_exit(2);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out += " [child died]";
  return out;
}

// A model with momentum state, trained one step per call so every checkpoint differs.
struct CheckpointedRun {
  torch::nn::Linear model{torch::nn::LinearOptions(64, 64)};
  torch::optim::SGD optimizer{model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9)};
  int64_t step = 0;
  CheckpointedRun() {  // the same start for every instance
    torch::NoGradGuard no_grad;
    model->weight.copy_(torch::linspace(-0.1, 0.1, 64 * 64).reshape({64, 64}));
    model->bias.fill_(0.01);
  }
  void train_step() {
    optimizer.zero_grad();
    model->forward(torch::ones({2, 64})).pow(2).sum().backward();
    optimizer.step();
    ++step;
  }
  CheckpointParts parts() { return {model.get(), &optimizer, {}}; }
  void save(const std::string& path) { save_checkpoint(path, parts(), {{"step", step}}); }
};

std::vector<std::string> leftover_temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

// The previous checkpoint (step 1) loads into a fresh run, and resuming from it reproduces the
// weights of the uninterrupted run after its second step; then saving works again.
void expect_previous_intact_and_resumable(const std::string& path,
                                          const CheckpointedRun& uninterrupted) {
  CheckpointedRun resumed;
  nlohmann::json state = load_checkpoint(path, resumed.parts());
  ASSERT_EQ(state["step"].get<int64_t>(), 1);
  resumed.step = 1;
  resumed.train_step();
  EXPECT_TRUE(torch::equal(resumed.model->weight, uninterrupted.model->weight));
  resumed.save(path);
  EXPECT_EQ(read_checkpoint_state(path)["step"].get<int64_t>(), 2);
}

TEST(CheckpointWriteFailure, FullDiskKeepsThePreviousCheckpointAndResumeWorks) {
  testing::TempDir dir;
  const std::string path = dir.file("last.safetensors");
  CheckpointedRun run;
  run.train_step();
  run.save(path);  // step 1
  const auto size = fs::file_size(path);
  run.train_step();
  const std::string error = message_from_child([&] {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlim_t limit = size / 2;  // room for half a checkpoint
    rlimit rl{limit, limit};
    ::setrlimit(RLIMIT_FSIZE, &rl);
    run.save(path);  // step 2
  });
  EXPECT_THAT(error, HasSubstr(path + ": write failed after"));
  EXPECT_THAT(error, HasSubstr("File too large"));
  EXPECT_THAT(error, HasSubstr("previous file at this path is untouched"));
  EXPECT_EQ(fs::file_size(path), size);
  EXPECT_THAT(leftover_temp_files(dir.str()), ::testing::IsEmpty());
  expect_previous_intact_and_resumable(path, run);
}

TEST(CheckpointWriteFailure, ReadOnlyFolderKeepsThePreviousCheckpointAndResumeWorks) {
  testing::TempDir dir;
  const std::string folder = dir.file("checkpoints");
  const std::string path = folder + "/last.safetensors";
  CheckpointedRun run;
  run.train_step();
  run.save(path);  // step 1
  const auto size = fs::file_size(path);
  run.train_step();
  ::chmod(folder.c_str(), 0555);
  const std::string error = message_from_child([&] {
    // root ignores permissions: drop to an unprivileged user, as a real read-only folder would be
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) throw Error("setuid");
    run.save(path);  // step 2
  });
  ::chmod(folder.c_str(), 0755);
  EXPECT_THAT(error, HasSubstr(path + ": cannot create the temp file"));
  EXPECT_THAT(error, HasSubstr("Permission denied"));
  EXPECT_THAT(error, HasSubstr("the folder is not writable"));
  EXPECT_EQ(fs::file_size(path), size);
  EXPECT_THAT(leftover_temp_files(folder), ::testing::IsEmpty());
  expect_previous_intact_and_resumable(path, run);
}

}  // namespace
}  // namespace mmfuse::train
