// `signet certify --identity NAME.key --keys K.wmk --model M.safetensors --out C.cert [--json]`:
// the owner signs "these keys mark this model" (watermark/verify/certificate.h). Only the
// marked model that the keys file records can be certified: a certificate must never tie the
// keys to some other model.
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"
#include "watermark/verify/certificate.h"
#include "watermark/verify/keys_file.h"

namespace signet::cli {
namespace {

struct Args {
  std::string identity, keys, model, out;
  bool json = false;
};

void run_certify(const Args& a) {
  check_output_paths({{"--identity", a.identity}, {"--keys", a.keys}, {"--model", a.model}}, {{"--out", a.out}});
  const KeysFile kf = read_keys_file(a.keys);
  const auto marked = kf.nt.metadata.find("signet.marked_sha256");
  SIGNET_CHECK(marked != kf.nt.metadata.end(),
               "{}: the keys file does not record its marked model (no signet.marked_sha256 in its metadata; it was "
               "written by an older signet): re-embed to get keys that can be certified", a.keys);
  const std::string model_sha = sha256_hex(read_file(a.model));
  SIGNET_CHECK(model_sha == marked->second,
               "{}: its SHA-256 {} is not the marked model's {} that {} records: certify the model that embedding "
               "with these keys wrote", a.model, model_sha, marked->second, a.keys);
  const Claim c = certify(a.identity, kf.sha256, model_sha, kf.scheme, a.out);
  if (a.json) {
    print_json({{"command", "certify"}, {"certificate", a.out}, {"owner_public_key", c.owner_public_key},
                {"keys", a.keys}, {"keys_sha256", c.keys_sha256}, {"model", a.model},
                {"model_sha256", c.model_sha256}, {"scheme", c.scheme}, {"time", c.time}});
    return;
  }
  fmt::print("certificate  {}\nowner        {}\nkeys         {} (sha256 {})\nmodel        {} (sha256 {})\n"
             "scheme       {}\ntime         {}\n", a.out, c.owner_public_key, a.keys, c.keys_sha256, a.model,
             c.model_sha256, c.scheme, c.time);
}

}  // namespace

void register_certify(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("certify", "Sign an ownership certificate: these keys mark this model, owned by me");
  c->add_option("--identity", a->identity, "the owner's secret key (NAME.key from `signet identity new`)")->required();
  c->add_option("--keys", a->keys, "the keys file that marked the model")->required();
  c->add_option("--model", a->model, "the marked model (.safetensors) that the keys file records")->required();
  c->add_option("--out", a->out, "the certificate to write (C.cert)")->required();
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->callback([a] { run_certify(*a); });
}

}  // namespace signet::cli
