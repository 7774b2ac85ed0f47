connmgr_test(manager_fault_tests LABEL fault
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/manager_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX Boost::json LOCK redis-restart)
if(TARGET connmgr_cli)
  add_dependencies(manager_fault_tests connmgr_cli)
endif()
