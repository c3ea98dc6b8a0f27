# tests/unit/storage.cmake - unit tests of storage/ (mvm_store, against a
# real LMDB in a temp dir) and of the pure parts of service/api.
foreach(t store_tenant_test store_pool_test store_instance_test store_misc_test
          store_integrity_test store_snapshot_test store_apply_test store_net_test)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(${t} PRIVATE mvm_store mvm_proto mvm_common)
  add_test(NAME unit.${t} COMMAND ${t})
endforeach()
foreach(t api_state_test)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(${t} PRIVATE mvm_api_core mvm_store mvm_proto mvm_common)
  add_test(NAME unit.${t} COMMAND ${t})
endforeach()
# service/api through the real transport and the C client.
add_executable(api_server_test ${CMAKE_CURRENT_LIST_DIR}/api_server_test.c)
target_include_directories(api_server_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(api_server_test PRIVATE mvm_api mvmc mvm_store mvm_proto mvm_common)
add_test(NAME unit.api_server_test COMMAND api_server_test)
set_tests_properties(unit.api_server_test PROPERTIES TIMEOUT 120)
