# The manager against real servers (scripts/services.sh); skips without CONNMGR_TEST_* set.
connmgr_test(manager_integration_tests LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/manager_test.cpp ${CMAKE_CURRENT_LIST_DIR}/manager_check_test.cpp ${CMAKE_CURRENT_LIST_DIR}/manager_open_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/manager_monitor_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX Boost::json)
if(TARGET connmgr_cli)
  add_dependencies(manager_integration_tests connmgr_cli)
endif()
