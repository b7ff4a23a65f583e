// Training checkpoints (`signet train --resume`): restored into a small model with each
// optimizer, since the optimizer state is read by the optimizer named in the file.
#include "layers/optim.h"
#include "models/model_io.h"
#include "tests/fuzz/fuzz_checkpoint_model.h"
#include "tests/fuzz/fuzz_target.h"

namespace signet::fuzz {

bool fuzz_checkpoint(const std::string& input) {
  const InputFile file(input);
  bool loaded = false;
  for (const char* optimizer : {"sgd", "adamw"}) {
    Model m = checkpoint_fuzz_model();
    auto opt = make_optimizer(optimizer, m.net->named_parameters(), 0.1f, 0.9f, 0, false);
    try {
      load_checkpoint(file.path(), m, *opt);
      loaded = true;
    } catch (const Error&) {
      // Refused for this optimizer; the next one may read it.
    }
  }
  return loaded;
}

}  // namespace signet::fuzz

SIGNET_FUZZ_ENTRY(signet::fuzz::fuzz_checkpoint)
