connmgr_test(redis_protocol_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_protocol_test.cpp
  LIBS connmgr_redis connmgr_core)
connmgr_test(redis_sentinel_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_sentinel_test.cpp
  LIBS connmgr_redis connmgr_core)
target_include_directories(redis_sentinel_test PRIVATE ${PROJECT_SOURCE_DIR}/lib/src/redis)
connmgr_test(redis_sentinel_fsm_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_sentinel_fsm_test.cpp
  LIBS connmgr_redis connmgr_core)
target_include_directories(redis_sentinel_fsm_test PRIVATE ${PROJECT_SOURCE_DIR}/lib/src/redis)
