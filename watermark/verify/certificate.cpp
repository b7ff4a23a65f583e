#include "watermark/verify/certificate.h"

#include <sodium.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <set>

#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "watermark/verify/json_file.h"

namespace signet {
namespace {

using json = nlohmann::json;
using namespace json_file;
constexpr const char* kDomain = "signet-certificate-v1\n";

void ensure_sodium() {
  static const int rc = sodium_init();  // thread-safe once; 1 means already initialised
  SIGNET_CHECK(rc >= 0, "libsodium failed to initialise (sodium_init)");
}

// The header and identity fields shared by NAME.key and NAME.pub.
void check_identity_header(const json& j, const std::string& path, const std::string& format) {
  const std::string& f = string_field(j, "format", path);
  SIGNET_CHECK(f == format, "{}: is a '{}' file, not a '{}' file{}", path, f, format,
               format == "signet-identity-secret" ? " (give the secret NAME.key, not NAME.pub)" : "");
  check_version(j, path);
  const std::string& alg = string_field(j, "algorithm", path);
  SIGNET_CHECK(alg == "ed25519", "{}: unsupported algorithm '{}' (expected ed25519)", path, alg);
}

// Claim strings are printable ASCII without '"' or '\': the signed JSON is then the same
// whichever JSON writer produces it.
bool plain_string(const std::string& s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s)
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  return true;
}

bool iso_utc(const std::string& s) {
  static const std::string pattern = "0000-00-00T00:00:00Z";
  if (s.size() != pattern.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (pattern[i] == '0' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pattern[i]) return false;
  return true;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  SIGNET_CHECK(::gmtime_r(&t, &tm) != nullptr, "cannot read the current UTC time");
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct SecretKey {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  ~SecretKey() { sodium_memzero(sk, sizeof sk); }
};

void load_secret_key(const std::string& path, SecretKey& key) {
  json j = read_object(path, "identity key file");
  check_identity_header(j, path, "signet-identity-secret");
  const auto pk = from_hex(string_field(j, "public_key", path), crypto_sign_PUBLICKEYBYTES, path, "public_key");
  auto sk = from_hex(string_field(j, "secret_key", path), crypto_sign_SECRETKEYBYTES, path, "secret_key");
  std::memcpy(key.sk, sk.data(), sk.size());
  sodium_memzero(sk.data(), sk.size());
  // The public key must both be the one stored in the secret key and derive from its seed.
  unsigned char seed[crypto_sign_SEEDBYTES], embedded[crypto_sign_PUBLICKEYBYTES];
  SecretKey derived;
  crypto_sign_ed25519_sk_to_pk(embedded, key.sk);
  crypto_sign_ed25519_sk_to_seed(seed, key.sk);
  const int rc = crypto_sign_seed_keypair(derived.pk, derived.sk, seed);
  sodium_memzero(seed, sizeof seed);
  SIGNET_CHECK(rc == 0 && sodium_memcmp(embedded, pk.data(), pk.size()) == 0 &&
                   sodium_memcmp(derived.pk, pk.data(), pk.size()) == 0,
               "{}: its public key does not belong to its secret key (the file was edited or mixed up)", path);
  std::memcpy(key.pk, pk.data(), pk.size());
}

std::string json_text(const nlohmann::ordered_json& j) { return j.dump(2) + "\n"; }

}  // namespace

void write_identity(const std::string& name) {
  ensure_sodium();
  SIGNET_CHECK(!name.empty(), "identity name is empty");
  const std::string key_path = name + ".key", pub_path = name + ".pub";
  refuse_if_exists(key_path);  // both before anything is written
  refuse_if_exists(pub_path);
  SecretKey k;
  SIGNET_CHECK(crypto_sign_keypair(k.pk, k.sk) == 0, "cannot make an Ed25519 key pair");
  const std::string pk_hex = to_hex(k.pk, sizeof k.pk);
  std::string sk_hex = to_hex(k.sk, sizeof k.sk);
  std::string secret = json_text({{"format", "signet-identity-secret"}, {"version", 1}, {"algorithm", "ed25519"},
                                  {"public_key", pk_hex}, {"secret_key", sk_hex}});
  sodium_memzero(&sk_hex[0], sk_hex.size());
  const std::string pub = json_text({{"format", "signet-identity-public"}, {"version", 1},
                                     {"algorithm", "ed25519"}, {"public_key", pk_hex}});
  try {
    write_new_file(key_path, secret, 0600);
  } catch (...) {
    sodium_memzero(&secret[0], secret.size());
    throw;
  }
  sodium_memzero(&secret[0], secret.size());
  try {
    write_new_file(pub_path, pub, 0644);
  } catch (...) {
    ::unlink(key_path.c_str());  // never leave a secret key without its public half
    throw;
  }
}

std::string read_public_key(const std::string& pub_path) {
  json j = read_object(pub_path, "public key file");
  check_identity_header(j, pub_path, "signet-identity-public");
  const std::string& pk = string_field(j, "public_key", pub_path);
  from_hex(pk, crypto_sign_PUBLICKEYBYTES, pub_path, "public_key");
  return pk;
}

std::string claim_signed_bytes(const Claim& c) {
  const json j = {{"version", c.version}, {"owner_public_key", c.owner_public_key},
                  {"keys_sha256", c.keys_sha256}, {"model_sha256", c.model_sha256},
                  {"scheme", c.scheme}, {"time", c.time}};
  try {
    return kDomain + j.dump();
  } catch (const json::exception& e) {  // invalid UTF-8 in a field
    throw Error(fmt::format("cannot serialise the claim: {}", e.what()));
  }
}

Claim certify(const std::string& identity_key_path, const std::string& keys_sha256,
              const std::string& model_sha256, const std::string& scheme, const std::string& out_path) {
  ensure_sodium();
  SIGNET_CHECK(is_hex(keys_sha256, 32), "keys SHA-256 '{}' is not 64 lowercase hex digits", keys_sha256);
  SIGNET_CHECK(is_hex(model_sha256, 32), "model SHA-256 '{}' is not 64 lowercase hex digits", model_sha256);
  SIGNET_CHECK(plain_string(scheme), "scheme name '{}' must be 1-256 printable ASCII characters without '\"' or '\\'", scheme);
  SecretKey key;
  load_secret_key(identity_key_path, key);
  Claim c;
  c.owner_public_key = to_hex(key.pk, sizeof key.pk);
  c.keys_sha256 = keys_sha256;
  c.model_sha256 = model_sha256;
  c.scheme = scheme;
  c.time = utc_now();
  const std::string msg = claim_signed_bytes(c);
  unsigned char sig[crypto_sign_BYTES];
  SIGNET_CHECK(crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()),
                                    msg.size(), key.sk) == 0, "Ed25519 signing failed");
  const nlohmann::ordered_json claim = {{"version", c.version}, {"owner_public_key", c.owner_public_key},
                                        {"keys_sha256", c.keys_sha256}, {"model_sha256", c.model_sha256},
                                        {"scheme", c.scheme}, {"time", c.time}};
  write_file_atomic(out_path, json_text({{"format", "signet-certificate"}, {"version", 1}, {"claim", claim},
                                         {"signature", to_hex(sig, sizeof sig)}}), 0644);
  return c;
}

