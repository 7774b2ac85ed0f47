# Google Benchmark microbenchmarks (build in Release: see DESIGN §10).
if(CONNMGR_BUILD_BENCH)
  find_package(benchmark REQUIRED)
  add_executable(pool_bench ${CMAKE_CURRENT_LIST_DIR}/pool_bench.cpp)
  target_link_libraries(pool_bench PRIVATE connmgr_core connmgr_test_support benchmark::benchmark)
  connmgr_set_warnings(pool_bench)
endif()
