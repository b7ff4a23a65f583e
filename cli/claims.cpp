#include "cli/claims.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "cli/common.h"

namespace signet::cli {

ClaimContext open_claim(const std::string& command, const std::string& keys_path, double alpha,
                        const std::string& certificate_path, const std::string& owner_key_path) {
  ClaimContext ctx;
  ctx.command = command;
  ctx.keys = load_keys(keys_path);
  ctx.alpha = alpha > 0 ? alpha : ctx.keys.scheme->default_alpha(*ctx.keys.keys);
  SIGNET_CHECK(ctx.alpha > 0 && ctx.alpha < 1, "--alpha must be in (0, 1), got {}", ctx.alpha);
  SIGNET_CHECK(owner_key_path.empty() || !certificate_path.empty(),
               "--owner-key checks a certificate: give --certificate too");
  if (!certificate_path.empty()) {
    auto it = ctx.keys.keys->provenance.find("signet.marked_sha256");
    const std::string marked = it == ctx.keys.keys->provenance.end() ? "" : it->second;
    ctx.certificate = check_certificate(certificate_path, ctx.keys.sha256, marked,
                                        owner_key_path.empty() ? nullptr : &owner_key_path);
  }
  return ctx;
}

namespace {
bool certificate_ok(const ClaimContext& ctx) { return !ctx.certificate || ctx.certificate->valid(); }

std::string decision_text(const SuspectEvidence& r, bool cert_ok) {
  if (std::isnan(r.evidence.threshold)) return "no decision (too few bits for alpha)";
  if (!cert_ok) return r.evidence.claimed ? "evidence found, CERTIFICATE INVALID" : "not claimed";
  return r.evidence.claimed ? "OWNERSHIP PROVEN" : "not claimed";
}
}  // namespace

void report_claims(const ClaimContext& ctx, const std::vector<SuspectEvidence>& results, bool json) {
  const Scheme& scheme = *ctx.keys.scheme;
  const SchemeKeys& keys = *ctx.keys.keys;
  const bool cert_ok = certificate_ok(ctx);
  std::string certified_model;
  if (ctx.certificate) certified_model = ctx.certificate->claim.model_sha256;
  if (json) {
    nlohmann::json head = {{"command", ctx.command}, {"scheme", scheme.info().name}, {"keys", ctx.keys.path},
                           {"keys_sha256", ctx.keys.sha256}, {"alpha", ctx.alpha},
                           {"null_hypothesis", scheme.info().null_hypothesis}};
    head.update(keys.describe());
    head["aligned"] = std::any_of(results.begin(), results.end(), [](const SuspectEvidence& r) { return r.aligned; });
    if (ctx.certificate) head.update(certificate_json(*ctx.certificate));
    nlohmann::json rows = nlohmann::json::array();
    for (const SuspectEvidence& r : results) {
      const bool claimed = r.evidence.claimed && cert_ok;
      nlohmann::json j = {{"weights", r.weights}, {"weights_sha256", r.sha256}, {"metric", r.evidence.metric},
                          {"value", r.evidence.value}, {"p_value", r.evidence.p_value},
                          {"evidence_claimed", r.evidence.claimed}, {"ownership_proven", claimed}};
      if (!std::isnan(r.evidence.threshold)) j["threshold"] = r.evidence.threshold;
      j.update(r.evidence.details);
      j.update(r.extra);
      if (ctx.certificate) j["suspect_is_certified_model"] = r.sha256 == certified_model;
      if (r.aligned) {
        j["aligned_ber"] = r.aligned->value;
        j["aligned_matches"] = r.aligned->matches;
        if (r.aligned->details.contains("alignment_residual"))
          j["alignment_residual"] = r.aligned->details["alignment_residual"];
      }
      rows.push_back(j);
    }
    nlohmann::json out = head;
    if (rows.size() == 1) {
      out.update(rows[0]);
    } else {
      out["results"] = rows;
    }
    print_json(out);
  } else {
    std::printf("keys %s (%s, sha256 %s): %s; ownership when p <= %.3g\n", ctx.keys.path.c_str(),
                scheme.info().name.c_str(), ctx.keys.sha256.c_str(), keys.summary().c_str(), ctx.alpha);
    if (ctx.certificate) {
      const CertificateCheck& c = *ctx.certificate;
      std::printf("certificate: %s, owner %s, certified %s\n", cert_ok ? "valid" : "INVALID",
                  c.claim.owner_public_key.c_str(), c.claim.time.c_str());
      for (const std::string& p : c.problems) std::printf("  problem: %s\n", p.c_str());
    }
    size_t width = 7;
    for (const auto& r : results) width = std::max(width, r.weights.size());
    const int w = static_cast<int>(width);
    std::printf("  %-*s  %-32s  %9s  %s\n", w, "suspect", "evidence", "p-value", "decision");
    for (const SuspectEvidence& r : results) {
      std::printf("  %-*s  %-32s  %9.3g  %s%s\n", w, r.weights.c_str(), r.evidence.text.c_str(), r.evidence.p_value,
                  decision_text(r, cert_ok).c_str(),
                  ctx.certificate && r.sha256 == certified_model ? " (the certified model itself)" : "");
      if (r.aligned)
        std::printf("  %-*s  %s (aligned: not an ownership test)\n", w, "  (aligned)", r.aligned->text.c_str());
    }
  }
  if (!cert_ok)
    throw Error(fmt::format("the certificate does not hold: {}; no ownership is claimed",
                            fmt::join(ctx.certificate->problems, "; ")));
}

}  // namespace signet::cli
