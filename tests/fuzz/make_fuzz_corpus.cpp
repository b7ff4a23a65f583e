// Writes the seed corpora of the fuzz harnesses: small valid inputs of every reader (made by
// the project's own writers, so they stay valid as formats evolve) and near-valid ones (one
// field wrong) that start the fuzzer next to the checks.
//   signet_fuzz_corpus <out: tests/fuzz/corpus> <experiments dir>
// Deterministic: the same commit writes the same bytes.
#include <fmt/format.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/serialize/safetensors.h"
#include "layers/optim.h"
#include "models/model_io.h"
#include "tests/fuzz/fuzz_checkpoint_model.h"
#include "watermark/deepsigns/hidden.h"
#include "watermark/deepsigns/output.h"
#include "watermark/gradsigns/gradsigns.h"
#include "watermark/scheme.h"
#include "watermark/triggerset/trigger_set.h"
#include "watermark/uchida/uchida.h"
#include "watermark/verify/keys_file.h"

using namespace signet;
namespace fs = std::filesystem;

namespace {
fs::path out_root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = out_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Tensor ramp(const Shape& s, float scale = 0.1f) {
  std::vector<float> v(static_cast<size_t>(shape_numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * static_cast<float>(i % 11);
  return Tensor::from_vector(v, s);
}
Tensor ids(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return Tensor::from_vector_i64(v, {n});
}

// A safetensors file by hand: what our writer never writes (other dtypes, odd headers).
std::string raw_safetensors(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

void safetensors_seeds() {
  NamedTensors nt;
  nt.tensors = {{"w", ramp({2, 3})}, {"n", ids({1, -2, 3})}, {"s", Tensor::scalar(0.5f)}};
  nt.metadata = {{"signet.format", "model"}, {"note", "seed"}};
  const std::string ok = encode_safetensors(nt);
  put("safetensors", "valid_f32_i64", ok);
  put("safetensors", "truncated", ok.substr(0, ok.size() - 5));
  put("safetensors", "empty_header", raw_safetensors("{}", ""));
  put("safetensors", "other_dtypes",
      raw_safetensors(R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                      R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},)"
                      R"("u":{"dtype":"U8","shape":[2],"data_offsets":[6,8]},)"
                      R"("i":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},)"
                      R"("z":{"dtype":"BOOL","shape":[0,3],"data_offsets":[12,12]},)"
                      R"("d":{"dtype":"F64","shape":[1],"data_offsets":[12,20]}})",
                      std::string("\x00\x3c\x00\xc0\x80\x3f\x01\xff\x07\x00\x00\x80", 12) + std::string(8, '\x01')));
  put("safetensors", "overlap",
      raw_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                      std::string(6, '\x01')));
  put("safetensors", "bad_json", raw_safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4])", "abcd"));
}

