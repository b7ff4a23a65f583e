#include "models/model_io.h"

#include <algorithm>
#include <sstream>

#include "datasets/dataloader.h"
#include "engine/serialize/atomic_file.h"
#include "engine/serialize/file_read.h"

namespace signet {

Normalization normalization_of(const Dataset& train_set) {
  if (train_set.is_tokens()) return Normalization{};  // token ids are not normalised
  auto [mean, stddev] = channel_mean_std(train_set.images);
  return Normalization{mean, stddev};
}

Normalization identity_normalization(int64_t channels) {
  return Normalization{std::vector<float>(channels, 0.0f), std::vector<float>(channels, 1.0f)};
}

Tensor normalise_inputs(const Tensor& x, const Normalization& norm) {
  if (norm.mean.empty()) return x;
  const int64_t C = x.size(1);
  SIGNET_CHECK(static_cast<int64_t>(norm.mean.size()) == C && norm.stddev.size() == norm.mean.size(),
               "the input normalisation has {} channels, the inputs {}", norm.mean.size(), C);
  Tensor out = x.contiguous().clone();
  const int64_t per = x.numel() / std::max<int64_t>(1, x.size(0) * C);
  float* p = out.f32();
  for (int64_t n = 0; n < x.size(0); ++n)
    for (int64_t c = 0; c < C; ++c) {
      float* q = p + (n * C + c) * per;
      const float m = norm.mean[c], inv = 1.0f / norm.stddev[c];
      for (int64_t i = 0; i < per; ++i) q[i] = (q[i] - m) * inv;
    }
  return out;
}

std::string join_floats(const std::vector<float>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + fmt::format("{:.9g}", v[i]);
  return s;
}

std::vector<float> split_floats(const std::string& s, const std::string& what) {
  std::vector<float> out;
  if (s.empty()) return out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stof(item, &used));
      SIGNET_CHECK(used == item.size(), "bad number '{}' in {}", item, what);
    } catch (const std::logic_error&) {
      throw Error(fmt::format("bad number '{}' in {}", item, what));
    }
  }
  return out;
}

std::string join_shape(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r;
}

int64_t parse_size(const std::string& s, const std::string& what) {
  // Digits only: a float parse would round large sizes and its cast to int64 can overflow.
  SIGNET_CHECK(!s.empty() && s.size() <= 18 && s.find_first_not_of("0123456789") == std::string::npos,
               "bad size '{}' in {}: expected a positive integer below 10^18", s.substr(0, 40), what);
  const int64_t v = std::stoll(s);
  SIGNET_CHECK(v >= 1, "bad size '{}' in {}: expected a positive integer", s, what);
  return v;
}

Shape split_shape(const std::string& s, const std::string& what) {
  Shape out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    SIGNET_CHECK(out.size() < 8, "{}: '{}' has more than 8 dimensions", what, s.substr(0, 80));
    out.push_back(parse_size(item, what));
  }
  checked_numel(out, what, kMaxSampleElements);
  return out;
}

static void put_model_metadata(NamedTensors& nt, const Model& model, const Normalization& norm) {
  nt.metadata["signet.model"] = model.name;
  nt.metadata["signet.num_classes"] = std::to_string(model.config.num_classes);
  nt.metadata["signet.input_shape"] = join_shape(model.config.input_shape);
  if (model.config.vocab_size > 0) nt.metadata["signet.vocab_size"] = std::to_string(model.config.vocab_size);
  nt.metadata["signet.input_mean"] = join_floats(norm.mean);
  nt.metadata["signet.input_std"] = join_floats(norm.stddev);
}

void save_model(const std::string& path, const Model& model, const Normalization& norm,
                const std::map<std::string, std::string>& extra_metadata) {
  NamedTensors nt;
  for (auto& [n, t] : state_dict(*model.net)) nt.tensors.emplace_back(n, t);
  nt.metadata = extra_metadata;
  put_model_metadata(nt, model, norm);
  nt.metadata["signet.format"] = "model";
  save_safetensors(path, nt);
}

