// Signed ownership claims: an owner's Ed25519 identity (libsodium) signs "these keys mark this
// model", so a verifier can tell who embedded a watermark and when, not only that one is there.
//
// Files (small JSON text; every key and signature is lowercase hex):
//   NAME.key  {"format":"signet-identity-secret","version":1,"algorithm":"ed25519",
//              "public_key":"<32 bytes>","secret_key":"<64 bytes: libsodium seed || public key>"}
//              mode 0600 whatever the umask.
//   NAME.pub  {"format":"signet-identity-public","version":1,"algorithm":"ed25519",
//              "public_key":"<32 bytes>"}
//   C.cert    {"format":"signet-certificate","version":1,"claim":{...},"signature":"<64 bytes>"}
//   claim     {"keys_sha256":..,"model_sha256":..,"owner_public_key":..,"scheme":..,
//              "time":"2026-12-04T17:40:00Z","version":1}
//
// The signature is a detached Ed25519 signature over
//   "signet-certificate-v1\n" + the claim serialised as compact JSON with sorted keys
// (nlohmann::json::dump(); every claim string is printable ASCII without '"' or '\', so any
// JSON writer agrees, e.g. Python json.dumps(claim, sort_keys=True, separators=(",", ":"))).
// The domain prefix keeps a certificate signature from being replayed as any other message.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace signet {

// Creates a fresh Ed25519 key pair (OS CSPRNG) and writes NAME.key (0600) and NAME.pub
// (0644), each atomically. Refuses (Error) when either file already exists; never leaves
// only one of the two behind.
void write_identity(const std::string& name);

// The public key (hex) that NAME.pub holds; Error naming the file when malformed.
std::string read_public_key(const std::string& pub_path);

struct Claim {
  int version = 1;
  std::string owner_public_key;  // hex, 32 bytes
  std::string keys_sha256;       // the keys file's SHA-256
  std::string model_sha256;      // the marked model's SHA-256
  std::string scheme;            // the keys file's scheme
  std::string time;              // ISO 8601 UTC, e.g. 2026-12-04T17:40:00Z
};

// The exact bytes that are signed (see above).
std::string claim_signed_bytes(const Claim& claim);

// Signs a claim with the identity in `identity_key_path` (a NAME.key; its public key must
// derive from its secret key) and writes the certificate to out_path atomically (0644).
// The caller computes the hashes; they must be 64 hex digits. Returns the claim written.
Claim certify(const std::string& identity_key_path, const std::string& keys_sha256,
              const std::string& model_sha256, const std::string& scheme,
              const std::string& out_path);

struct CertificateCheck {
  bool signature_valid = false, keys_match = false, model_match = false;
  Claim claim;
  std::vector<std::string> problems;  // one readable sentence per failure
  bool valid() const { return signature_valid && keys_match && model_match && problems.empty(); }
};

// Checks a certificate against a keys file: the signature over the claim, the claim's keys hash
// against the keys file's actual SHA-256 (`keys_sha256`), and the claim's model hash against
// the marked model's SHA-256 the keys file records (`keys_model_sha256`; empty when the keys
// file records none). With expected_public_key_path (a NAME.pub) the owner must be that key.
// A file that is not a well-formed certificate is an Error naming it; a well-formed one that
// fails is reported in the result.
CertificateCheck check_certificate(const std::string& cert_path, const std::string& keys_sha256,
                                   const std::string& keys_model_sha256,
                                   const std::string* expected_public_key_path = nullptr);

// certificate_valid, certificate_time, owner_public_key, certificate_problems,
// certified_model_sha256, certified_keys_sha256, certified_scheme: for --json output.
nlohmann::json certificate_json(const CertificateCheck& check);

}  // namespace signet
