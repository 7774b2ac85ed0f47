connmgr_test(manager_unit_tests LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/manager_render_test.cpp
  LIBS connmgr::connmgr Boost::json)
