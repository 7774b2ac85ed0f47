# Socket-free pieces of the PostgreSQL drivers.
connmgr_test(connmgr_pg_unit_tests LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_params_test.cpp
  LIBS connmgr_pg connmgr_core)
connmgr_test(connmgr_pg_statement_cache_unit_tests LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_statement_cache_test.cpp
  LIBS connmgr_pg connmgr_core)
target_include_directories(connmgr_pg_statement_cache_unit_tests PRIVATE
  ${PROJECT_SOURCE_DIR}/lib/src/pg)
connmgr_test(connmgr_pg_hosts_unit_tests LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_hosts_test.cpp
  LIBS connmgr_pg connmgr_core)
target_include_directories(connmgr_pg_hosts_unit_tests PRIVATE ${PROJECT_SOURCE_DIR}/lib/src/pg)
