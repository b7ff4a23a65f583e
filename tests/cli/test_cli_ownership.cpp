// Ownership as a thief would test it, from the command line: nothing in a published marked model
// regenerates the owner's keys, a marked model's file shows nothing an unmarked one does not, two
// owners with the same flags get different keys, keys files stay 0600 under umask 000, and a
// certified claim survives extract/verify while every tampering is reported.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "tests/cli/cli_run.h"
#include "watermark/verify/keys_file.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using signet::testing::CliRun;
using signet::testing::run_signet;

namespace {

const std::string kData = " --dataset synthetic:1x28x28:10:300:100:3 --quiet --threads 2";
// Enough bits for a decision at the default alpha (2^-24 < 1e-6), settings that embed on this data.
const std::string kHidden = " --scheme deepsigns-hidden --bits 24 --key-fraction 0.3 --lambda1 0.1 "
                            "--lambda2 0.1 --seed 5 --signature ACME";

struct Files {
  fs::path dir;
  std::string unmarked, marked, keys;
  Files() {
    dir = fs::temp_directory_path() / ("signet_ownership_" + std::to_string(getpid()));
    fs::create_directories(dir);
    unmarked = file("u.safetensors");
    marked = file("m.safetensors");
    keys = file("k.wmk");
    const CliRun t = run_signet("train --model mnist-mlp" + kData + " --epochs 2 --seed 5 --out " + unmarked);
    EXPECT_EQ(t.status, 0) << t.output;
    // The owner. Its keys come from a key seed the thief does not know, so that the mark (and
    // every test below) is the same on every run; that CSPRNG keys differ run to run is tested
    // in TwoOwnersWithTheSameFlagsGetDifferentKeys.
    const CliRun e = run_signet("embed" + kHidden + kData + " --epochs 5 --key-seed 777 --keys-out " + keys + " --out " +
                                marked);
    EXPECT_EQ(e.status, 0) << e.output;
  }
  ~Files() { fs::remove_all(dir); }
  std::string file(const std::string& n) const { return (dir / n).string(); }
};

const Files& files() {
  static const Files f;
  return f;
}

json run_json(const std::string& args) { return signet::testing::run_signet_json(args); }

std::vector<float> tensor(const std::string& keys, const std::string& name) {
  return signet::read_keys_file(keys).nt.at(name).to_vector();
}

std::vector<int64_t> indices(const std::string& keys) {
  return signet::read_keys_file(keys).nt.at("key_indices").to_vector_i64();
}

std::set<std::string> metadata_keys(const std::string& model) {
  std::set<std::string> k;
  // The document must outlive the loop: a range-for keeps only items()' proxy alive, not the
  // temporary it points into (AddressSanitizer: heap-use-after-free).
  const json info = run_json("info --json " + model);
  for (const auto& [name, v] : info["metadata"].items()) k.insert(name);
  return k;
}

}  // namespace

TEST(CliOwnership, OwnersMarkIsProvenAndTheUnmarkedModelIsNot) {
  const Files& f = files();
  const json j = run_json("extract --json --keys " + f.keys + " --weights " + f.marked + " --weights " + f.unmarked);
  ASSERT_EQ(j["results"].size(), 2u) << j.dump();
  EXPECT_TRUE(j["results"][0]["ownership_proven"].get<bool>()) << j.dump();
  EXPECT_FALSE(j["results"][1]["ownership_proven"].get<bool>()) << j.dump();
  EXPECT_EQ(j["scheme"], "deepsigns-hidden");
  // The evidence names each model by the SHA-256 of the bytes it was read from.
  EXPECT_EQ(j["results"][0]["weights_sha256"], signet::sha256_hex(signet::read_file(f.marked)));
  EXPECT_EQ(j["results"][1]["weights_sha256"], signet::sha256_hex(signet::read_file(f.unmarked)));
}

