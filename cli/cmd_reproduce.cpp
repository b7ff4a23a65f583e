// signet reproduce <table-or-figure>: the short form of `signet evaluate --config
// experiments/<file>.toml` for the DeepSigns paper's experiments, writing runs/<name>/results.*
// and the report reports/<name>.md with its figure. `all` runs every one in turn.
#include <filesystem>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/error.h"

namespace signet::cli {

namespace {
struct Experiment {
  const char* file;
  const char* what;
};
const std::vector<std::pair<std::vector<std::string>, Experiment>>& experiments() {
  static const std::vector<std::pair<std::vector<std::string>, Experiment>> e = {
      {{"fig6", "figure6", "figure-6", "pruning"}, {"fig6_pruning_seeds.toml", "Figure 6: parameter pruning, 3 seeds"}},
      {{"table3", "table-3", "finetune", "fine-tuning"}, {"table3_finetune.toml", "Table 3: fine-tuning"}},
      {{"table4", "table-4", "overwrite", "overwriting"}, {"table4_overwrite.toml", "Table 4: overwriting"}},
      {{"fig7", "figure7", "figure-7", "integrity"}, {"fig7_integrity.toml", "Figure 7: integrity"}},
      {{"fig8", "figure8", "figure-8", "capacity"}, {"fig8_capacity.toml", "Figure 8: capacity"}},
      {{"fig9", "figure9", "figure-9", "overhead"},
       {"fig9_overhead.toml", "Figure 9: embedding overhead as time to accuracy (mnist-mlp, cifar10-cnn)"}},
      {{"fig9-wrn", "fig9", "figure9", "figure-9", "overhead"},
       {"fig9_overhead_wrn.toml", "Figure 9: time to accuracy on wrn-16-4 (padded Fashion-MNIST)"}},
      {{"permutation", "permute"}, {"permutation.toml", "feature permutation, plain vs aligned extraction"}},
      {{"distill", "distillation", "extraction"}, {"distill.toml", "distillation (model extraction) from labels and scores"}},
      {{"blackbox", "black-box", "blackbox-compare"}, {"blackbox_compare.toml", "black-box marks compared under the same attacks"}},
      {{"trigger-sets", "triggers"}, {"trigger_sets.toml", "the trigger-set marks: fidelity, robustness, integrity"}},
      {{"blackbox-services", "quantize-blackbox"},
       {"blackbox_services.toml", "black-box marks under weight quantization and score rounding or perturbation"}},
      {{"blackbox-cnn", "trigger-sets-cnn"},
       {"blackbox_cnn.toml", "the trigger-set marks on cifar10-cnn: every attack, 3 seeds"}},
      {{"blackbox-cnn-integrity", "integrity-blackbox-cnn"},
       {"blackbox_cnn_integrity.toml", "black-box marks on cifar10-cnn asked by 20 unmarked models of two architectures and two recipes"}},
      {{"blackbox-integrity", "integrity-blackbox"}, {"blackbox_integrity.toml", "black-box marks asked by 20 unmarked models of two architectures"}},
      {{"whitebox-integrity", "integrity-whitebox"}, {"whitebox_integrity.toml", "white-box marks read from 20 unmarked models each"}},
      {{"whitebox-services", "permutation-whitebox"}, {"whitebox_services.toml", "white-box marks under permutation; GradSigns behind attacked services"}},
      {{"whitebox", "white-box"},
       {"whitebox_robustness.toml", "weight and input-gradient marks: integrity, fine-tuning, pruning"}},
      {{"whitebox-overwrite", "white-box-overwrite"},
       {"whitebox_overwrite.toml", "weight and input-gradient marks: overwriting"}},
      {{"whitebox-cnn", "cnn-whitebox"},
       {"whitebox_cnn.toml", "weight and input-gradient marks on cifar10-cnn: overwriting, permutation, services"}},
      {{"whitebox-wrn", "wrn-whitebox"},
       {"whitebox_wrn.toml", "Uchida on wrn-16-4 (padded Fashion-MNIST): fidelity, integrity, fine-tuning, pruning"}},
      {{"whitebox-capacity", "capacity-whitebox"},
       {"whitebox_capacity.toml", "weight and input-gradient marks: signature length against BER and accuracy"}},
      {{"output-keysearch", "keysearch"},
       {"output_keysearch.toml", "DeepSigns output mark: density, sparsest and random keys under fine-tuning at the training rate"}},
      {{"deepsigns-wrn", "wrn"},
       {"deepsigns_wrn.toml", "DeepSigns hidden mark on wrn-16-4 (padded Fashion-MNIST): fidelity, integrity, fine-tuning, pruning"}},
      {{"deepsigns-resnet50", "resnet50"},
       {"deepsigns_resnet50.toml", "DeepSigns hidden mark on resnet50 (padded RGB Fashion-MNIST): fidelity, integrity, fine-tuning, pruning"}},
      // Last: it reads a corpus made by experiments/make_sentiment_corpus.py (the config says how).
      {{"deepsigns-lstm", "lstm"}, {"deepsigns_lstm.toml", "DeepSigns hidden mark on imdb-lstm: fidelity, integrity, fine-tuning, pruning"}},
      {{"fig9-lstm", "fig9", "figure9", "figure-9", "overhead"},
       {"fig9_overhead_lstm.toml", "Figure 9: time to accuracy on imdb-lstm (the sentiment corpus)"}},
  };
  return e;
}

std::string known() {
  std::string s;
  for (const auto& [names, ex] : experiments()) s += fmt::format("\n  {:<12} {} ({})", names[0], ex.what, ex.file);
  return s + "\n  all          every one of them in turn";
}
}  // namespace

void register_reproduce(CLI::App& app) {
  auto a = std::make_shared<ConfigRunArgs>();
  auto which = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>("experiments");
  auto* c = app.add_subcommand("reproduce", "Run one of the paper's experiments (its config in experiments/) and "
                                            "write its report:" + known());
  c->add_option("experiment", *which, "fig6 | table3 | table4 | fig7 | fig8 | fig9 | permutation | all (aliases: "
                                      "figure6, pruning, finetune, overwrite, integrity, capacity, overhead, ...)")
      ->required();
  c->add_option("--experiments", *dir, "directory of the configs")->capture_default_str();
  add_config_run_options(c, *a);
  c->callback([a, which, dir] {
    std::vector<std::pair<std::string, const Experiment*>> todo;
    for (const auto& [names, ex] : experiments()) {
      if (*which == "all") todo.emplace_back(names[0], &ex);
      else if (std::find(names.begin(), names.end(), *which) != names.end()) todo.emplace_back(names[0], &ex);
    }
    SIGNET_CHECK(!todo.empty(), "unknown experiment '{}'; known:{}", *which, known());
    for (const auto& [name, ex] : todo) {
      ConfigRunArgs r = *a;
      r.config = *dir + "/" + ex->file;
      SIGNET_CHECK(std::filesystem::exists(r.config), "{} not found (run from the repository root, or pass "
                                                      "--experiments DIR)", r.config);
      r.command = "signet reproduce " + name;
      run_config_command(r);
    }
  });
}

}  // namespace signet::cli
