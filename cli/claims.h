// What `signet extract` and `signet verify` share: the owner's keys (any scheme) and optional
// certificate, one piece of evidence per suspect, one decision (p <= alpha), printed as a table
// or as one JSON object. With --certificate, the certificate is checked first (signature, keys
// file, marked model the keys record); an invalid one is reported beside the evidence, no
// ownership is claimed, and the command exits 1.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "watermark/scheme.h"
#include "watermark/verify/certificate.h"

namespace signet::cli {

struct SuspectEvidence {
  std::string weights, sha256;
  Evidence evidence;
  std::optional<Evidence> aligned;  // extract --align: reported, never decided on
  nlohmann::json extra;             // oracle description, model name, ...
};

struct ClaimContext {
  std::string command;        // "extract" | "verify"
  LoadedKeys keys;
  double alpha = 0;
  std::optional<CertificateCheck> certificate;
};

// Loads the keys; checks --certificate (and --owner-key) when given. alpha <= 0: the scheme's
// default for these keys.
ClaimContext open_claim(const std::string& command, const std::string& keys_path, double alpha,
                        const std::string& certificate_path, const std::string& owner_key_path);
// Prints the results (table or JSON); Error (exit 1) after printing when the certificate failed.
void report_claims(const ClaimContext& ctx, const std::vector<SuspectEvidence>& results, bool json);

}  // namespace signet::cli
