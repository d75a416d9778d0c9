// benchorch compatibility header: caffe2::Timer for speed_benchmark_torch.cc.
//
// An installed libtorch (Debian's libtorch-dev 1.13.1) ships no caffe2/core
// headers. speed_benchmark_torch.cc only needs a stopwatch whose
// MicroSeconds() returns a float (the benchmark prints
// `micros / FLAGS_iter` with the default 6 significant digits, so the type
// matters for the output format the parser reads).
#pragma once

#include <chrono>

namespace caffe2 {

class Timer {
 public:
  using clock = std::chrono::steady_clock;

  Timer() : start_(clock::now()) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void Start() { start_ = clock::now(); }

  float NanoSeconds() const {
    const auto elapsed = clock::now() - start_;
    return static_cast<float>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
  }
  float MicroSeconds() const { return NanoSeconds() / 1e3f; }
  float MilliSeconds() const { return NanoSeconds() / 1e6f; }
  float Seconds() const { return NanoSeconds() / 1e9f; }

 private:
  clock::time_point start_;
};

}  // namespace caffe2
