# Every Redis integration test takes the redis-restart lock: one of them restarts the server.
connmgr_test(redis_driver_test LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_driver_test.cpp
  LIBS connmgr_redis connmgr_core
  LOCK redis-restart)
connmgr_test(redis_client_test LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_client_test.cpp
  LIBS connmgr_redis connmgr_core
  LOCK redis-restart FILTER "-RedisClient.SurvivesAServerRestart")
# Stopping the shared Redis would fail other suites' Redis tests: run it with the fault tests.
connmgr_test_label(redis_client_test LABEL fault LOCK redis-restart
  FILTER "RedisClient.SurvivesAServerRestart")
connmgr_test(redis_deep_reply_test LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_deep_reply_test.cpp
  LIBS connmgr_redis connmgr_core
  LOCK redis-restart)
connmgr_test(redis_session_test LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_session_test.cpp
  LIBS connmgr_redis connmgr_core
  LOCK redis-restart)
# One case lowers maxclients of the password server: under the same lock as the others.
connmgr_test(redis_connect_test LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_connect_test.cpp
  LIBS connmgr_redis connmgr_core
  LOCK redis-restart)
