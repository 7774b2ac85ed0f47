# Redis frozen (SIGSTOP) under the pools: the client-side query_timeout.
connmgr_test(redis_freeze_test LABEL fault LOCK redis-restart
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_freeze_test.cpp
  LIBS connmgr_redis connmgr_core)
