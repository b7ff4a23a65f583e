// Shapes from outside that once overflowed or asked for gigabytes: flags whose product of dims
// wraps int64 (--pad-to, --input-shape x --batch-size), model metadata that states an input
// far larger than the weights, and safetensors headers nested 100,000 deep or listing 40,000
// tensors. Each run is under a 4 GB address-space limit and must end with exit 1 and a message
// naming the flag or the metadata key, quickly, leaving no output file.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/scratch_dir.h"
#include "engine/serialize/safetensors.h"
#include "models/model_io.h"
#include "tests/cli/cli_run.h"

namespace fs = std::filesystem;
using signet::testing::CliRun;

namespace {
struct TempDir : signet::testing::TempDir {
  TempDir() : signet::testing::TempDir("signet_hostile_shapes_") {}
};

// signet under a 4 GB address-space cap, as on a machine with little memory: a wild allocation
// then fails fast instead of swapping. Under AddressSanitizer (which needs terabytes of address
// space) the cap is ASan's own: one allocation or the resident set above 4 GB aborts. Exit
// status as in run_signet (128 + signal when killed).
CliRun run_limited(const std::string& args) {
  const std::string limit = signet::testing::kAddressSanitizer
                                ? "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:max_allocation_size_mb=4000:hard_rss_limit_mb=4000\" "
                                : "ulimit -v 4000000; ";
  const std::string cmd = limit + std::string(SIGNET_BIN) + " " + args + " 2>&1";
  CliRun r{0, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

void expect_error(const CliRun& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.status, 1) << r.output;
  for (const std::string& n : needles)
    EXPECT_NE(r.output.find(n), std::string::npos) << "message should mention '" << n << "': " << r.output;
}

void write_raw(const std::string& path, const std::string& header) {
  const uint64_t n = header.size();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header;
}

const std::string kData = " --dataset synthetic:1x28x28:10:300:100:3 --quiet";
}  // namespace

TEST(CliHostileShapes, PadToWhoseSquareOverflowsIsRefused) {
  TempDir d;
  const std::string out = d.file("m.safetensors");
  expect_error(run_limited("train --model mnist-mlp --pad-to 536870912 --epochs 1" + kData + " --out " + out),
               {"--pad-to 536870912", "limit for one input sample"});
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliHostileShapes, BenchInputShapeTimesBatchIsChecked) {
  // 512 x 134217728 x 268435456 = 2^64 wrapped to 0 and the GEMM packing wrote past its buffer.
  expect_error(run_limited("bench --model mnist-mlp --batch-size 512 --input-shape 1,134217728,268435456 --steps 1"),
               {"--input-shape", "limit for one input sample"});
  // Each factor sane, the product not.
  expect_error(run_limited("bench --model mnist-mlp --batch-size 1000000000 --input-shape 1,64,64 --steps 1"),
               {"--batch-size 1000000000 x --input-shape [1, 64, 64]", "limit for one tensor"});
  expect_error(run_limited("bench --model mnist-mlp --input-shape 1,28,1e9 --steps 1"), {"--input-shape", "bad size"});
}

TEST(CliHostileShapes, SyntheticDatasetSpecsAreBounded) {
  TempDir d;
  const std::string out = " --out " + d.file("m.safetensors");
  expect_error(run_limited("train --model mnist-mlp --epochs 1 --quiet --dataset synthetic:1x100000x100000:10:3:1" +
                           out),
               {"synthetic:1x100000x100000:10:3:1", "limit for one input sample"});
  expect_error(run_limited("train --model mnist-mlp --epochs 1 --quiet --dataset synthetic:1x28x28:10:999999999999:1" +
                           out),
               {"synthetic:1x28x28:10:999999999999:1", "samples x sample size", "limit for one tensor"});
  EXPECT_FALSE(fs::exists(d.file("m.safetensors")));
}

TEST(CliHostileShapes, ModelMetadataIsCheckedAgainstTheWeightsBeforeBuilding) {
  TempDir d;
  const std::string m = d.file("m.safetensors");
  const CliRun t = signet::testing::run_signet("train --model mnist-mlp --epochs 1 --train-limit 64" + kData +
                                               " --out " + m);
  ASSERT_EQ(t.status, 0) << t.output;
  const signet::NamedTensors good = signet::load_safetensors(m);
  struct Case {
    std::string key, value;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      // 9M inputs: within the per-sample limit, but mnist-mlp's fc1 would take ~18 GB to build.
      {"signet.input_shape", "1,3000,3000", {"signet.input_shape = 1,3000,3000", "fc1.weight is [", "corrupt"}},
      {"signet.input_shape", "1,100000,100000", {"signet.input_shape", "limit for one input sample"}},
      {"signet.num_classes", "100000000", {"signet.num_classes = 100000000", "corrupt"}},
      {"signet.num_classes", "1e30", {"signet.num_classes", "bad size"}},
      // Another architecture than the weights: named by the tensor it lacks.
      {"signet.model", "wrn-100000-1", {"wrn-100000-1 needs a tensor 'fc.weight'"}},
  };
  for (const Case& c : cases) {
    signet::NamedTensors bad = good;
    bad.metadata[c.key] = c.value;
    const std::string f = d.file("bad.safetensors");
    signet::save_safetensors(f, bad);
    const auto t0 = std::chrono::steady_clock::now();
    expect_error(run_limited("evaluate --weights " + f + kData), c.expect);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30) << c.key;
  }
}

