# Unit tests of the gRPC wire format (common/grpc_wire.c).
add_executable(test_grpc_wire ${CMAKE_CURRENT_LIST_DIR}/test_grpc_wire.c)
target_include_directories(test_grpc_wire PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_grpc_wire PRIVATE mvm_rpc)
add_test(NAME unit_grpc_wire COMMAND test_grpc_wire)
