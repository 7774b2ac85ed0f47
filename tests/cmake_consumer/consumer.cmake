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