ModelFileInfo read_model_info(const NamedTensors& file, const std::string& path) {
  ModelFileInfo info;
  auto get = [&](const std::string& k) {
    auto it = file.metadata.find(k);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  info.model = get("signet.model");
  if (info.model.empty()) return info;
  const std::string nc = get("signet.num_classes");
  if (!nc.empty()) info.config.num_classes = parse_size(nc, path + ": signet.num_classes");
  const std::string is = get("signet.input_shape");
  if (!is.empty()) info.config.input_shape = split_shape(is, path + ": signet.input_shape");
  const std::string vs = get("signet.vocab_size");
  if (!vs.empty()) info.config.vocab_size = parse_size(vs, path + ": signet.vocab_size");
  info.norm.mean = split_floats(get("signet.input_mean"), path + ": signet.input_mean");
  info.norm.stddev = split_floats(get("signet.input_std"), path + ": signet.input_std");
  SIGNET_CHECK(info.norm.mean.size() == info.norm.stddev.size(), "{}: input mean and std have different lengths", path);
  return info;
}

Model load_model(const std::string& path, const ModelHints& hints, Normalization* norm_out, bool* plain_out,
                 std::string* sha256_out) {
  NamedTensors file;
  {
    const std::string bytes = read_file(path);
    if (sha256_out) *sha256_out = sha256_hex(bytes);
    file = decode_safetensors(bytes, path);
  }
  // Keys files are safetensors too: say what the file is rather than fail on missing tensors.
  const auto format = file.metadata.find("signet.format");
  if (format != file.metadata.end()) {
    SIGNET_CHECK(format->second != "keys",
                 "{}: is a keys file (an owner's secret watermark keys), not a model: pass the model file here and "
                 "the keys file as --keys", path);
    SIGNET_CHECK(format->second == "model" || format->second == "checkpoint", "{}: is a {} file, not a model", path,
                 format->second);
  }
  ModelFileInfo info = read_model_info(file, path);
  std::string name = info.model;
  const bool plain = name.empty();  // no Signet metadata: a state dict as PyTorch saves it
  if (plain) {
    name = hints.model.empty() ? recognise_architecture(file, path) : hints.model;
    info.config = infer_model_config(name, file, hints.input_shape, path);
    info.norm = hints.norm;
    const int64_t channels = info.config.input_shape.size() == 3 ? info.config.input_shape[0] : 0;
    SIGNET_CHECK(info.norm.mean.empty() || static_cast<int64_t>(info.norm.mean.size()) == channels,
                 "{}: --input-mean / --input-std have {} values; the model takes {} channels", path,
                 info.norm.mean.size(), channels);
  } else {
    SIGNET_CHECK(hints.norm.mean.empty(), "{}: records its own input normalisation; --input-mean / --input-std "
                 "are for files without Signet metadata", path);
    SIGNET_CHECK(hints.model.empty() || hints.model == name, "{}: holds a '{}' model, not '{}' as --model says",
                 path, name, hints.model);
    const Shape& given = hints.input_shape.given;
    SIGNET_CHECK(given.empty() || given == info.config.input_shape,
                 "{}: the model takes inputs {} (its metadata says so), not {} as --input-shape says", path,
                 shape_str(info.config.input_shape), shape_str(given));
  }
  NamedTensorList state;
  const bool checkpoint = file.metadata.count("signet.format") && file.metadata.at("signet.format") == "checkpoint";
  for (const auto& [n, t] : file.tensors) {
    if (!checkpoint) {
      state.emplace_back(n, t);
    } else if (n.rfind("model.", 0) == 0) {
      state.emplace_back(n.substr(6), t);
    }
  }
  if (!plain) {  // a plain file's config was read off its weights already
    NamedTensors weights;
    weights.tensors.assign(state.begin(), state.end());
    check_config_against_weights(name, info.config, weights, path);
  }
  Rng init(0);
  Model m = build_model(name, info.config, init);
  try {
    load_state_dict(*m.net, state, path);
  } catch (const Error& e) {
    if (!plain) throw;
    throw Error(fmt::format("{} [no Signet metadata: read as {} with {} classes, input {}]", e.what(), name,
                            info.config.num_classes, shape_str(info.config.input_shape)));
  }
  if (norm_out) *norm_out = info.norm;
  if (plain_out) *plain_out = plain;
  return m;
}

Model load_model(const std::string& path, const std::string& expect_model, Normalization* norm_out,
                 const ModelConfig* fallback_config) {
  ModelHints hints;
  hints.model = expect_model;
  if (fallback_config) {
    hints.input_shape.data = fallback_config->input_shape;
    hints.input_shape.data_from = "the keys";
  }
  return load_model(path, hints, norm_out);
}

void save_checkpoint(const std::string& path, const Model& model, const Optimizer& opt,
                     const Normalization& norm, const CheckpointState& st) {
  NamedTensors nt;
  for (auto& [n, t] : state_dict(*model.net)) nt.tensors.emplace_back("model." + n, t);
  for (auto& [n, t] : opt.state()) nt.tensors.emplace_back("optim." + n, t);
  nt.metadata = st.metadata;
  put_model_metadata(nt, model, norm);
  nt.metadata["signet.format"] = "checkpoint";
  nt.metadata["signet.optimizer"] = opt.name();
  nt.metadata["signet.next_epoch"] = std::to_string(st.next_epoch);
  nt.metadata["signet.global_step"] = std::to_string(st.global_step);
  nt.metadata["signet.seed"] = std::to_string(st.seed);
  std::string rs;
  for (uint64_t w : st.rng_state) rs += (rs.empty() ? "" : ",") + fmt::format("{:016x}", w);
  nt.metadata["signet.rng_state"] = rs;
  save_safetensors(path, nt);
}

CheckpointState load_checkpoint(const std::string& path, Model& model, Optimizer& opt) {
  const NamedTensors file = load_safetensors(path);
  auto get = [&](const std::string& k) -> std::string {
    auto it = file.metadata.find(k);
    SIGNET_CHECK(it != file.metadata.end(), "{}: not a Signet checkpoint (no '{}' in its metadata)", path, k);
    return it->second;
  };
  SIGNET_CHECK(get("signet.format") == "checkpoint", "{}: is a {} file, not a checkpoint", path, get("signet.format"));
  SIGNET_CHECK(get("signet.model") == model.name, "{}: holds a '{}' model, not '{}'", path, get("signet.model"), model.name);
  SIGNET_CHECK(get("signet.optimizer") == opt.name(), "{}: was trained with optimizer '{}', not '{}'", path,
               get("signet.optimizer"), opt.name());
  NamedTensorList mstate, ostate;
  for (const auto& [n, t] : file.tensors) {
    if (n.rfind("model.", 0) == 0) mstate.emplace_back(n.substr(6), t);
    else if (n.rfind("optim.", 0) == 0) ostate.emplace_back(n.substr(6), t);
  }
  load_state_dict(*model.net, mstate, path);
  opt.load_state(ostate, path);
  CheckpointState st;
  st.metadata = file.metadata;
  try {
    st.next_epoch = std::stoll(get("signet.next_epoch"));
    st.global_step = std::stoll(get("signet.global_step"));
    st.seed = std::stoull(get("signet.seed"));
    std::stringstream ss(get("signet.rng_state"));
    std::string w;
    for (int i = 0; i < 4; ++i) {
      SIGNET_CHECK(std::getline(ss, w, ','), "{}: bad signet.rng_state", path);
      st.rng_state[i] = std::stoull(w, nullptr, 16);
    }
  } catch (const std::logic_error&) {
    throw Error(fmt::format("{}: bad number in the checkpoint metadata", path));
  }
  // A hand-edited or corrupt header must not resume at a negative or absurd epoch or step (the
  // step drives the learning-rate schedule).
  SIGNET_CHECK(st.next_epoch >= 0 && st.next_epoch <= kMaxEpochs,
               "{}: signet.next_epoch is {}, outside [0, {}]: the checkpoint is corrupt; train without --resume",
               path, st.next_epoch, kMaxEpochs);
  SIGNET_CHECK(st.global_step >= 0, "{}: signet.global_step is {}, negative: the checkpoint is corrupt; train "
               "without --resume", path, st.global_step);
  return st;
}

}  // namespace signet
