connmgr_test(pool_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_state_test.cpp ${CMAKE_CURRENT_LIST_DIR}/pool_sync_test.cpp
  LIBS connmgr_core)
