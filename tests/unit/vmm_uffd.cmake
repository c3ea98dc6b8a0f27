# tests/unit/vmm_uffd.cmake - the userfaultfd page server (service/vmm/vmm_uffd*.c):
#   unit.vmm_uffd_test   without Firecracker: a stand-in client process does
#                        what a restoring Firecracker does (exit 77, skipped,
#                        where userfaultfd is not allowed)
#   vmm_uffd_firecracker with the real binary: a snapshot of the test guest
#                        restored through the server, twice (the second
#                        prefetching the working set the first recorded);
#                        SKIP without MVM_TEST_FIRECRACKER
# bench_uffd_smoke     a short run of tests/bench/bench_uffd.py (SKIP without
#                      MVM_TEST_FIRECRACKER)
# vmm_uffd_tool is the server behind a line protocol on stdin/stdout, for the
# Python parts (the real-binary test and tests/bench/bench_uffd.py).
add_executable(vmm_uffd_test ${CMAKE_CURRENT_LIST_DIR}/vmm_uffd_test.c)
target_include_directories(vmm_uffd_test PRIVATE ${CMAKE_CURRENT_LIST_DIR}
                           ${CMAKE_SOURCE_DIR}/service/vmm)
target_link_libraries(vmm_uffd_test PRIVATE mvm_vmm mvm_common)
add_test(NAME unit.vmm_uffd_test COMMAND vmm_uffd_test)
set_tests_properties(unit.vmm_uffd_test PROPERTIES
  LABELS "unit;vmm" TIMEOUT 120 SKIP_RETURN_CODE 77)

add_executable(vmm_uffd_tool ${CMAKE_CURRENT_LIST_DIR}/vmm_uffd_tool.c)
target_link_libraries(vmm_uffd_tool PRIVATE mvm_vmm mvm_common)
set_target_properties(vmm_uffd_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

# The real binary: Firecracker from MVM_TEST_FIRECRACKER in ctest's
# environment (read at test time); without it the test prints "SKIP: ..."
# and ctest reports it skipped.
add_test(NAME vmm_uffd_firecracker
         COMMAND ${MVM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/vmm_uffd_fc_test.py
                 --tool $<TARGET_FILE:vmm_uffd_tool> --kernel $<TARGET_FILE:mvm-test-guest>)
set_tests_properties(vmm_uffd_firecracker PROPERTIES
  LABELS "vmm;firecracker" TIMEOUT 300
  SKIP_REGULAR_EXPRESSION "SKIP: vmm_uffd_firecracker"
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")

# tests/bench/bench_uffd.py's smoke run: checks that the benchmark works
# (it asserts no timings); the full run is by hand (tests/bench/README.md).
add_test(NAME bench_uffd_smoke
         COMMAND ${MVM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/bench/bench_uffd.py
                 --build ${CMAKE_BINARY_DIR} --kernel $<TARGET_FILE:mvm-test-guest>
                 --touch-mib 0 --mem-mib 8 --rounds 1 --clones 2)
set_tests_properties(bench_uffd_smoke PROPERTIES
  LABELS "bench;vmm;firecracker" TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
