// `signet identity new --out NAME [--json]`: an owner's Ed25519 identity for signing ownership
// certificates (watermark/verify/certificate.h). NAME.key is the secret (0600), NAME.pub is what
// the owner hands to verifiers.
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/error.h"
#include "watermark/verify/certificate.h"

namespace signet::cli {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void run_identity_new(const std::string& name, bool as_json) {
  SIGNET_CHECK(!name.empty() && name.back() != '/', "--out must name the identity (a path without extension), got '{}'", name);
  // NAME.key.key would surely be a slip; say what is written instead.
  SIGNET_CHECK(!ends_with(name, ".key") && !ends_with(name, ".pub"),
               "--out is the identity's name without extension ('{}' would give {}.key and {}.pub)", name, name, name);
  check_output_paths({}, {{"--out", name + ".key"}, {"--out", name + ".pub"}});
  write_identity(name);
  const std::string key_path = name + ".key", pub_path = name + ".pub";
  const std::string pk = read_public_key(pub_path);
  if (as_json) {
    print_json({{"command", "identity new"}, {"public_key", pk}, {"secret_key_file", key_path},
                {"public_key_file", pub_path}});
    return;
  }
  fmt::print("public key   {}\nsecret file  {} (keep it private: it signs certificates in your name)\n"
             "public file  {} (give this to verifiers)\n", pk, key_path, pub_path);
}

}  // namespace

void register_identity(CLI::App& app) {
  struct Args {
    std::string out;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("identity", "Owner identities (Ed25519 key pairs) for signing ownership certificates");
  c->require_subcommand(1);
  auto* n = c->add_subcommand("new", "Make a new key pair: NAME.key (secret, mode 0600) and NAME.pub (public)");
  n->add_option("--out", a->out, "the identity's name: writes NAME.key and NAME.pub (never overwrites)")->required();
  n->add_flag("--json", a->json, "print one JSON object on stdout");
  n->callback([a] { run_identity_new(a->out, a->json); });
}

}  // namespace signet::cli
