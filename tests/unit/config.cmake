# tests/unit/config.cmake - mvmd's flags and config file (service/config.c,
# the library mvmd_config), from files the test writes to a temp dir.
add_executable(config_test ${CMAKE_CURRENT_LIST_DIR}/config_test.c)
target_include_directories(config_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(config_test PRIVATE mvmd_config mvm_common)
add_test(NAME unit.config_test COMMAND config_test)
