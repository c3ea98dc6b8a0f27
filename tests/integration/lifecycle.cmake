# tests/integration/lifecycle.cmake - the instance lifecycle suite
# (lifecycle_test.py), run twice: against the Firecracker simulator
# (lifecycle_sim) and against the real binary named by MVM_TEST_FIRECRACKER
# in ctest's environment (lifecycle_fc; .ci/run sets it when
# ../shared/firecracker exists). Both boot the test guest built by
# tests/guest/guest.cmake (MVM_TEST_GUEST_KERNEL). lifecycle_fc exits 77,
# shown as skipped with its reason, when there is no real binary.
# lifecycle_linux boots the Linux test kernel (MVM_TEST_LINUX_KERNEL) with a
# busybox initramfs through mvmd to its first userspace line.
if(NOT MVM_PYTHON_CLIENT)
  return() # the suite drives mvmd with the Python client, switched off
endif()
if(NOT MVM_FCSIM OR NOT MVM_TEST_GUEST_KERNEL)
  message(FATAL_ERROR "tests/integration/lifecycle.cmake needs the simulator (tests/fcsim) "
                      "and the test guest (tests/guest)")
endif()
# clones_test.py (base snapshots, clones, forks, TTLs, collection) is the
# same kind of suite, on the same harness: clones_sim, clones_fc and
# clones_linux (the Linux test kernel as a pool's template, booted once).
# reconcile_test.py (the reconcile loop, the sleep policy, NodeService.Apply,
# GetStatus and WatchStatus) too: reconcile_sim and reconcile_fc, no Linux
# case.
foreach(suite lifecycle clones reconcile)
  foreach(mode sim fc)
    if(mode STREQUAL "sim")
      set(args --mode sim --firecracker ${MVM_FCSIM})
    else()
      set(args --mode real)
    endif()
    add_test(NAME ${suite}_${mode}
      COMMAND ${MVM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/${suite}_test.py --build ${CMAKE_BINARY_DIR}
              ${args} --guest-kernel ${MVM_TEST_GUEST_KERNEL}
              --linux-cache ${CMAKE_BINARY_DIR}/tests/guest/linux)
    set_tests_properties(${suite}_${mode} PROPERTIES
      ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR};PYTHONDONTWRITEBYTECODE=1;FCSIM_PYCACHE=${CMAKE_BINARY_DIR}/fcsim-pycache;GRPC_VERBOSITY=ERROR"
      LABELS "integration;${suite};firecracker" TIMEOUT 900 SKIP_RETURN_CODE 77)
  endforeach()
  if(suite STREQUAL "reconcile")
    continue()
  endif()
  # The real-Linux case: about a minute of emulated boot, so on its own
  # (label slow; scripts/test.sh runs it in the gcc build only) and alone on
  # the CPUs.
  add_test(NAME ${suite}_linux
    COMMAND ${MVM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/${suite}_test.py --build ${CMAKE_BINARY_DIR}
            --mode real --linux-only --guest-kernel ${MVM_TEST_GUEST_KERNEL}
            --linux-cache ${CMAKE_BINARY_DIR}/tests/guest/linux)
  set_tests_properties(${suite}_linux PROPERTIES
    ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR};PYTHONDONTWRITEBYTECODE=1;GRPC_VERBOSITY=ERROR"
    LABELS "integration;${suite};firecracker;slow" TIMEOUT 1200 SKIP_RETURN_CODE 77
    RUN_SERIAL TRUE)
endforeach()

# mvmd --check-store (the store check itself: tests/unit/store_integrity_test.c)
add_test(NAME mvmd_check_store
  COMMAND ${MVM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/mvmd_check_store_test.py ${CMAKE_BINARY_DIR})
set_tests_properties(mvmd_check_store PROPERTIES LABELS "integration" TIMEOUT 120)
