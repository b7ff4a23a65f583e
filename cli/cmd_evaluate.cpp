// signet evaluate: test accuracy and loss of a saved model on a data set split.
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "models/trainer.h"

namespace signet::cli {

void register_evaluate(CLI::App& app) {
  struct Args { std::string model, weights, dataset = "fashion-mnist", data_dir, split = "test"; int threads = 0; bool json = false; };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("evaluate", "Accuracy of a saved model on a data set");
  c->add_option("--model", a->model, "model name (checked against the file)");
  c->add_option("--weights", a->weights, "model file (.safetensors)")->required();
  c->add_option("--dataset", a->dataset, "data set")->capture_default_str();
  c->add_option("--data-dir", a->data_dir, "directory of the data set files");
  c->add_option("--split", a->split, "train | test")->capture_default_str();
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->add_flag("--json", a->json, "print one JSON object on stdout");
  c->callback([a] {
    set_threads(a->threads);
    const Dataset set = load_split(a->dataset, a->split, a->data_dir);
    Normalization norm;
    Model model = load_model(a->weights, a->model, &norm);
    if (norm.mean.empty()) norm = normalization_of(load_split(a->dataset, "train", a->data_dir));
    const EvalResult r = evaluate_model(model, set, norm);
    if (a->json) {
      print_json({{"command", "evaluate"}, {"model", model.name}, {"weights", a->weights}, {"dataset", a->dataset},
                  {"split", a->split}, {"accuracy", r.accuracy}, {"loss", r.loss}, {"correct", r.correct},
                  {"total", r.total}});
    } else {
      std::printf("%s on %s/%s: accuracy %.2f%% (%lld/%lld), loss %.4f\n", a->weights.c_str(), a->dataset.c_str(),
                  a->split.c_str(), 100 * r.accuracy, static_cast<long long>(r.correct),
                  static_cast<long long>(r.total), r.loss);
    }
  });
}

}  // namespace signet::cli
