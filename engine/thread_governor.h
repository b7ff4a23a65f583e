// How many threads the OpenMP pool (which OpenBLAS shares) uses, and when that changes.
//
// Why adapt: every op splits its work over the pool and waits for all of it at a barrier. On
// a machine whose cores other processes also want, the scheduler runs our threads at
// different times, so each barrier waits for a descheduled partner (spinning or asleep, the
// time is lost either way). Measured on 2 cores: an MLP step with 2 threads beside two busy
// loops or another training process took 3-5x its idle time, the same step with 1 thread
// 1.7-3x (bench/RESULTS.md, "A busy machine"). So by default the pool shrinks while other
// processes keep the cores busy and grows back when they stop.
//
// How: between steps, at most every kInterval, the main thread compares the machine's busy
// CPU time (/proc/stat) with this process's own (getrusage). Other processes' share, in
// cores, is subtracted from the cores we may use; the pool gets that many threads (rounded,
// at least 1). A niced build barely registers (it only gets what we leave), a second
// training process or a PyTorch job does.
//
// Fixed counts: `--threads N` (N > 0), or SIGNET_ADAPTIVE_THREADS=0 in the environment,
// keep the count fixed. Results can depend on the thread count in the last bits (some
// reductions sum per-thread partial results), so runs that must be bitwise repeatable
// (tests, resumed checkpoints compared bit for bit, report grids) fix it.
#pragma once

namespace signet::threads {

// n > 0: exactly n threads, never adapted. n == 0: all cores, adapted to the machine's load
// unless SIGNET_ADAPTIVE_THREADS=0 (then all cores, fixed).
void configure(int n);
// n > 0: exactly n threads; n == 0: all cores; fixed either way (runs that must repeat bit for
// bit: the experiment grids).
void configure_fixed(int n);
// The pool's current size (omp_get_max_threads of the main thread).
int current();
// The most threads the pool may use (the configured count).
int limit();
// True while the count follows the machine's load.
bool adaptive();
// Call between steps, on the thread that runs the model (it owns the pool's size). Cheap: a
// clock read, and every kInterval two small reads of /proc. Does nothing when not adaptive.
void adapt();

// The decision alone, for tests: the pool size for `limit` threads when other processes use
// `others_cores` cores' worth of CPU time.
int threads_for_load(int limit, double others_cores);

}  // namespace signet::threads
