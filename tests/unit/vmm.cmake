# tests/unit/vmm.cmake - unit tests of service/vmm/ that need no Firecracker
# (spawning, /proc identity, disk copies, bounded logs).
add_executable(vmm_unit_test ${CMAKE_CURRENT_LIST_DIR}/vmm_unit_test.c)
target_include_directories(vmm_unit_test PRIVATE ${CMAKE_CURRENT_LIST_DIR}
                           ${CMAKE_SOURCE_DIR}/service/vmm)
target_link_libraries(vmm_unit_test PRIVATE mvm_vmm mvm_common)
add_test(NAME unit.vmm_unit_test COMMAND vmm_unit_test)

# the Firecracker / KVM probe with stand-in binaries, and the real binary
# when MVM_TEST_FIRECRACKER names one
add_executable(vmm_probe_test ${CMAKE_CURRENT_LIST_DIR}/vmm_probe_test.c)
target_include_directories(vmm_probe_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(vmm_probe_test PRIVATE mvm_vmm mvm_common)
add_test(NAME unit.vmm_probe_test COMMAND vmm_probe_test)
