# Unit tests of the gRPC transport's pure parts (service/rpc/rpc_wire.c).
add_executable(test_rpc_wire ${CMAKE_CURRENT_LIST_DIR}/test_rpc_wire.c)
target_include_directories(test_rpc_wire PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_rpc_wire PRIVATE mvm_rpc)
add_test(NAME unit_rpc_wire COMMAND test_rpc_wire)
