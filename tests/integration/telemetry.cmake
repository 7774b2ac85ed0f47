# The telemetry endpoint of a library user against real servers (issue 14).
connmgr_test(telemetry_integration_tests LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/telemetry_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX Boost::json)
