# The pg-ha topology's helpers (scripts/services.sh pg-ha, tests/support/pg_ha.hpp); skips unless
# `scripts/services.sh start pg-ha` ran.
connmgr_test(pg_ha_smoke_tests LABEL fault LOCK pg-ha
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_ha_smoke_test.cpp)
# Failover under write load (issue 21): read-only switchover, primary killed or stopped then a
# standby promoted, failback to a rejoined old primary; sync and async.
connmgr_test(pg_failover_fault_tests LABEL fault LOCK pg-ha
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_failover_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
# `connmgr check` lists each server of a multi-host database with its state (issue 21): nodes
# stopped, check's exit code follows the target.
if(TARGET connmgr_cli)
  connmgr_test(pg_ha_check_fault_tests LABEL fault LOCK pg-ha
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_ha_check_test.cpp
    LIBS connmgr::connmgr Boost::json)
  add_dependencies(pg_ha_check_fault_tests connmgr_cli)
  target_compile_definitions(pg_ha_check_fault_tests PRIVATE
    CONNMGR_CLI_PATH="$<TARGET_FILE:connmgr_cli>")
endif()
