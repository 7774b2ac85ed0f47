# Pool unit tests (label unit); the stress tests are separate cases named *Stress* so CI can
# run them alone under TSan: ctest -R Stress.
connmgr_test(pool_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_state_test.cpp ${CMAKE_CURRENT_LIST_DIR}/pool_sync_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/pool_async_test.cpp
  LIBS connmgr_core)
connmgr_test(pool_stress_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_stress_test.cpp
  LIBS connmgr_core)
