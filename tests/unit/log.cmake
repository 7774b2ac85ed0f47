# The public log hook (connmgr/log.hpp): a program's handler, the level, runtime.log_level.
connmgr_test(log_test LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/log_test.cpp
  LIBS connmgr::connmgr)
