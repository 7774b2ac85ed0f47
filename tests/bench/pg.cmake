# SELECT 1 through the PostgreSQL pools next to pgbench (see pg_bench.cpp for usage).
if(CONNMGR_BUILD_BENCH)
  add_executable(connmgr_pg_bench ${CMAKE_CURRENT_LIST_DIR}/pg_bench.cpp)
  target_link_libraries(connmgr_pg_bench PRIVATE connmgr_pg connmgr_core)
  connmgr_set_warnings(connmgr_pg_bench)
endif()