CertificateCheck check_certificate(const std::string& cert_path, const std::string& keys_sha256,
                                   const std::string& keys_model_sha256, const std::string* expected_public_key_path) {
  ensure_sodium();
  const json j = read_object(cert_path, "certificate");
  const std::string& fmt_name = string_field(j, "format", cert_path);
  SIGNET_CHECK(fmt_name == "signet-certificate", "{}: is a '{}' file, not a certificate", cert_path, fmt_name);
  check_version(j, cert_path);
  auto cj = j.find("claim");
  SIGNET_CHECK(cj != j.end() && cj->is_object(), "{}: missing or malformed 'claim' (must be a JSON object)", cert_path);
  const std::string where = cert_path + ": claim";
  static const std::set<std::string> fields = {"version", "owner_public_key", "keys_sha256",
                                                "model_sha256", "scheme", "time"};
  for (auto it = cj->begin(); it != cj->end(); ++it)  // every claim field is signed: none may be ignored
    SIGNET_CHECK(fields.count(it.key()), "{}: unknown field '{}'", where, it.key());
  check_version(*cj, where);
  CertificateCheck r;
  Claim& c = r.claim;
  c.owner_public_key = string_field(*cj, "owner_public_key", where);
  c.keys_sha256 = string_field(*cj, "keys_sha256", where);
  c.model_sha256 = string_field(*cj, "model_sha256", where);
  c.scheme = string_field(*cj, "scheme", where);
  c.time = string_field(*cj, "time", where);
  const auto pk = from_hex(c.owner_public_key, crypto_sign_PUBLICKEYBYTES, where, "owner_public_key");
  from_hex(c.keys_sha256, 32, where, "keys_sha256");
  from_hex(c.model_sha256, 32, where, "model_sha256");
  SIGNET_CHECK(plain_string(c.scheme), "{}: 'scheme' must be 1-256 printable ASCII characters", where);
  SIGNET_CHECK(iso_utc(c.time), "{}: 'time' must look like 2026-12-04T17:40:00Z, got '{}'", where, c.time);
  const auto sig = from_hex(string_field(j, "signature", cert_path), crypto_sign_BYTES, cert_path, "signature");

  const std::string msg = claim_signed_bytes(c);
  r.signature_valid = crypto_sign_verify_detached(sig.data(), reinterpret_cast<const unsigned char*>(msg.data()),
                                                  msg.size(), pk.data()) == 0;
  if (!r.signature_valid)
    r.problems.push_back("the signature does not verify: the certificate was altered after signing, "
                         "or was not signed by the owner key it names");
  r.keys_match = c.keys_sha256 == keys_sha256;
  if (!r.keys_match)
    r.problems.push_back(fmt::format("the keys file's SHA-256 {} is not the certified {}: the keys file was "
                                     "changed or is not the certified one", keys_sha256, c.keys_sha256));
  r.model_match = c.model_sha256 == keys_model_sha256;
  if (keys_model_sha256.empty())
    r.problems.push_back(fmt::format("the keys file does not record its marked model, so it cannot be tied to "
                                     "the certified model {} (re-embed to get a keys file that does)", c.model_sha256));
  else if (!r.model_match)
    r.problems.push_back(fmt::format("the keys file's marked model {} is not the certified model {}: the "
                                     "certificate is for another model", keys_model_sha256, c.model_sha256));
  if (expected_public_key_path) {
    const std::string expected = read_public_key(*expected_public_key_path);
    if (expected != c.owner_public_key)
      r.problems.push_back(fmt::format("the certificate's owner key {} is not the key in {} ({}): it was signed "
                                       "by someone else", c.owner_public_key, *expected_public_key_path, expected));
  }
  return r;
}

nlohmann::json certificate_json(const CertificateCheck& check) {
  return {{"certificate_valid", check.valid()},
          {"certificate_time", check.claim.time},
          {"owner_public_key", check.claim.owner_public_key},
          {"certificate_problems", check.problems},
          {"certified_model_sha256", check.claim.model_sha256},
          {"certified_keys_sha256", check.claim.keys_sha256},
          {"certified_scheme", check.claim.scheme}};
}

}  // namespace signet
