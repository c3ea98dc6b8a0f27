# tests/unit/net.cmake - service/net (mvm_net) against the real kernel, in a
# network and mount namespace the test makes for itself: tenant bridges,
# instance netns with tap0/eth0, veths, idempotence, rollback, removal,
# two threads at once, EPERM as PERMISSION_DENIED.
# Exit 77 (skipped) when not root or namespaces are not allowed.
add_executable(net_link_test ${CMAKE_CURRENT_LIST_DIR}/net_link_test.c)
target_include_directories(net_link_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(net_link_test PRIVATE mvm_net mvm_common Threads::Threads)
add_test(NAME unit.net_link_test COMMAND net_link_test)
set_tests_properties(unit.net_link_test PROPERTIES LABELS "unit;net" TIMEOUT 60 SKIP_RETURN_CODE 77)