TEST(CliOwnership, RegeneratingKeysFromThePublishedModelClaimsNothing) {
  const Files& f = files();
  // The thief reads the model's metadata and reruns the owner's command with everything it shows.
  const json info = run_json("info --json " + f.marked);
  const std::string seed = info["metadata"]["signet.seed"].get<std::string>();
  for (const std::string& extra : {std::string(), " --key-seed " + seed}) {
    const std::string stolen = f.file("thief.wmk"), out = f.file("thief.safetensors");
    fs::remove(stolen);
    const std::string flags = " --scheme deepsigns-hidden --epochs 0 --bits 24 --key-fraction 0.3 --lambda1 0.1 "
                              "--lambda2 0.1 --signature ACME --seed " + seed + extra;
    const CliRun e = run_signet("embed" + flags + kData + " --keys-out " + stolen + " --out " + out);
    ASSERT_EQ(e.status, 0) << e.output;
    EXPECT_NE(tensor(stolen, "A"), tensor(f.keys, "A")) << extra;
    EXPECT_NE(indices(stolen), indices(f.keys)) << extra;
    const json x = run_json("extract --json --keys " + stolen + " --weights " + f.marked);
    EXPECT_FALSE(x["ownership_proven"].get<bool>()) << extra << ": " << x.dump();
    EXPECT_GT(x["p_value"].get<double>(), 1e-6) << x.dump();
  }
}

TEST(CliOwnership, TwoOwnersWithTheSameFlagsGetDifferentKeys) {
  const Files& f = files();
  const std::string k2 = f.file("k2.wmk"), m2 = f.file("m2.safetensors");
  const CliRun e = run_signet("embed" + kHidden + kData + " --epochs 5 --keys-out " + k2 + " --out " + m2);
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_NE(tensor(k2, "A"), tensor(f.keys, "A"));
  EXPECT_NE(signet::sha256_hex(signet::read_file(k2)), signet::sha256_hex(signet::read_file(f.keys)));
  // The keys record where they came from, and the marked model they belong to.
  const auto meta = signet::read_keys_file(k2).nt.metadata;
  EXPECT_EQ(meta.at("signet.key_source"), "os-csprng");
  EXPECT_EQ(meta.count("signet.key_seed"), 0u);
  EXPECT_EQ(meta.at("signet.marked_sha256"), signet::sha256_hex(signet::read_file(m2)));
  // A key seed is reproducible, recorded, and warned about; another architecture gets other keys.
  const std::string ka = f.file("ka.wmk"), kb = f.file("kb.wmk"), kc = f.file("kc.wmk");
  for (const auto& [k, model] : {std::pair{ka, "mnist-mlp"}, {kb, "mnist-mlp"}, {kc, "cifar10-cnn"}}) {
    const CliRun r = run_signet("embed --model " + std::string(model) + kHidden + kData + " --epochs 0 --key-seed 9 "
                                "--keys-out " + k + " --out " + f.file("seeded.safetensors"));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("warning: --key-seed 9"), std::string::npos) << r.output;
  }
  EXPECT_EQ(tensor(ka, "A"), tensor(kb, "A"));
  EXPECT_EQ(signet::read_keys_file(ka).nt.metadata.at("signet.key_seed"), "9");
  // Not a prefix of the same stream either: the generators themselves differ.
  const std::vector<float> a_mlp = tensor(ka, "A"), a_cnn = tensor(kc, "A");
  ASSERT_GE(a_cnn.size(), 24u);
  EXPECT_NE(std::vector<float>(a_mlp.begin(), a_mlp.begin() + 24), std::vector<float>(a_cnn.begin(), a_cnn.begin() + 24));
}

TEST(CliOwnership, MarkedModelsCarryNoFootprint) {
  const Files& f = files();
  const std::set<std::string> plain = metadata_keys(f.unmarked);
  EXPECT_EQ(metadata_keys(f.marked), plain);
  const std::string ko = f.file("ko.wmk"), mo = f.file("mo.safetensors");
  const CliRun e = run_signet("embed --scheme deepsigns-output" + kData + " --from " + f.unmarked +
                              " --keys 5 --candidates 60 --key-search random --lr 0.05 --key-seed 1 --keys-out " + ko +
                              " --out " + mo);
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_EQ(metadata_keys(mo), plain);
  const std::string bytes = signet::read_file(mo);
  const std::string header = bytes.substr(8, 4096);
  for (const char* needle : {"deepsigns", "watermark", "key_seed", "wmk"})
    EXPECT_EQ(header.find(needle), std::string::npos) << needle;
  const auto meta = signet::read_keys_file(ko).nt.metadata;
  EXPECT_EQ(meta.at("signet.unmarked_sha256"), signet::sha256_hex(signet::read_file(f.unmarked)));
  EXPECT_EQ(meta.at("signet.marked_sha256"), signet::sha256_hex(bytes));
}

