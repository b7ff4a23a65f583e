// safetensors bytes (models, checkpoints, keys, binary predict requests all arrive as these).
#include "engine/serialize/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

namespace signet::fuzz {

bool fuzz_safetensors(const std::string& input) {
  // The header alone (signet info) first: it must refuse whatever decode refuses, or accept.
  try {
    parse_safetensors_header(input, "fuzz.safetensors");
  } catch (const Error&) {
  }
  const NamedTensors nt = decode_safetensors(input, "fuzz.safetensors");
  // What was accepted must survive a round trip (the writer's inverse of the reader).
  if (!nt.tensors.empty()) decode_safetensors(encode_safetensors(nt), "re-encoded");
  return true;
}

}  // namespace signet::fuzz

SIGNET_FUZZ_ENTRY(signet::fuzz::fuzz_safetensors)
