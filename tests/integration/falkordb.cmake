# graph_client against the local FalkorDB (scripts/services.sh); skips, saying why, without it.
connmgr_test(graph_client_test LABEL integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/graph_client_test.cpp
  LIBS connmgr::connmgr PkgConfig::PQXX)
