# Installs the library into a scratch prefix and builds tests/cmake_consumer against it with
# find_package(connmgr): proves the package config works for users.
add_test(NAME PackageConsumer.FindPackageAndLink
  COMMAND ${CMAKE_COMMAND}
    -DBUILD_DIR=${PROJECT_BINARY_DIR}
    -DSOURCE_DIR=${CMAKE_CURRENT_LIST_DIR}
    -DWORK_DIR=${PROJECT_BINARY_DIR}/cmake_consumer
    "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}"
    -P ${CMAKE_CURRENT_LIST_DIR}/install_and_build.script)
set_tests_properties(PackageConsumer.FindPackageAndLink PROPERTIES LABELS unit)

# The same program built with clang++ against the library g++ built (what a clang user of a
# distribution's package does), and every public header compiled on its own with clang++. Only
# where g++ built the library (a clang build is the test above) without sanitizers (their
# runtimes differ between the compilers).
find_program(CONNMGR_CLANGXX NAMES clang++-14 clang++)
if(CONNMGR_CLANGXX AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
   AND NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize")
  add_test(NAME PackageConsumer.Clang
    COMMAND ${CMAKE_COMMAND}
      -DBUILD_DIR=${PROJECT_BINARY_DIR}
      -DSOURCE_DIR=${CMAKE_CURRENT_LIST_DIR}
      -DWORK_DIR=${PROJECT_BINARY_DIR}/cmake_consumer_clang
      -DCXX_COMPILER=${CONNMGR_CLANGXX}
      -DCOMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}
      -P ${CMAKE_CURRENT_LIST_DIR}/install_and_build.script)
  add_test(NAME PackageConsumer.ClangEachHeader
    COMMAND ${CMAKE_COMMAND}
      -DBUILD_DIR=${PROJECT_BINARY_DIR}
      -DSOURCE_DIR=${CMAKE_CURRENT_LIST_DIR}
      -DWORK_DIR=${PROJECT_BINARY_DIR}/cmake_consumer_clang_headers
      -DCXX_COMPILER=${CONNMGR_CLANGXX}
      -DCOMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}
      -DEACH_HEADER=ON
      -P ${CMAKE_CURRENT_LIST_DIR}/install_and_build.script)
  set_tests_properties(PackageConsumer.Clang PackageConsumer.ClangEachHeader
    PROPERTIES LABELS unit)
elseif(NOT CONNMGR_CLANGXX)
  message(STATUS "clang++ not found: no PackageConsumer.Clang* tests (scripts/install-deps.sh installs clang-14)")
endif()
