# tests/unit/net_nft.cmake - mvm's nftables tables (service/net/net_nft*),
# read back through libnftnl inside a network namespace of the test's own.
# Needs root; exit 77 (skipped) without.
add_executable(net_nft_test ${CMAKE_CURRENT_LIST_DIR}/net_nft_test.c)
target_include_directories(net_nft_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(net_nft_test PRIVATE mvm_net_nft mvm_common)
add_test(NAME unit.net_nft_test COMMAND net_nft_test)
set_tests_properties(unit.net_nft_test PROPERTIES
  LABELS "unit;net" TIMEOUT 60 SKIP_RETURN_CODE 77)
