#include "engine/cpu/denormals.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define SIGNET_HAS_MXCSR 1
#endif

namespace signet::cpu {

#ifdef SIGNET_HAS_MXCSR
namespace {
constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
}
bool flush_denormals() {
  _mm_setcsr(_mm_getcsr() | kFlushToZero | kDenormalsAreZero);
  return true;
}
bool denormals_flushed() { return (_mm_getcsr() & (kFlushToZero | kDenormalsAreZero)) == (kFlushToZero | kDenormalsAreZero); }
#else
bool flush_denormals() { return true; }
bool denormals_flushed() { return false; }
#endif

}  // namespace signet::cpu
