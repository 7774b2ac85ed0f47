# The pool core's telemetry measurements (issue 14): histograms, lease list, create/use times.
connmgr_test(pool_telemetry_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_telemetry_test.cpp
  LIBS connmgr_core)
