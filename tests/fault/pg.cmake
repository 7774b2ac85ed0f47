# PostgreSQL restarted under the drivers and pools ($CONNMGR_SERVICES restart postgres).
connmgr_test(connmgr_pg_fault_tests LABEL fault LOCK postgres-restart
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_driver_restart_test.cpp
  LIBS connmgr_pg connmgr_core)
connmgr_test(connmgr_pg_client_fault_tests LABEL fault LOCK postgres-restart
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_restart_test.cpp
  LIBS connmgr_pg connmgr_core)
# PostgreSQL frozen (SIGSTOP) under the pools: the client-side query_timeout.
connmgr_test(connmgr_pg_freeze_tests LABEL fault LOCK postgres-restart
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_freeze_test.cpp
  LIBS connmgr_pg connmgr_core)
