// A real `cairn serve --port 0` child process for tests that talk to the
// server over loopback: started with its stderr in a file, ready once it
// printed {"event":"listening",...,"port":N}; stopped with SIGTERM (then
// SIGKILL) at scope exit.
#ifndef CAIRN_TESTS_SERVE_PROCESS_H_
#define CAIRN_TESTS_SERVE_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

extern char** environ;

namespace cairn::testing {

class ServeProcess {
 public:
  // `data` is the data directory; `extra` more flags (e.g. --api-key K).
  ServeProcess(const std::string& data, const std::vector<std::string>& extra = {})
      : log_(data + ".stderr") {
    std::vector<std::string> args = {CAIRN_BINARY_PATH, "serve", "--data",    data,
                                     "--port",          "0",     "--workers", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    // Wait for the listening line (the server creates its data directory
    // and opens collections first).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pid_ > 0 && port_ == 0 && std::chrono::steady_clock::now() < give_up) {
      std::ifstream in(log_);
      std::string line;
      while (std::getline(in, line)) {
        nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("event", "") == "listening") port_ = j.value("port", 0);
      }
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~ServeProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {  // a graceful stop checkpoints: give it 30 s
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool ok() const { return pid_ > 0 && port_ != 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_SERVE_PROCESS_H_