TEST(CliOwnership, KeysFilesStayPrivateUnderUmaskZero) {
  const Files& f = files();
  const std::string k = f.file("umask.wmk");
  const std::string cmd = "sh -c 'umask 000; " + std::string(SIGNET_BIN) + " embed" + kHidden + kData +
                          " --epochs 0 --keys-out " + k + " --out " + f.file("umask.safetensors") + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  struct stat st {};
  ASSERT_EQ(stat(k.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(CliOwnership, CertifiedClaimHoldsAndTamperingIsReported) {
  const Files& f = files();
  const std::string id = f.file("owner"), other = f.file("other"), cert = f.file("c.cert");
  ASSERT_EQ(run_signet("identity new --out " + id).status, 0);
  ASSERT_EQ(run_signet("identity new --out " + other).status, 0);
  const CliRun c = run_signet("certify --identity " + id + ".key --keys " + f.keys + " --model " + f.marked +
                              " --out " + cert);
  ASSERT_EQ(c.status, 0) << c.output;
  json j = run_json("extract --json --keys " + f.keys + " --weights " + f.marked + " --certificate " + cert +
                    " --owner-key " + id + ".pub");
  EXPECT_TRUE(j["certificate_valid"].get<bool>()) << j.dump();
  EXPECT_TRUE(j["ownership_proven"].get<bool>()) << j.dump();
  EXPECT_TRUE(j["suspect_is_certified_model"].get<bool>()) << j.dump();
  EXPECT_FALSE(j["owner_public_key"].get<std::string>().empty());
  EXPECT_FALSE(j["certificate_time"].get<std::string>().empty());

  // Signed by someone else: reported, nothing claimed, exit 1.
  CliRun r = run_signet("extract --json --keys " + f.keys + " --weights " + f.marked + " --certificate " + cert +
                        " --owner-key " + other + ".pub");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("\"certificate_valid\":false"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"ownership_proven\":false"), std::string::npos) << r.output;
  // A certificate whose claim was edited: backdated by a year.
  std::string text = signet::read_file(cert);
  const size_t at = text.find("\"time\": \"20");
  ASSERT_NE(at, std::string::npos) << text;
  text[at + 12] = static_cast<char>(text[at + 12] - 1);
  const std::string forged = f.file("forged.cert");
  std::ofstream(forged, std::ios::binary) << text;
  r = run_signet("extract --keys " + f.keys + " --weights " + f.marked + " --certificate " + forged);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("CERTIFICATE INVALID"), std::string::npos) << r.output;
  // Keys other than the certified ones (a thief's keys presented with the owner's certificate).
  const std::string k2 = f.file("thief2.wmk");
  ASSERT_EQ(run_signet("embed" + kHidden + kData + " --epochs 0 --keys-out " + k2 + " --out " +
                       f.file("thief2.safetensors")).status, 0);
  r = run_signet("extract --keys " + k2 + " --weights " + f.marked + " --certificate " + cert);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("problem:"), std::string::npos) << r.output;
  // A black-box claim through verify, with the owner's output keys.
  const std::string ko = f.file("cko.wmk"), mo = f.file("cmo.safetensors"), co = f.file("co.cert");
  ASSERT_EQ(run_signet("embed --scheme deepsigns-output" + kData + " --from " + f.unmarked + " --keys 5 --candidates 60 "
                       "--key-search random --lr 0.05 --key-seed 1 --keys-out " + ko + " --out " + mo).status, 0);
  ASSERT_EQ(run_signet("certify --identity " + id + ".key --keys " + ko + " --model " + mo + " --out " + co).status, 0);
  j = run_json("verify --json --keys " + ko + " --weights " + mo + " --weights " + f.unmarked + " --certificate " + co);
  EXPECT_TRUE(j["certificate_valid"].get<bool>()) << j.dump();
  EXPECT_TRUE(j["results"][0]["ownership_proven"].get<bool>()) << j.dump();
  EXPECT_FALSE(j["results"][1]["ownership_proven"].get<bool>()) << j.dump();
  EXPECT_FALSE(j["results"][1]["suspect_is_certified_model"].get<bool>()) << j.dump();
  EXPECT_EQ(j["results"][0]["weights_sha256"], signet::sha256_hex(signet::read_file(mo)));
}
