// `signet identity new` and `signet certify` as a user runs them: files, --json output, and
// the refusals (existing identity, a model other than the one the keys file marked, keys files
// that record no marked model, --out naming an input).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "engine/tensor.h"
#include "tests/cli/cli_run.h"
#include "watermark/verify/certificate.h"
#include "watermark/verify/keys_file.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using signet::testing::CliRun;
using signet::testing::run_signet;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("signet_cli_cert_" + std::to_string(getpid()) + "_" + std::to_string(n++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

void write_bytes(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

void expect_error(const CliRun& r, const std::string& needle) {
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("signet: error:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << "message should mention '" << needle << "': " << r.output;
}

// A tiny keys file; with `marked` its metadata records that SHA-256 as the marked model's.
std::string keys_file(const std::string& path, const std::string* marked) {
  signet::NamedTensors nt;
  nt.tensors.push_back({"key.inputs", signet::Tensor::from_vector({1, 2, 3, 4}, {2, 2})});
  if (marked) nt.metadata["signet.marked_sha256"] = *marked;
  return signet::write_keys_file(path, nt, "deepsigns-hidden", signet::Normalization{});
}

}  // namespace

TEST(CliCertify, IdentityNewAndCertify) {
  TempDir d;
  const CliRun id = run_signet("identity new --out " + d.file("alice") + " --json", false);
  ASSERT_EQ(id.status, 0) << id.output;
  const json ij = json::parse(id.output);
  EXPECT_EQ(ij["secret_key_file"], d.file("alice.key"));
  EXPECT_EQ(ij["public_key_file"], d.file("alice.pub"));
  EXPECT_EQ(ij["public_key"], signet::read_public_key(d.file("alice.pub")));
  const CliRun text = run_signet("identity new --out " + d.file("bob"));
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find(d.file("bob.key")), std::string::npos) << text.output;
  EXPECT_NE(text.output.find(signet::read_public_key(d.file("bob.pub"))), std::string::npos) << text.output;

  const std::string model_bytes = "marked model bytes";
  write_bytes(d.file("m.safetensors"), model_bytes);
  const std::string marked = signet::sha256_hex(model_bytes);
  const std::string keys_sha = keys_file(d.file("k.wmk"), &marked);
  const std::string args = "certify --identity " + d.file("alice.key") + " --keys " + d.file("k.wmk") +
                           " --model " + d.file("m.safetensors") + " --out " + d.file("c.cert");
  const CliRun c = run_signet(args + " --json", false);
  ASSERT_EQ(c.status, 0) << c.output;
  const json cj = json::parse(c.output);
  EXPECT_EQ(cj["owner_public_key"], ij["public_key"]);
  EXPECT_EQ(cj["keys_sha256"], keys_sha);
  EXPECT_EQ(cj["model_sha256"], marked);
  EXPECT_EQ(cj["scheme"], "deepsigns-hidden");
  const std::string pub = d.file("alice.pub");
  const signet::CertificateCheck check = signet::check_certificate(d.file("c.cert"), keys_sha, marked, &pub);
  EXPECT_TRUE(check.valid()) << (check.problems.empty() ? "" : check.problems[0]);
  EXPECT_EQ(check.claim.time, cj["time"]);
  const CliRun plain = run_signet(args);  // text output; overwriting one's own certificate is fine
  EXPECT_EQ(plain.status, 0) << plain.output;
  EXPECT_NE(plain.output.find(marked), std::string::npos) << plain.output;
}

TEST(CliCertify, Refusals) {
  TempDir d;
  ASSERT_EQ(run_signet("identity new --out " + d.file("alice")).status, 0);
  const std::string key = signet::read_file(d.file("alice.key"));
  expect_error(run_signet("identity new --out " + d.file("alice")), "already exists");
  EXPECT_EQ(signet::read_file(d.file("alice.key")), key);
  expect_error(run_signet("identity new --out " + d.file("carol.key")), "without extension");
  EXPECT_EQ(run_signet("identity").status, 2);  // `new` is required: a usage error

  write_bytes(d.file("m.safetensors"), "marked model bytes");
  write_bytes(d.file("other.safetensors"), "some other model");
  const std::string marked = signet::sha256_hex("marked model bytes");
  keys_file(d.file("k.wmk"), &marked);
  keys_file(d.file("old.wmk"), nullptr);
  const std::string id = "certify --identity " + d.file("alice.key");
  const std::string out = " --out " + d.file("c.cert");

  expect_error(run_signet(id + " --keys " + d.file("k.wmk") + " --model " + d.file("other.safetensors") + out),
               "not the marked model");
  expect_error(run_signet(id + " --keys " + d.file("old.wmk") + " --model " + d.file("m.safetensors") + out),
               "does not record its marked model");
  expect_error(run_signet("certify --identity " + d.file("alice.pub") + " --keys " + d.file("k.wmk") + " --model " +
                          d.file("m.safetensors") + out), "NAME.key");
  expect_error(run_signet(id + " --keys " + d.file("m.safetensors") + " --model " + d.file("m.safetensors") + out),
               "m.safetensors");
  EXPECT_FALSE(fs::exists(d.file("c.cert")));

  // --out naming an input (also spelled differently) is refused and the input is untouched.
  const std::string keys_before = signet::read_file(d.file("k.wmk"));
  expect_error(run_signet(id + " --keys " + d.file("k.wmk") + " --model " + d.file("m.safetensors") + " --out " +
                          d.path.string() + "/./k.wmk"), "refusing to overwrite an input");
  expect_error(run_signet(id + " --keys " + d.file("k.wmk") + " --model " + d.file("m.safetensors") + " --out " +
                          d.file("alice.key")), "--identity");
  EXPECT_EQ(signet::read_file(d.file("k.wmk")), keys_before);
  EXPECT_EQ(signet::read_file(d.file("alice.key")), key);
}
