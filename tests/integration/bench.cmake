# `connmgr bench` end to end, and scripts/bench.sh in quick mode (needs the built CLI).
connmgr_test(bench_integration_tests LABEL integration LOCK connmgr_bench
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_cli_test.cpp
  LIBS Boost::json FILTER "-BenchScript.*")
# bench.sh loads the servers with up to 64 clients: it runs alone, in the `load` label.
connmgr_test_label(bench_integration_tests LABEL load LOCK connmgr_bench FILTER "BenchScript.*")
if(TARGET connmgr_cli)
  add_dependencies(bench_integration_tests connmgr_cli)
  target_compile_definitions(bench_integration_tests PRIVATE
    CONNMGR_CLI_PATH="$<TARGET_FILE:connmgr_cli>")
endif()
