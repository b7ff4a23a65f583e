// `signet serve` and `signet verify --remote` as a user runs them: a marked model served on a
// loopback port the OS picks is verified remotely with the same decision, mismatches and p-value
// as locally; an unmarked one is not claimed; a wrong key, a wrong model and a dead endpoint are
// clear errors; SIGTERM lets a request in flight finish. Every wait is bounded.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "serve/predict_codec.h"
#include "tests/cli/cli_run.h"
#include "tests/serve/serve_fixture.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using signet::testing::CliRun;
using signet::testing::run_signet;

namespace {

const std::string kData = " --dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 1";

struct Files {
  fs::path dir;
  std::string unmarked, marked, keys;
  Files() {
    dir = fs::temp_directory_path() / ("signet_cli_serve_" + std::to_string(getpid()));
    fs::create_directories(dir);
    unmarked = file("u.safetensors");
    marked = file("m.safetensors");
    keys = file("k.wmk");
    const CliRun t = run_signet("train --model mnist-mlp" + kData + " --epochs 2 --seed 5 --out " + unmarked);
    EXPECT_EQ(t.status, 0) << t.output;
    const CliRun e = run_signet("embed --scheme deepsigns-output" + kData + " --from " + unmarked +
                                " --keys 5 --candidates 60 --key-search random --lr 0.05 --key-seed 1 --keys-out " +
                                keys + " --out " + marked);
    EXPECT_EQ(e.status, 0) << e.output;
  }
  ~Files() { fs::remove_all(dir); }
  std::string file(const std::string& n) const { return (dir / n).string(); }
};

const Files& files() {
  static const Files f;
  return f;
}

// `signet serve ARGS --port 0 --port-file F` as a child process; SIGKILLed if still alive at the end.
class ServeProcess {
 public:
  ServeProcess(const Files& f, const std::string& name, const std::string& args) {
    const std::string port_file = f.file(name + ".port");
    log_ = f.file(name + ".log");
    fs::remove(port_file);
    const std::string cmd = "exec " + std::string(SIGNET_BIN) + " serve --port 0 --port-file " + port_file +
                            " --threads 1 " + args + " 2>" + log_;
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until && !fs::exists(port_file) && alive())
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (fs::exists(port_file)) port_ = std::stoi(signet::read_file(port_file));
  }
  ~ServeProcess() {
    if (status_ < 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The server is still writing its log: read what is there (signet::read_file refuses a file
  // that grows while it is read).
  std::string log() const {
    std::ifstream in(log_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bool alive() {
    if (status_ >= 0) return false;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_ < 0;
  }
  // SIGTERM, then the exit status (-1 when it did not exit within timeout_s).
  int terminate(double timeout_s) {
    kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (alive() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0, status_ = -1;
  std::string log_;
};

json run_json(const std::string& args) { return signet::testing::run_signet_json(args); }

TEST(CliServe, RemoteVerificationEqualsLocal) {
  const Files& f = files();
  ServeProcess marked(f, "marked", "--weights " + f.marked);
  ASSERT_GT(marked.port(), 0) << marked.log();
  ServeProcess unmarked(f, "unmarked", "--weights " + f.unmarked + " --answer scores");
  ASSERT_GT(unmarked.port(), 0) << unmarked.log();

  const json local = run_json("verify --json --keys " + f.keys + " --weights " + f.marked);
  const json remote = run_json("verify --json --keys " + f.keys + " --remote " + marked.url());
  ASSERT_TRUE(local.value("ownership_proven", false)) << local.dump();
  for (const char* field : {"mismatches", "p_value", "ownership_proven", "evidence_claimed", "theta", "keys_sha256"})
    EXPECT_EQ(remote[field], local[field]) << field << "\n" << remote.dump() << "\n" << local.dump();
  EXPECT_EQ(remote["endpoint"], marked.url());
  EXPECT_EQ(remote["queries"], local["queries"]);
  EXPECT_EQ(remote["weights_sha256"], signet::sha256_hex(signet::read_file(f.marked)));

  const json local_u = run_json("verify --json --keys " + f.keys + " --weights " + f.unmarked);
  const json remote_u = run_json("verify --json --keys " + f.keys + " --remote " + unmarked.url());
  EXPECT_FALSE(remote_u.value("ownership_proven", true)) << remote_u.dump();
  EXPECT_EQ(remote_u["mismatches"], local_u["mismatches"]);
  EXPECT_EQ(remote_u["p_value"], local_u["p_value"]);

  // Human output names the endpoint; the access log has one JSON line per request.
  const CliRun text = run_signet("verify --keys " + f.keys + " --remote " + marked.url());
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find(marked.url()), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("OWNERSHIP PROVEN"), std::string::npos) << text.output;
  EXPECT_EQ(marked.terminate(15), 0) << marked.log();
  const std::string log = marked.log();
  EXPECT_NE(log.find("\"path\":\"/v1/predict\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"status\":200"), std::string::npos) << log;
}

TEST(CliServe, AnAttackedServiceAnswersAsTheLocalAttackDoes) {
  // The service's noise comes from the same seed as the local attack's: the same answers.
  const Files& f = files();
  const std::string attack = " --query-noise 0.3 --round-scores 1 --oracle-seed 3";
  ServeProcess s(f, "attacked", "--weights " + f.marked + " --answer scores" + attack);
  ASSERT_GT(s.port(), 0) << s.log();
  const json local = run_json("verify --json --keys " + f.keys + " --weights " + f.marked + attack);
  const json remote = run_json("verify --json --keys " + f.keys + " --remote " + s.url());
  EXPECT_EQ(remote["mismatches"], local["mismatches"]) << remote.dump() << "\n" << local.dump();
  EXPECT_EQ(remote["p_value"], local["p_value"]);
  const json clean = run_json("verify --json --keys " + f.keys + " --weights " + f.marked);
  EXPECT_NE(local["oracle"], clean["oracle"]);  // the attack was applied
}

TEST(CliServe, AuthLimitsAndErrors) {
  const Files& f = files();
  const std::string key = f.file("api.key"), wrong = f.file("wrong.key");
  signet::write_file_atomic(key, "correct-horse-battery\n", 0600);
  signet::write_file_atomic(wrong, "incorrect-horse\n", 0600);
  ServeProcess s(f, "auth", "--weights " + f.marked + " --api-key-file " + key + " --query-budget 8");
  ASSERT_GT(s.port(), 0) << s.log();
  const std::string verify = "verify --keys " + f.keys + " --remote " + s.url();
  CliRun r = run_signet(verify);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("401"), std::string::npos) << r.output;
  r = run_signet(verify + " --api-key-file " + wrong);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("bearer token is wrong"), std::string::npos) << r.output;
  r = run_signet(verify + " --api-key-file " + key + " --max-queries 4");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--max-queries 4"), std::string::npos) << r.output;
  EXPECT_EQ(run_signet(verify + " --api-key-file " + key).status, 0);  // 5 queries of the budget of 8
  r = run_signet(verify + " --api-key-file " + key);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("budget"), std::string::npos) << r.output;
  EXPECT_EQ(s.terminate(15), 0) << s.log();

  r = run_signet(verify);  // nothing listens there any more
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("cannot reach"), std::string::npos) << r.output;
  // Flag combinations and values outside their choices are Signet's checks: exit 1 (docs/exit-codes.md).
  EXPECT_EQ(run_signet("verify --keys " + f.keys).status, 1);  // neither --weights nor --remote
  EXPECT_EQ(run_signet("verify --keys " + f.keys + " --weights " + f.marked + " --remote " + s.url()).status, 1);
  r = run_signet("serve --weights " + f.marked + " --port 0 --answer logits");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--answer"), std::string::npos) << r.output;
}

TEST(CliServe, AnotherModelIsRefused) {
  const Files& f = files();
  const std::string cnn = f.file("cnn.safetensors");
  ASSERT_EQ(run_signet("train --model cifar10-cnn --dataset synthetic:3x8x8:4:40:20:3 --quiet --threads 1 "
                       "--epochs 1 --seed 1 --out " + cnn).status, 0);
  ServeProcess s(f, "cnn", "--weights " + cnn);
  ASSERT_GT(s.port(), 0) << s.log();
  const CliRun r = run_signet("verify --keys " + f.keys + " --remote " + s.url());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("cannot be the suspect"), std::string::npos) << r.output;
}

TEST(CliServe, APathThatIsNotUtf8IsLoggedAndServingGoesOn) {
  // The access log is JSON; a client's path with bytes JSON cannot hold once ended the server
  // (an exception on the HTTP thread). Now they are logged as U+FFFD.
  const Files& f = files();
  ServeProcess s(f, "utf8", "--weights " + f.marked);
  ASSERT_GT(s.port(), 0) << s.log();
  {
    signet::testing::RawClient raw(s.port());
    ASSERT_TRUE(raw.connected());
    raw.send("GET /%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(signet::testing::status_of(raw.read_response(10)), 404) << s.log();
  }
  signet::testing::RawClient raw(s.port());
  ASSERT_TRUE(raw.connected());
  raw.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(signet::testing::status_of(raw.read_response(10)), 200) << s.log();
  EXPECT_TRUE(s.alive()) << s.log();
  // The server logs a request after answering it: wait for the line rather than race it.
  const std::string logged = "\"path\":\"/\xef\xbf\xbd\"";
  for (int i = 0; i < 100 && s.log().find(logged) == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(s.log().find(logged), std::string::npos) << s.log();
  EXPECT_EQ(s.terminate(15), 0) << s.log();
}

TEST(CliServe, SigtermFinishesTheRequestInFlight) {
  const Files& f = files();
  ServeProcess s(f, "sigterm", "--weights " + f.marked);
  ASSERT_GT(s.port(), 0) << s.log();
  const std::string blob = signet::serve::encode_binary_request(signet::testing::random_inputs(16));
  signet::testing::RawClient raw(s.port());
  ASSERT_TRUE(raw.connected());
  raw.send("POST /v1/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: " + std::to_string(blob.size()) + "\r\n\r\n" + blob.substr(0, blob.size() / 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::thread term([&] { EXPECT_EQ(s.terminate(15), 0) << s.log(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  raw.send(blob.substr(blob.size() / 2));
  const std::string response = raw.read_response(10);
  term.join();
  EXPECT_EQ(signet::testing::status_of(response), 200) << response.substr(0, 300) << "\n" << s.log();
  EXPECT_NE(s.log().find("finishing the requests in flight"), std::string::npos) << s.log();
}

}  // namespace
