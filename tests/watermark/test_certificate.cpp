// Signed ownership claims (watermark/verify/certificate.h): identity files and their modes,
// certify -> check round trip, every tamper case coming out invalid, and malformed files
// coming out as an Error naming the file rather than a crash.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "watermark/verify/certificate.h"

using namespace signet;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("signet_cert_" + std::to_string(getpid()) + "_" + std::to_string(n++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

void write_text(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
unsigned mode_of(const std::string& p) {
  struct stat st;
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

const std::string kKeys = sha256_hex("keys"), kModel = sha256_hex("model");

// Alice (and Bob) and one certificate by Alice over kKeys / kModel.
struct Fixture {
  TempDir d;
  std::string alice = d.file("alice"), bob = d.file("bob"), cert = d.file("c.cert");
  Claim claim;
  Fixture() {
    write_identity(alice);
    write_identity(bob);
    claim = certify(alice + ".key", kKeys, kModel, "deepsigns-hidden", cert);
  }
  // Rewrites the certificate with `edit` applied to its JSON; returns the check of the result.
  CertificateCheck tampered(const std::function<void(json&)>& edit, const std::string& keys = kKeys,
                            const std::string& model = kModel) {
    json j = json::parse(read_file(cert));
    edit(j);
    const std::string out = d.file("t.cert");
    write_text(out, j.dump(2));
    return check_certificate(out, keys, model);
  }
};

// Changes one hex digit (keeps it hex and lowercase).
std::string flip_hex(std::string s, size_t at = 0) {
  s[at] = s[at] == '0' ? '1' : '0';
  return s;
}

}  // namespace

TEST(Identity, FilesAndModesUnderUmaskZero) {
  TempDir d;
  {
    struct UmaskZero {  // restored however the block ends
      mode_t old = ::umask(0);
      ~UmaskZero() { ::umask(old); }
    } guard;
    write_identity(d.file("alice"));
  }
  EXPECT_EQ(mode_of(d.file("alice.key")), 0600u);
  EXPECT_EQ(mode_of(d.file("alice.pub")), 0644u);
  const json sk = json::parse(read_file(d.file("alice.key")));
  const json pk = json::parse(read_file(d.file("alice.pub")));
  EXPECT_EQ(sk["format"], "signet-identity-secret");
  EXPECT_EQ(pk["format"], "signet-identity-public");
  EXPECT_EQ(sk["algorithm"], "ed25519");
  EXPECT_EQ(sk["public_key"].get<std::string>().size(), 64u);
  EXPECT_EQ(sk["secret_key"].get<std::string>().size(), 128u);
  EXPECT_EQ(pk["public_key"], sk["public_key"]);
  EXPECT_FALSE(pk.contains("secret_key"));
  EXPECT_EQ(read_public_key(d.file("alice.pub")), sk["public_key"].get<std::string>());
  // Nothing but the two files (no temporaries left behind).
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()), 2);
}

TEST(Identity, RefusesToOverwrite) {
  TempDir d;
  write_identity(d.file("alice"));
  const std::string key = read_file(d.file("alice.key")), pub = read_file(d.file("alice.pub"));
  try {
    write_identity(d.file("alice"));
    FAIL() << "overwrote an identity";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(d.file("alice.key")), key);
  EXPECT_EQ(read_file(d.file("alice.pub")), pub);
  // Only the .pub exists: refused, and no lone .key is left behind.
  write_text(d.file("carol.pub"), "x");
  EXPECT_THROW(write_identity(d.file("carol")), Error);
  EXPECT_FALSE(fs::exists(d.file("carol.key")));
  EXPECT_EQ(read_file(d.file("carol.pub")), "x");
  EXPECT_THROW(write_identity(d.file("no/such/dir/dave")), Error);
  EXPECT_FALSE(fs::exists(d.file("no/such/dir/dave.key")));
}

TEST(Certificate, RoundTripIsValid) {
  Fixture f;
  EXPECT_EQ(mode_of(f.cert), 0644u);
  EXPECT_EQ(f.claim.owner_public_key, read_public_key(f.alice + ".pub"));
  const std::string pub = f.alice + ".pub";
  const CertificateCheck c = check_certificate(f.cert, kKeys, kModel, &pub);
  EXPECT_TRUE(c.signature_valid && c.keys_match && c.model_match);
  EXPECT_TRUE(c.valid()) << (c.problems.empty() ? "" : c.problems[0]);
  EXPECT_EQ(c.claim.scheme, "deepsigns-hidden");
  EXPECT_EQ(c.claim.time, f.claim.time);
  ASSERT_EQ(c.claim.time.size(), 20u);
  EXPECT_EQ(c.claim.time[10], 'T');
  EXPECT_EQ(c.claim.time.back(), 'Z');
  const json j = certificate_json(c);
  EXPECT_EQ(j["certificate_valid"], true);
  EXPECT_EQ(j["certified_keys_sha256"], kKeys);
  EXPECT_EQ(j["certified_model_sha256"], kModel);
  EXPECT_EQ(j["certified_scheme"], "deepsigns-hidden");
  EXPECT_EQ(j["owner_public_key"], f.claim.owner_public_key);
  EXPECT_EQ(j["certificate_time"], f.claim.time);
  EXPECT_TRUE(j["certificate_problems"].empty());
}

// The documented format: another tool can verify with the domain prefix + sorted compact JSON.
TEST(Certificate, SignedBytesAreDocumentedFormat) {
  Fixture f;
  const json j = json::parse(read_file(f.cert));
  const std::string msg = "signet-certificate-v1\n" + j["claim"].dump();
  EXPECT_EQ(msg, claim_signed_bytes(f.claim));
  std::vector<unsigned char> sig(64), pk(32);
  ASSERT_GE(sodium_init(), 0);
  ASSERT_EQ(sodium_hex2bin(sig.data(), 64, j["signature"].get<std::string>().c_str(), 128, nullptr, nullptr, nullptr), 0);
  ASSERT_EQ(sodium_hex2bin(pk.data(), 32, f.claim.owner_public_key.c_str(), 64, nullptr, nullptr, nullptr), 0);
  EXPECT_EQ(crypto_sign_verify_detached(sig.data(), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                                        pk.data()), 0);
}

TEST(Certificate, AnyChangedClaimFieldBreaksTheSignature) {
  Fixture f;
  const std::string bob_pk = read_public_key(f.bob + ".pub");
  const std::string k2 = flip_hex(kKeys, 63), m2 = flip_hex(kModel, 5);
  // The hashes are changed to what the verifier's files say, so only the signature can catch it.
  std::vector<std::pair<std::string, CertificateCheck>> cases = {
      {"keys", f.tampered([&](json& j) { j["claim"]["keys_sha256"] = k2; }, k2, kModel)},
      {"model", f.tampered([&](json& j) { j["claim"]["model_sha256"] = m2; }, kKeys, m2)},
      {"scheme", f.tampered([](json& j) { j["claim"]["scheme"] = "deepsigns-output"; })},
      {"time", f.tampered([](json& j) { j["claim"]["time"] = "2020-01-01T00:00:00Z"; })},
      {"owner", f.tampered([&](json& j) { j["claim"]["owner_public_key"] = bob_pk; })},
      {"signature", f.tampered([](json& j) { j["signature"] = flip_hex(j["signature"].get<std::string>(), 40); })},
      {"signature last byte", f.tampered([](json& j) { j["signature"] = flip_hex(j["signature"].get<std::string>(), 127); })},
  };
  for (const auto& [what, c] : cases) {
    EXPECT_FALSE(c.signature_valid) << what;
    EXPECT_FALSE(c.valid()) << what;
    ASSERT_FALSE(c.problems.empty()) << what;
    EXPECT_NE(c.problems[0].find("signature"), std::string::npos) << c.problems[0];
  }
  // Re-serialising the untouched claim (other whitespace) keeps it valid: the claim is what is signed.
  EXPECT_TRUE(f.tampered([](json&) {}).valid());
}

TEST(Certificate, HashMismatchesAreProblems) {
  Fixture f;
  const CertificateCheck keys = check_certificate(f.cert, flip_hex(kKeys), kModel);
  EXPECT_TRUE(keys.signature_valid);
  EXPECT_FALSE(keys.keys_match);
  EXPECT_TRUE(keys.model_match);
  EXPECT_FALSE(keys.valid());
  ASSERT_EQ(keys.problems.size(), 1u);
  EXPECT_NE(keys.problems[0].find("keys file"), std::string::npos) << keys.problems[0];

  const CertificateCheck model = check_certificate(f.cert, kKeys, flip_hex(kModel));
  EXPECT_TRUE(model.signature_valid && model.keys_match);
  EXPECT_FALSE(model.model_match);
  EXPECT_FALSE(model.valid());
  ASSERT_EQ(model.problems.size(), 1u);
  EXPECT_NE(model.problems[0].find("another model"), std::string::npos) << model.problems[0];

  const CertificateCheck none = check_certificate(f.cert, kKeys, "");
  EXPECT_FALSE(none.valid());
  ASSERT_EQ(none.problems.size(), 1u);
  EXPECT_NE(none.problems[0].find("does not record"), std::string::npos) << none.problems[0];
  EXPECT_EQ(certificate_json(none)["certificate_valid"], false);
  EXPECT_EQ(certificate_json(none)["certificate_problems"].size(), 1u);
}

TEST(Certificate, WrongExpectedOwner) {
  Fixture f;
  const std::string bob_pub = f.bob + ".pub";
  const CertificateCheck c = check_certificate(f.cert, kKeys, kModel, &bob_pub);
  EXPECT_TRUE(c.signature_valid && c.keys_match && c.model_match);
  EXPECT_FALSE(c.valid());
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_NE(c.problems[0].find("someone else"), std::string::npos) << c.problems[0];
  // Bob signing the same claim himself: valid as Bob's, not as Alice's.
  const std::string alice_pub = f.alice + ".pub", bob_cert = f.d.file("bob.cert");
  certify(f.bob + ".key", kKeys, kModel, "deepsigns-hidden", bob_cert);
  EXPECT_TRUE(check_certificate(bob_cert, kKeys, kModel, &bob_pub).valid());
  EXPECT_FALSE(check_certificate(bob_cert, kKeys, kModel, &alice_pub).valid());
  // A malformed expected key is an Error, not a silent pass.
  const std::string not_pub = f.alice + ".key";
  EXPECT_THROW(check_certificate(f.cert, kKeys, kModel, &not_pub), Error);
}

TEST(Certificate, MalformedFilesAreErrorsNamingTheFile) {
  Fixture f;
  const std::string good = read_file(f.cert);
  const json j = json::parse(good);
  auto with = [&](const std::function<void(json&)>& edit) {
    json k = j;
    edit(k);
    return k.dump();
  };
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"truncated", good.substr(0, good.size() / 2)},
      {"one byte short", good.substr(0, good.rfind('}'))},
      {"garbage", std::string("\x00\xff\x13\x37garbage\x80", 12)},
      {"not json", "this is not a certificate"},
      {"array", "[1,2,3]"},
      {"deep", std::string(20000, '[') + std::string(20000, ']')},
      {"other format", with([](json& k) { k["format"] = "signet-identity-public"; })},
      {"version 2", with([](json& k) { k["version"] = 2; })},
      {"version string", with([](json& k) { k["version"] = "1"; })},
      {"no claim", with([](json& k) { k.erase("claim"); })},
      {"claim string", with([](json& k) { k["claim"] = "x"; })},
      {"no signature", with([](json& k) { k.erase("signature"); })},
      {"signature number", with([](json& k) { k["signature"] = 12; })},
      {"signature not hex", with([](json& k) { k["signature"] = std::string(128, 'z'); })},
      {"signature upper", with([](json& k) { k["signature"] = std::string(128, 'A'); })},
      {"signature short", with([](json& k) { k["signature"] = k["signature"].get<std::string>().substr(2); })},
      {"owner short", with([](json& k) { k["claim"]["owner_public_key"] = "abcd"; })},
      {"keys hash not hex", with([](json& k) { k["claim"]["keys_sha256"] = std::string(64, 'g'); })},
      {"model hash null", with([](json& k) { k["claim"]["model_sha256"] = nullptr; })},
      {"no time", with([](json& k) { k["claim"].erase("time"); })},
      {"bad time", with([](json& k) { k["claim"]["time"] = "yesterday"; })},
      {"scheme quote", with([](json& k) { k["claim"]["scheme"] = "a\"b"; })},
      {"extra claim field", with([](json& k) { k["claim"]["note"] = "unsigned"; })},
      {"claim version float", with([](json& k) { k["claim"]["version"] = 1.0; })},
      {"huge", std::string(1 << 20, ' ') + good},
  };
  for (const auto& [what, bytes] : bad) {
    const std::string p = f.d.file("bad.cert");
    write_text(p, bytes);
    try {
      check_certificate(p, kKeys, kModel);
      ADD_FAILURE() << what << ": accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << what << ": " << e.what();
    }
  }
  EXPECT_THROW(check_certificate(f.d.file("missing.cert"), kKeys, kModel), Error);
  EXPECT_THROW(check_certificate(f.d.path.string(), kKeys, kModel), Error);
}

