connmgr_test(redis_driver_test LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_driver_test.cpp
  LIBS connmgr_redis connmgr_core)
