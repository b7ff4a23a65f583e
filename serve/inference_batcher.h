// Gathers the predict requests of concurrent clients into model calls of up to batch_size
// inputs. One worker thread owns the oracle (models are not thread-safe, and one big call is
// cheaper than many small ones): it waits up to `wait_us` for a call to fill, runs at most one
// labels call and one scores call per round, and hands each request its rows.
//
// The wait is only worth it when another request is on its way: callers announce a request
// with arriving() as soon as they start reading it, and predict(..., announced = true) takes the
// announcement back. With nothing announced a call runs at once (a lone client pays no wait).
//
// predict() blocks until the request is answered. When more than max_pending inputs already
// wait, it throws Busy at once (the server answers 503 with Retry-After). stop() answers what
// is queued, then ends the worker; predict() after stop() throws Busy.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "serve/predict_codec.h"
#include "watermark/verify/oracle.h"

namespace signet::serve {

struct Busy : Error {
  using Error::Error;
};

class InferenceBatcher {
 public:
  InferenceBatcher(std::shared_ptr<Oracle> oracle, int64_t batch_size, int64_t wait_us, int64_t max_pending);
  ~InferenceBatcher();
  InferenceBatcher(const InferenceBatcher&) = delete;
  InferenceBatcher& operator=(const InferenceBatcher&) = delete;

  PredictAnswer predict(const Tensor& inputs, bool want_scores, bool announced = false);
  // A request is being read (+1), or was given up before predict() (-1).
  void arriving(int delta);
  void stop();
  int64_t model_calls() const;  // oracle calls made so far (fewer than requests when batching works)

 private:
  struct Job {
    Tensor inputs;
    bool want_scores;
    std::promise<PredictAnswer> done;
  };
  void run();
  void answer(std::vector<std::unique_ptr<Job>>& jobs, bool scores);

  std::shared_ptr<Oracle> oracle_;
  int64_t batch_size_, wait_us_, max_pending_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  int64_t pending_inputs_ = 0;
  int64_t arriving_ = 0;
  int64_t model_calls_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace signet::serve
