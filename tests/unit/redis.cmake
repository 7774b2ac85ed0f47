connmgr_test(redis_protocol_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_protocol_test.cpp
  LIBS connmgr_redis connmgr_core)
