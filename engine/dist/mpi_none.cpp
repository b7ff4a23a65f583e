// Built when CMake found no MPI library: distributed runs are refused with what to install.
#include "engine/dist/communicator.h"
#include "engine/error.h"

namespace signet::dist {

bool mpi_built() { return false; }

void start() {
  throw Error(
      "--distributed: this signet was built without MPI; install Open MPI (apt-get install libopenmpi-dev "
      "openmpi-bin), rebuild, and launch with `mpirun -np P signet ...`");
}

void finish(int) {}

}  // namespace signet::dist