void keys_seeds() {
  const Normalization norm{{0.5f}, {0.25f}};
  const fs::path tmp = fs::temp_directory_path() / "signet-fuzz-corpus.keys";
  auto save = [&](const std::string& name, NamedTensors nt, const std::string& scheme) {
    nt.metadata["signet.keys_version"] = "2";
    write_keys_file(tmp.string(), std::move(nt), scheme, norm);
    put("keys", name, slurp(tmp));
    fs::remove(tmp);
  };
  HiddenKeys h;
  h.model = "mnist-mlp";
  h.layer = "relu2";
  h.dataset = "synthetic";
  h.classes = {0, 1};
  h.A = ramp({4, 3});
  h.b = Tensor::from_vector({1, 0, 1, 0, 0, 1}, {2, 3});
  h.key_indices = ids({5, 9});
  h.key_inputs = ramp({2, 1, 2, 2});
  h.key_labels = ids({0, 1});
  h.mu = ramp({2, 4});
  h.ref_activations = ramp({2, 4});
  save("deepsigns_hidden", hidden_keys_tensors(h), "deepsigns-hidden");

  OutputKeys o;
  o.model = "mnist-mlp";
  o.layer = "fc3";
  o.dataset = "synthetic";
  o.key_search = "random";
  o.key_inputs = ramp({3, 1, 2, 2});
  o.key_labels = ids({1, 2, 0});
  o.candidates = 6;
  o.theta = 1;
  save("deepsigns_output", output_keys_tensors(o), "deepsigns-output");

  UchidaKeys u;
  u.model = "mnist-mlp";
  u.layer = "fc1";
  u.dataset = "synthetic";
  u.X = ramp({3, 4});
  u.b = Tensor::from_vector({1, 0, 1}, {3});
  u.config.input_shape = {1, 2, 2};
  save("uchida", uchida_keys_tensors(u), "uchida");

  GradSignsKeys g;
  g.model = "mnist-mlp";
  g.dataset = "synthetic";
  g.target = 1;
  g.K = ramp({3, 2});
  g.b = Tensor::from_vector({1, 0, 1}, {3});
  g.carriers = ids({0, 3});
  g.key_indices = ids({2, 4});
  g.key_inputs = ramp({2, 1, 2, 2});
  g.queries = 8;
  save("gradsigns", gradsigns_keys_tensors(g), "gradsigns");

  // Every trigger-set scheme reads the same layout under its own name.
  for (const Scheme* s : all_schemes()) {
    const std::string name = s->info().name;
    if (name == "deepsigns-hidden" || name == "deepsigns-output" || name == "uchida" || name == "gradsigns") continue;
    TriggerKeys t;
    t.scheme = name;
    t.model = "mnist-mlp";
    t.dataset = "synthetic";
    t.inputs = ramp({2, 1, 2, 2});
    t.labels = ids({3, 4});
    t.null_rate = 0.1;
    t.null_kind = "chance";
    t.null_source = "1 / classes";
    save(name, trigger_keys_tensors(t), name);
  }
  NamedTensors wrong;
  wrong.tensors = {{"A", ramp({2, 2})}};
  save("unknown_scheme", wrong, "no-such-scheme");
}

