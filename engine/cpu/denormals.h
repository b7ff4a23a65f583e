// Denormal floats (magnitudes below 1.2e-38) flushed to zero on the CPU.
//
// Why: some x86 cores take a slow microcoded path for every arithmetic op that reads or makes a
// denormal. Gradients carried back through many time steps (the LSTM's backward) decay into that
// range, and an LSTM step was several times slower on such a core than with flushing, for values
// too small to change any result. So the engine sets the SSE control register's flush-to-zero
// and denormals-are-zero bits in the main thread before main() runs (engine/tensor.cpp); every
// thread started later (the OpenMP pool, the data loader's) inherits them. TensorFlow flushes
// the same way; PyTorch leaves it to torch.set_flush_denormal.
#pragma once

namespace signet::cpu {

// Sets flush-to-zero and denormals-are-zero for the calling thread (no-op off x86). Returns true.
bool flush_denormals();
// Whether the calling thread flushes denormals.
bool denormals_flushed();

}  // namespace signet::cpu
