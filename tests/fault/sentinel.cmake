# Redis Sentinel failover under load (issue 22, DESIGN §12) on the sentinel topology of
# scripts/services.sh; skips unless `scripts/services.sh start sentinel` ran.
connmgr_test(sentinel_failover_fault_tests LABEL fault LOCK sentinel
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sentinel_failover_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