void checkpoint_seeds() {
  const fs::path tmp = fs::temp_directory_path() / "signet-fuzz-corpus.ckpt";
  for (const char* optimizer : {"sgd", "adamw"}) {
    Model m = fuzz::checkpoint_fuzz_model();
    auto opt = make_optimizer(optimizer, m.net->named_parameters(), 0.1f, 0.9f, 0, false);
    CheckpointState st;
    st.next_epoch = 2;
    st.global_step = 14;
    st.seed = 3;
    st.rng_state = {1, 2, 3, 4};
    save_checkpoint(tmp.string(), m, *opt, Normalization{{0.5f}, {0.25f}}, st);
    put("checkpoint", optimizer, slurp(tmp));
    fs::remove(tmp);
  }
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string gzip(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void idx_seeds() {
  const std::string images = std::string("\0\0\x08\x03", 4) + be32(2) + be32(3) + be32(3) + std::string(18, '\x7f');
  const std::string labels = std::string("\0\0\x08\x01", 4) + be32(3) + std::string("\x01\x02\x09", 3);
  put("idx", "images", images);
  put("idx", "labels", labels);
  put("idx", "labels_gz", gzip(labels));
  put("idx", "images_gz_truncated", gzip(images).substr(0, 20));
  put("idx", "images_short", images.substr(0, images.size() - 1));
}

void cifar10_seeds() {
  std::string rec(3073, '\x40');
  rec[0] = 3;
  put("cifar10", "one_record", rec);
  std::string bad = rec;
  bad[0] = 10;
  put("cifar10", "label_10", bad);
  put("cifar10", "short", rec.substr(0, 3000));
}

void imdb_seeds() {
  put("imdb", "reviews",
      ":50:10\n1_2\x1f" "A dull film.<br />Don't.\x1e" "2_9\x1f" "Great, great acting!\x1e"
      "0_1\x1f" "bad\x1e" "3_8\x1f" "caf\xc3\xa9 rock'n'roll 'quoted' good");
  const char nul[] = "\n\x1f" "ok\x1eis\0bad";
  put("imdb", "nul_byte", std::string(nul, sizeof nul - 1));
  put("imdb", "bad_spec", "::x\n10_1\x1fhello\x1e" "11_2\x1fworld");
}

void config_seeds(const fs::path& experiments) {
  for (const char* name : {"fig8_capacity.toml", "distill.toml", "trigger_sets.toml"})
    put("config", name, slurp(experiments / name));
  put("config", "minimal.toml",
      "name = \"seed\"\ntitle = \"Seed\"\n[[models]]\nname = \"mnist-mlp\"\nepochs = 1\n"
      "[[schemes]]\nscheme = \"deepsigns-hidden\"\nbits = [4, 8]\n[[attacks]]\nattack = \"prune\"\n"
      "strengths = [0.1, 0.5]\n");
  put("config", "bad_key.toml", "name = \"seed\"\ntitle = \"Seed\"\nepochz = 3\n");
}

void predict_seeds() {
  // See fuzz_predict.cpp for the mode byte.
  put("predict", "json_request", std::string(1, '\x00') + R"({"inputs": [[0,0.5,1,0, 0,0,0,0, 1,1,1,1, 0,0,0,0]], "answer": "scores"})");
  put("predict", "json_request_nested",
      std::string(1, '\x00') + R"({"inputs": [[[[0,1,0,1],[1,0,1,0],[0,0,0,0],[1,1,1,1]]]]})");
  put("predict", "json_request_tokens", std::string(1, '\x04') + R"({"inputs": [[1,2,3,4,5,6,7,8]]})");
  NamedTensors in;
  in.tensors = {{"input", ramp({2, 1, 4, 4})}};
  put("predict", "binary_request", std::string(1, '\x09') + encode_safetensors(in));
  put("predict", "json_answer", std::string(1, '\x0a') + R"({"labels": [1, 0], "scores": [[0.1, 0.9], [0.8, 0.2]], "queries": 2})");
  NamedTensors ans;
  ans.tensors = {{"labels", ids({1, 0})}, {"scores", ramp({2, 2})}};
  put("predict", "binary_answer", std::string(1, '\x0b') + encode_safetensors(ans));
}

void http_seeds() {
  // Raw connections to the server of fuzz_http.cpp (bearer token "fuzz-key", 1x4x4 inputs).
  const std::string auth = "Authorization: Bearer fuzz-key\r\n";
  const auto post = [&](const std::string& type, const std::string& query, const std::string& body) {
    return "POST /v1/predict" + query + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  put("http", "predict_json", post("application/json", "", R"({"inputs": [[0,0.5,1,0, 0,0,0,0, 1,1,1,1, 0,0,0,0]], "answer": "scores"})"));
  NamedTensors in;
  in.tensors = {{"input", ramp({2, 1, 4, 4})}};
  put("http", "predict_binary", post("application/octet-stream", "?answer=scores", encode_safetensors(in)));
  put("http", "model_and_health", "GET /v1/model HTTP/1.1\r\nHost: x\r\n" + auth +
                                      "\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  put("http", "no_token", "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  const auto chunk = [](const std::string& part) { return fmt::format("{:x}\r\n{}\r\n", part.size(), part); };
  put("http", "chunked", "POST /v1/predict HTTP/1.1\r\nHost: x\r\n" + auth +
                             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                             chunk(R"({"inputs": [[0,0,0,0, 0,0,0,0,)") + chunk(" 1,1,1,1, 0,0,0,0]]}") + "0\r\n\r\n");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: signet_fuzz_corpus OUT_DIR EXPERIMENTS_DIR\n";
    return 2;
  }
  out_root = argv[1];
  safetensors_seeds();
  keys_seeds();
  checkpoint_seeds();
  idx_seeds();
  cifar10_seeds();
  imdb_seeds();
  config_seeds(argv[2]);
  predict_seeds();
  http_seeds();
  return 0;
}