TEST(Certificate, CertifyRefusesBadIdentitiesAndHashes) {
  Fixture f;
  const std::string out = f.d.file("x.cert");
  EXPECT_THROW(certify(f.alice + ".pub", kKeys, kModel, "s", out), Error);  // public half
  EXPECT_THROW(certify(f.d.file("nobody.key"), kKeys, kModel, "s", out), Error);
  // Alice's secret key paired with Bob's public key: mixed-up files are refused.
  json k = json::parse(read_file(f.alice + ".key"));
  k["public_key"] = read_public_key(f.bob + ".pub");
  write_text(f.d.file("mixed.key"), k.dump());
  try {
    certify(f.d.file("mixed.key"), kKeys, kModel, "s", out);
    ADD_FAILURE() << "certified with a mixed-up key file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not belong"), std::string::npos) << e.what();
  }
  k = json::parse(read_file(f.alice + ".key"));
  k["secret_key"] = k["secret_key"].get<std::string>().substr(0, 64);
  write_text(f.d.file("short.key"), k.dump());
  EXPECT_THROW(certify(f.d.file("short.key"), kKeys, kModel, "s", out), Error);
  write_text(f.d.file("garbage.key"), "\x01\x02not json");
  EXPECT_THROW(certify(f.d.file("garbage.key"), kKeys, kModel, "s", out), Error);
  EXPECT_THROW(certify(f.alice + ".key", "abc", kModel, "s", out), Error);
  EXPECT_THROW(certify(f.alice + ".key", kKeys, std::string(64, 'X'), "s", out), Error);
  EXPECT_THROW(certify(f.alice + ".key", kKeys, kModel, "", out), Error);
  EXPECT_FALSE(fs::exists(out));
}
