# The telemetry endpoint of a library user against real servers (issue 14).
connmgr_test(telemetry_integration_tests LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/telemetry_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX Boost::json)
# The endpoint through the CLI: shipped Prometheus configs (unit), stats --watch (integration),
# and a real Prometheus scraping `connmgr bench --serve` under load (load, with the benches).
if(TARGET connmgr_cli)
  connmgr_test(telemetry_cli_tests LABEL integration
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/telemetry_cli_test.cpp
    LIBS connmgr::connmgr PkgConfig::PQXX Boost::json FILTER "TelemetryStatsWatch.*:TelemetryServe.*")
  connmgr_test_label(telemetry_cli_tests LABEL unit FILTER "TelemetryConfigs.*")
  connmgr_test_label(telemetry_cli_tests LABEL load LOCK connmgr_bench
    FILTER "TelemetryPrometheus.*")
  add_dependencies(telemetry_cli_tests connmgr_cli)
  target_compile_definitions(telemetry_cli_tests PRIVATE
    CONNMGR_CLI_PATH="$<TARGET_FILE:connmgr_cli>")
endif()
