// signet predict: batch inference. Reads the tensor `input` of a safetensors file, writes the
// logits (or the named layer's activation) as `output`. The input is used as given (already
// normalised), so that any framework can be compared with Signet on identical numbers. A model
// file without Signet metadata (a PyTorch state dict) takes its input shape from `input`.
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/finite_weights.h"
#include "models/trainer.h"

namespace signet::cli {

void register_predict(CLI::App& app) {
  struct Args { std::string model, weights, input, out, layer; int threads = 0; };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("predict", "Run a batch through a saved model");
  c->add_option("--model", a->model, "model name (checked against the file; for a PyTorch state dict, its architecture)");
  c->add_option("--weights", a->weights, "model file (.safetensors)")->required();
  c->add_option("--input", a->input, "safetensors file with a tensor named 'input' (float32; int64 token ids for token models)")->required();
  c->add_option("--out", a->out, "output safetensors file (tensor 'output')")->required();
  c->add_option("--layer", a->layer, "write this layer's activation instead of the logits");
  c->add_option("--threads", a->threads, "threads (0: all cores)");
  c->callback([a] {
    set_threads(a->threads);
    check_output_paths({{"--weights", a->weights}, {"--input", a->input}}, {{"--out", a->out}});
    const NamedTensors in = load_safetensors(a->input);
    const Tensor& x = in.at("input");
    const Shape example(x.shape().begin() + std::min<int64_t>(1, x.dim()), x.shape().end());
    Model model =
        load_model(a->weights, model_hints(a->model, ModelFileFlags{}, example, "tensor 'input' of " + a->input), nullptr);
    warn_if_nonfinite(model, a->weights);
    // Image models take float32 pixels, token models (imdb-lstm) int64 token ids.
    const DType want = model.takes_tokens() ? DType::I64 : DType::F32;
    SIGNET_CHECK(x.dtype() == want, "{}: tensor 'input' must be {} for {}, is {}", a->input, dtype_name(want), model.name,
                 dtype_name(x.dtype()));
    Shape expect = model.config.input_shape;
    SIGNET_CHECK(x.dim() == static_cast<int64_t>(expect.size()) + 1 && Shape(x.shape().begin() + 1, x.shape().end()) == expect,
                 "{}: tensor 'input' has shape {}, the model takes [N, {}]", a->input, shape_str(x.shape()), join_shape(expect));
    NamedTensors out;
    out.tensors.emplace_back("output", predict(model, x, a->layer).contiguous());
    out.metadata["signet.model"] = model.name;
    out.metadata["signet.layer"] = a->layer.empty() ? "logits" : a->layer;
    save_safetensors(a->out, out);
  });
}

}  // namespace signet::cli
