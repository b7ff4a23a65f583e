# What `signet --version` reports, and the man page generated from the built binary's --help.

# The build facts known at configure time go to cli/build_info.cpp alone (changing one
# recompiles that file only); the git commit is read at every build (cmake/git_version.cmake).
if(CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo)$")
  set(SIGNET_MARCH_APPLIED "${SIGNET_MARCH}")
else()
  set(SIGNET_MARCH_APPLIED "")
endif()
if(SIGNET_SANITIZE STREQUAL "")
  set(SIGNET_SANITIZER_NAME "none")
else()
  set(SIGNET_SANITIZER_NAME "${SIGNET_SANITIZE}")
endif()
if(SIGNET_HAVE_CUDA)
  set(SIGNET_CUDA_TOOLKIT 1)
else()
  set(SIGNET_CUDA_TOOLKIT 0)
endif()
set_source_files_properties(cli/build_info.cpp PROPERTIES COMPILE_DEFINITIONS
  "SIGNET_VERSION=\"${PROJECT_VERSION}\";SIGNET_BUILD_TYPE=\"${CMAKE_BUILD_TYPE}\";\
SIGNET_MARCH=\"${SIGNET_MARCH_APPLIED}\";SIGNET_SANITIZER=\"${SIGNET_SANITIZER_NAME}\";\
SIGNET_CUDA_TOOLKIT=${SIGNET_CUDA_TOOLKIT}")

find_package(Git QUIET)
set(SIGNET_GENERATED_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated)
# Always runs; rewrites the header only when the commit or the dirty mark changed.
add_custom_target(signet_git_version
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUT=${SIGNET_GENERATED_DIR}/signet_git_version.h
          -DGIT_EXECUTABLE=${GIT_EXECUTABLE} -P ${PROJECT_SOURCE_DIR}/cmake/git_version.cmake
  BYPRODUCTS ${SIGNET_GENERATED_DIR}/signet_git_version.h
  COMMENT "Reading the git commit for signet --version"
  VERBATIM)
add_dependencies(signet signet_git_version)
target_include_directories(signet PRIVATE ${SIGNET_GENERATED_DIR})

# signet.1 is written after every link of `signet`, from its own --help texts (every
# subcommand's), so the man page cannot drift from the binary and `cmake --install` always
# finds it next to the binary.
add_custom_command(TARGET signet POST_BUILD
  COMMAND sh ${PROJECT_SOURCE_DIR}/cmake/manpage.sh $<TARGET_FILE:signet> ${CMAKE_CURRENT_BINARY_DIR}/signet.1
  COMMENT "Writing the man page signet.1 from signet --help"
  VERBATIM)
