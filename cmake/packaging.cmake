# `cmake --install build [--prefix P]` installs bin/signet and share/man/man1/signet.1;
# `cpack` in the build directory packs the same into signet_<version>_amd64.deb (docs/install.md).
include(GNUInstallDirs)
# Installing packs what is already built: no `all` first (the tests and benchmarks are not
# installed, so building them just to install would only cost time).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
# Keep the run path to the OpenMP build of OpenBLAS (not a default library directory): without it
# the installed binary would load whichever libopenblas.so.0 the alternatives system selects,
# and a pthread OpenBLAS would fight Signet's OpenMP pool for the cores.
set_target_properties(signet PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
install(TARGETS signet RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/signet.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME signet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "deep learning engine for watermarking neural networks")
set(CPACK_PACKAGE_DESCRIPTION
  "Signet trains neural networks, embeds watermarks into them (white-box and black-box schemes),\n\
extracts and verifies them, attacks them, and signs ownership certificates. Built with\n\
-march=${SIGNET_MARCH}: a package built with -march=native runs only on CPUs like the build machine's.")
set(CPACK_PACKAGE_CONTACT "Signet maintainers <maintainers@users.noreply.b-seed-6d168058.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # signet_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# The run-time libraries come from dpkg-shlibdeps on the binary (dpkg-dev, part of build-essential).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# dpkg-shlibdeps asks only for some libopenblas0; the run path above names the OpenMP build's.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-openmp")
# The default data set of `signet train`; every command also works on other data.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dataset-fashion-mnist")
include(CPack)
