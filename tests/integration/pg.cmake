# PostgreSQL drivers and client against the servers of scripts/services.sh.
connmgr_test(connmgr_pg_integration_tests LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_driver_test.cpp
  LIBS connmgr_pg connmgr_core)
connmgr_test(connmgr_pg_client_tests LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_client_test.cpp
  LIBS connmgr_pg connmgr_core)
connmgr_test(connmgr_pg_clean_tests LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_clean_test.cpp
  LIBS connmgr_pg connmgr_redis connmgr_core)
if(TARGET connmgr_cli)  # `connmgr check` shows connect errors in the server's words
  add_dependencies(connmgr_pg_clean_tests connmgr_cli)
  target_compile_definitions(connmgr_pg_clean_tests PRIVATE
    CONNMGR_CLI_PATH="$<TARGET_FILE:connmgr_cli>")
endif()
connmgr_test(connmgr_pg_statement_cache_tests LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pg_statement_cache_test.cpp
  LIBS connmgr_pg connmgr_core)
