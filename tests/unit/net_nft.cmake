# tests/unit/net_nft.cmake - mvm's nftables tables (service/net/net_nft*),
# read back through libnftnl inside a network namespace of the test's own.
# Needs root; exit 77 (skipped) without.
add_executable(net_nft_test ${CMAKE_CURRENT_LIST_DIR}/net_nft_test.c)
target_include_directories(net_nft_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(net_nft_test PRIVATE mvm_net_nft mvm_common)
add_test(NAME unit.net_nft_test COMMAND net_nft_test)
set_tests_properties(unit.net_nft_test PROPERTIES
  LABELS "unit;net" TIMEOUT 60 SKIP_RETURN_CODE 77)

# real UDP datagrams between veth "guests" on two tenant bridges; libnl-route-3
# builds that scaffolding (this test only links it)
pkg_check_modules(NLROUTE_TEST REQUIRED IMPORTED_TARGET libnl-route-3.0)
add_executable(net_nft_packet_test ${CMAKE_CURRENT_LIST_DIR}/net_nft_packet_test.c)
target_include_directories(net_nft_packet_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(net_nft_packet_test PRIVATE mvm_net_nft mvm_common
                      PkgConfig::NLROUTE_TEST Threads::Threads)
add_test(NAME unit.net_nft_packet_test COMMAND net_nft_packet_test)
set_tests_properties(unit.net_nft_packet_test PROPERTIES
  LABELS "unit;net" TIMEOUT 60 SKIP_RETURN_CODE 77)
