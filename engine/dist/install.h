// Internal to engine/dist: the transport files hand world() their communicator here.
#pragma once
#include <memory>

#include "engine/dist/communicator.h"

namespace signet::dist {
void install(std::shared_ptr<Communicator> c);  // nullptr: back to the single process
}  // namespace signet::dist
