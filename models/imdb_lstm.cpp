// imdb-lstm: the DeepSigns IMDB sentiment model (see models/registry.h).
#include <memory>

#include "layers/layers.h"
#include "layers/recurrent.h"
#include "models/registry.h"

namespace signet {

std::shared_ptr<Module> make_imdb_lstm(const ModelConfig& c, Rng& rng) {
  SIGNET_CHECK(c.input_shape.size() == 1 && c.input_shape[0] >= 1,
               "imdb-lstm: takes token sequences (input shape {{L}}), got {}{}", shape_str(c.input_shape),
               c.input_shape.size() == 3 ? " (images: use an image model, or a token data set such as imdb)" : "");
  SIGNET_CHECK(c.num_classes <= 2, "imdb-lstm has one logit (binary labels 0/1), but {} classes were asked for",
               c.num_classes);
  SIGNET_CHECK(c.vocab_size >= 0, "imdb-lstm: vocab_size must be >= 0, got {}", c.vocab_size);
  const int64_t vocab = c.vocab_size > 0 ? c.vocab_size : 5002;
  auto net = std::make_shared<Sequential>("ImdbLSTM");
  net->add("embedding", std::make_shared<Embedding>(vocab, 32, rng));
  net->add("lstm", std::make_shared<LSTM>(32, 100, rng, /*return_last=*/true));
  if (c.dropout > 0) net->add("dropout", std::make_shared<Dropout>(c.dropout));
  net->add("fc", std::make_shared<Linear>(100, 1, true, rng));
  return net;
}

}  // namespace signet
