// signet evaluate: test accuracy and loss of a saved model on a data set split.
//
// Images smaller than the model's input (e.g. Fashion-MNIST 28x28 for a model trained with
// --pad-to 32, or grey images for a model trained with --channels 3) are padded / replicated
// to the model's C,H,W the same way `signet train` did; other mismatches are an Error.
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "datasets/augment.h"
#include "models/trainer.h"

namespace signet::cli {

namespace {
Dataset fit_to_model(const Dataset& ds, const Model& model) {
  const Shape& want = model.config.input_shape;
  if (ds.is_tokens() || want.size() != 3) return ds;
  const Shape have(ds.images.shape().begin() + 1, ds.images.shape().end());
  if (have == want) return ds;
  const bool can = have[1] <= want[1] && have[2] <= want[2] && (have[0] == want[0] || (have[0] == 1 && want[0] == 3));
  SIGNET_CHECK(can, "{} takes {} images, the data set '{}' has {} (train and evaluate on the same data set)",
               model.name, shape_str(want), ds.name, shape_str(have));
  std::fprintf(stderr, "signet: padding %s images to the model's input %s\n", shape_str(have).c_str(),
               shape_str(want).c_str());
  return pad_images(ds, want[1], want[2], want[0] == have[0] ? 0 : want[0]);
}
}  // namespace

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
    Normalization norm;
    Model model = load_model(a->weights, a->model, &norm);
    const Dataset set = fit_to_model(load_split(a->dataset, a->split, a->data_dir), model);
    if (norm.mean.empty() && !set.is_tokens())
      norm = normalization_of(fit_to_model(load_split(a->dataset, "train", a->data_dir), model));
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
