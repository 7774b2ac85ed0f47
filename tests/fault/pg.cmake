# PostgreSQL restarted under the drivers and pools ($CONNMGR_SERVICES restart postgres).
connmgr_test(connmgr_pg_fault_tests LABEL fault LOCK postgres-restart
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_driver_restart_test.cpp
  LIBS connmgr_pg connmgr_core)
connmgr_test(connmgr_pg_client_fault_tests LABEL fault LOCK postgres-restart
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_restart_test.cpp
  LIBS connmgr_pg connmgr_core)
# Server faults under load, for PostgreSQL, PgBouncer and Redis (issue 16); each case takes the
# lock of the server it kills connections of or restarts.
connmgr_test(reliability_fault_tests LABEL fault LOCK postgres-restart
  FILTER "*/pg_*:*/pgbouncer_*"
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/server_fault_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
connmgr_test_label(reliability_fault_tests LABEL fault LOCK redis-restart FILTER "*/redis_*")
# The server frozen (SIGSTOP) under load: the client-side query_timeout, recovery with the
# default retry and breaker. Freezing PostgreSQL freezes what PgBouncer reaches too.
connmgr_test(reliability_freeze_tests LABEL fault LOCK postgres-restart
  FILTER "*/pg_*:*/pgbouncer_*"
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/server_freeze_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
connmgr_test_label(reliability_freeze_tests LABEL fault LOCK redis-restart FILTER "*/redis_*")
# The server's own connection limit (a role with CONNECTION LIMIT 3 behind a pool of 10).
connmgr_test(reliability_limit_tests LABEL fault LOCK postgres-restart
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/connection_limit_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
# PgBouncer restarted ($CONNMGR_SERVICES restart pgbouncer) under load.
connmgr_test(reliability_pgbouncer_restart_tests LABEL fault LOCK postgres-restart
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pgbouncer_restart_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX PostgreSQL::PostgreSQL)
