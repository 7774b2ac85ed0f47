# Soak (issue 16): mixed load on every local database while each server is restarted in turn;
# CONNMGR_SOAK_SECONDS (default 60). One ctest case, so that it can hold both restart locks
# (gtest_discover_tests cannot carry a list-valued RESOURCE_LOCK).
add_executable(reliability_soak_tests ${CMAKE_CURRENT_LIST_DIR}/soak_test.cpp)
target_link_libraries(reliability_soak_tests PRIVATE connmgr::connmgr PkgConfig::PQXX
  PostgreSQL::PostgreSQL connmgr_test_support GTest::gtest GTest::gtest_main)
connmgr_set_warnings(reliability_soak_tests)
add_test(NAME Soak.MixedLoadUnderRestartsNoErrorOutsideRestartsNoGrowth
  COMMAND reliability_soak_tests)
set_tests_properties(Soak.MixedLoadUnderRestartsNoErrorOutsideRestartsNoGrowth PROPERTIES
  LABELS fault RESOURCE_LOCK "postgres-restart;redis-restart" TIMEOUT 1200)