TEST(CliHostileShapes, WideResNetDepthInMetadataMustMatchTheWeights) {
  // wrn-100000-1 has 16,666 blocks per group: building it would take tens of gigabytes that a
  // file holding wrn-10-1's weights does not pay for.
  TempDir d;
  const std::string f = d.file("wrn.safetensors");
  signet::Rng init(0);
  const signet::Model m = signet::build_model("wrn-10-1", signet::default_model_config("wrn-10-1"), init);
  signet::save_model(f, m, signet::identity_normalization(3));
  const CliRun ok = run_limited("info " + f);
  ASSERT_EQ(ok.status, 0) << ok.output;
  for (const std::string& name : {"wrn-100000-1", "wrn-10-4"}) {
    signet::NamedTensors nt = signet::load_safetensors(f);
    nt.metadata["signet.model"] = name;
    signet::save_safetensors(d.file("bad.safetensors"), nt);
    expect_error(run_limited("evaluate --weights " + d.file("bad.safetensors") +
                             " --dataset synthetic:3x32x32:10:30:10:3 --quiet"),
                 {"signet.model = " + name, "1 blocks per group of width 16 (wrn-10-1)", "corrupt"});
  }
  // Its weights take any H, W: a stated 3x2000x2000 passes, but padding a whole split to it is refused.
  signet::NamedTensors nt = signet::load_safetensors(f);
  nt.metadata["signet.input_shape"] = "3,2000,2000";
  signet::save_safetensors(d.file("big.safetensors"), nt);
  expect_error(run_limited("evaluate --weights " + d.file("big.safetensors") +
                           " --dataset synthetic:3x32x32:10:30:1000:3 --quiet"),
               {"padding the 1000 images of 'synthetic' to the model's input [3, 2000, 2000]", "limit for one tensor"});
}

TEST(CliHostileShapes, DeeplyNestedHeaderIsAnErrorInEveryCommand) {
  TempDir d;
  const std::string f = d.file("deep.safetensors");
  const size_t depth = 100000;
  write_raw(f, R"({"a":{"dtype":"F32","shape":)" + std::string(depth, '[') + std::string(depth, ']') +
                   R"(,"data_offsets":[0,0]}})");
  for (const std::string& cmd : {"info " + f, "evaluate --weights " + f + kData, "predict --weights " + f +
                                                                                    " --input " + f + " --out " +
                                                                                    d.file("o.safetensors")})
    expect_error(run_limited(cmd), {"deep.safetensors: header: JSON nested 100002 levels deep", "limit of 64"});
  EXPECT_FALSE(fs::exists(d.file("o.safetensors")));
}

TEST(CliHostileShapes, HeaderWithTensThousandsOfTensorsIsQuick) {
  TempDir d;
  const std::string f = d.file("many.safetensors");
  std::string hdr = "{";
  for (int i = 0; i < 40000; ++i)
    hdr += (i ? "," : "") + ("\"t" + std::to_string(i)) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  write_raw(f, hdr + "}");
  const auto t0 = std::chrono::steady_clock::now();
  const CliRun info = run_limited("info " + f);
  EXPECT_EQ(info.status, 0) << info.output.substr(0, 2000);
  expect_error(run_limited("evaluate --weights " + f + kData), {"many.safetensors"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20);
  std::string over = "{";
  for (int i = 0; i <= 65536; ++i)
    over += (i ? "," : "") + ("\"t" + std::to_string(i)) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  write_raw(f, over + "}");
  expect_error(run_limited("info " + f), {"many.safetensors: header lists more than the limit of 65536 tensors"});
}
