# Unit tests of `connmgr bench`'s pieces that need no server: histogram, report, progress line,
# and the runner driven by in-process fake requests.
connmgr_test(bench_unit_tests LABEL unit
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/bench_histogram_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/bench_runner_test.cpp
    ${PROJECT_SOURCE_DIR}/cmd/connmgr/bench_histogram.cpp
    ${PROJECT_SOURCE_DIR}/cmd/connmgr/bench_report.cpp
    ${PROJECT_SOURCE_DIR}/cmd/connmgr/bench_progress.cpp
    ${PROJECT_SOURCE_DIR}/cmd/connmgr/bench_runner.cpp
    ${PROJECT_SOURCE_DIR}/cmd/connmgr/bench_async_runner.cpp
  LIBS connmgr_core Boost::json)
target_include_directories(bench_unit_tests PRIVATE ${PROJECT_SOURCE_DIR}/cmd/connmgr)
