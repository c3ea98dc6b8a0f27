# tests/unit/rpc.cmake - unit tests of the transport's declarations and of
# service/core's event bus: rpc_methods_test (every mvm.v1 method declared in
# the method table, bad tables refused), event_bus_test (the instance event
# bus on a real store), api_arena_test (the handlers' reply arena).
add_executable(rpc_methods_test ${CMAKE_CURRENT_LIST_DIR}/rpc_methods_test.c)
target_include_directories(rpc_methods_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(rpc_methods_test PRIVATE mvm_api mvm_rpc mvm_proto mvm_common)
add_test(NAME unit.rpc_methods_test COMMAND rpc_methods_test)

add_executable(event_bus_test ${CMAKE_CURRENT_LIST_DIR}/event_bus_test.c)
target_include_directories(event_bus_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(event_bus_test PRIVATE mvm_core mvm_store mvm_proto mvm_common)
add_test(NAME unit.event_bus_test COMMAND event_bus_test)

add_executable(api_arena_test ${CMAKE_CURRENT_LIST_DIR}/api_arena_test.c)
target_include_directories(api_arena_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(api_arena_test PRIVATE mvm_api_core mvm_proto mvm_common)
add_test(NAME unit.api_arena_test COMMAND api_arena_test)
