# service/net/nft.cmake - mvm_net_nft: mvm's nftables rules through libnftnl
# (rule objects) and libmnl (the netlink socket and batch), never the nft
# command. Included from service/net/CMakeLists.txt.
pkg_check_modules(NFTNL REQUIRED IMPORTED_TARGET libnftnl)
pkg_check_modules(MNL REQUIRED IMPORTED_TARGET libmnl)

add_library(mvm_net_nft STATIC
  ${CMAKE_CURRENT_LIST_DIR}/net_nft_batch.c
  ${CMAKE_CURRENT_LIST_DIR}/net_nft_expr.c
  ${CMAKE_CURRENT_LIST_DIR}/net_nft_plan.c
  ${CMAKE_CURRENT_LIST_DIR}/net_nft_host.c
  ${CMAKE_CURRENT_LIST_DIR}/net_nft_instance.c
  ${CMAKE_CURRENT_LIST_DIR}/net_nft_list.c)
target_include_directories(mvm_net_nft PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(mvm_net_nft PUBLIC mvm_common PkgConfig::NFTNL PkgConfig::MNL)
