# The pg-ha topology's helpers (scripts/services.sh pg-ha, tests/support/pg_ha.hpp); skips unless
# `scripts/services.sh start pg-ha` ran.
connmgr_test(pg_ha_smoke_tests LABEL fault LOCK pg-ha
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_ha_smoke_test.cpp)
# Failover under write load (issue 21): read-only switchover, primary killed or stopped then a
# standby promoted, failback to a rejoined old primary; sync and async.
connmgr_test(pg_failover_fault_tests LABEL fault LOCK pg-ha
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_failover_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
