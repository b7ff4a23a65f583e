#include "serve/inference_batcher.h"

#include <algorithm>
#include <chrono>

#include "engine/ops.h"

namespace signet::serve {

InferenceBatcher::InferenceBatcher(std::shared_ptr<Oracle> oracle, int64_t batch_size, int64_t wait_us,
                                   int64_t max_pending)
    : oracle_(std::move(oracle)), batch_size_(batch_size), wait_us_(wait_us), max_pending_(max_pending) {
  SIGNET_CHECK(oracle_ != nullptr, "the batcher needs an oracle");
  SIGNET_CHECK(batch_size_ >= 1 && wait_us_ >= 0 && max_pending_ >= 1,
               "batch size ({}), wait ({} us) and pending limit ({}) must be positive", batch_size_, wait_us_,
               max_pending_);
  worker_ = std::thread([this] { run(); });
}

InferenceBatcher::~InferenceBatcher() { stop(); }

void InferenceBatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

int64_t InferenceBatcher::model_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return model_calls_;
}

void InferenceBatcher::arriving(int delta) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    arriving_ += delta;
  }
  cv_.notify_all();
}

PredictAnswer InferenceBatcher::predict(const Tensor& inputs, bool want_scores, bool announced) {
  auto job = std::make_unique<Job>();
  job->inputs = inputs;
  job->want_scores = want_scores;
  std::future<PredictAnswer> answer = job->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (announced) --arriving_;
    if (stopping_) throw Busy("the server is shutting down");
    if (pending_inputs_ > 0 && pending_inputs_ + inputs.size(0) > max_pending_)
      throw Busy(fmt::format("{} inputs already wait for the model; try again shortly", pending_inputs_));
    pending_inputs_ += inputs.size(0);
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return answer.get();  // rethrows what the oracle threw
}

void InferenceBatcher::run() {
  for (;;) {
    std::vector<std::unique_ptr<Job>> labels, scores;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to answer
      // Give clients whose requests are being read a moment to join this call, unless it is full.
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(wait_us_);
      cv_.wait_until(lock, until, [&] { return stopping_ || arriving_ <= 0 || pending_inputs_ >= batch_size_; });
      int64_t taken = 0;
      while (!queue_.empty()) {
        const int64_t n = queue_.front()->inputs.size(0);
        if (taken > 0 && taken + n > batch_size_) break;  // a request larger than a call runs alone
        taken += n;
        auto& group = queue_.front()->want_scores ? scores : labels;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      pending_inputs_ -= taken;
    }
    answer(labels, false);
    answer(scores, true);
  }
}

void InferenceBatcher::answer(std::vector<std::unique_ptr<Job>>& jobs, bool scores) {
  if (jobs.empty()) return;
  std::vector<PredictAnswer> answers;
  try {
    std::vector<Tensor> parts;
    for (const auto& j : jobs) parts.push_back(j->inputs);
    const Tensor x = parts.size() == 1 ? parts[0] : concat(parts, 0).contiguous();
    PredictAnswer all;
    if (scores) {
      all.scores = oracle_->scores(x).contiguous();
      // Labels from the same scores, so an answer's label and scores agree (ties: lowest class).
      const int64_t n = all.scores.size(0), C = all.scores.size(1);
      all.labels = Tensor::empty({n}, DType::I64);
      for (int64_t r = 0; r < n; ++r) {
        const float* row = all.scores.f32() + r * C;
        all.labels.i64()[r] = std::max_element(row, row + C) - row;
      }
    } else {
      all.labels = oracle_->labels(x).contiguous();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++model_calls_;
    }
    int64_t at = 0;
    for (auto& j : jobs) {
      const int64_t n = j->inputs.size(0);
      PredictAnswer a;
      a.labels = all.labels.narrow_view(0, at, n).clone();
      if (scores) a.scores = all.scores.narrow_view(0, at, n).clone();
      at += n;
      answers.push_back(std::move(a));
    }
  } catch (...) {
    for (auto& j : jobs) j->done.set_exception(std::current_exception());
    return;
  }
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i]->done.set_value(std::move(answers[i]));
}

}  // namespace signet::serve
