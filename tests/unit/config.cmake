# Configuration, URLs and the `connmgr config` command (issue 2, items 4-6).
connmgr_test(url_test LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/url_test.cpp LIBS connmgr_core)
connmgr_test(config_test LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp
  LIBS connmgr_core)
# The loader's internal tree (list replacement) is tested through its private header.
target_include_directories(config_test PRIVATE ${PROJECT_SOURCE_DIR}/lib/src/core)
target_compile_definitions(config_test PRIVATE CONNMGR_SOURCE_PATH="${PROJECT_SOURCE_DIR}")

if(TARGET connmgr_cli)
  connmgr_test(cli_config_test LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/cli_config_test.cpp)
  target_compile_definitions(cli_config_test PRIVATE
    CONNMGR_CLI_PATH="$<TARGET_FILE:connmgr_cli>"
    CONNMGR_SOURCE_PATH="${PROJECT_SOURCE_DIR}")
  add_dependencies(cli_config_test connmgr_cli)
endif()
