# Overload scenarios (issue 16) against the servers of scripts/services.sh; label `load`.
connmgr_test(reliability_load_tests LABEL load
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/overload_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
# 10,000 async acquires cancelled at random points (issue 16): nothing leaked, no connect left.
connmgr_test(reliability_cancel_storm_tests LABEL load
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cancel_storm_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
