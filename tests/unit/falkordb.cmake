# Socket-free pieces of the FalkorDB client: the compact-reply decoder, the parameter encoder,
# the schema cache.
connmgr_test(falkordb_codec_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/falkordb_codec_test.cpp
  LIBS connmgr_falkordb connmgr_redis connmgr_core)
