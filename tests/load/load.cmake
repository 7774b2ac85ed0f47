# Overload scenarios (issue 16) against the servers of scripts/services.sh; label `load`.
connmgr_test(reliability_load_tests LABEL load
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/overload_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
