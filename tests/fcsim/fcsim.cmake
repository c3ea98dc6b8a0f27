# tests/fcsim/fcsim.cmake - the Firecracker simulator (a test double,
# tests/fcsim/firecracker_sim.py) and its two suites:
#   fcsim_self         simulator-only checks (faults, guest, snapshots,
#                      metrics, 100 processes at once)
#   fcsim_conformance  the same request sequences against the simulator and,
#                      when MVM_TEST_FIRECRACKER is set in ctest's
#                      environment, against the real binary (post-boot cases
#                      need MVM_TEST_GUEST_KERNEL); it says SKIP loudly when
#                      it cannot run the real half.
# Other suites use the simulator through MVM_FCSIM (its path).
set(MVM_FCSIM ${CMAKE_CURRENT_LIST_DIR}/firecracker_sim.py)
set(mvm_fcsim_env "PYTHONDONTWRITEBYTECODE=1;FCSIM_PYCACHE=${CMAKE_BINARY_DIR}/fcsim-pycache")
add_test(NAME fcsim_self
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/fcsim_self_test.py)
add_test(NAME fcsim_conformance
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/fcsim_conformance_test.py)
set_tests_properties(fcsim_self fcsim_conformance PROPERTIES
  LABELS "fcsim;firecracker" TIMEOUT 600
  ENVIRONMENT "${mvm_fcsim_env}")
# The real half boots the test guest (tests/guest, included after this
# fragment: hence the target, not MVM_TEST_GUEST_KERNEL).
set_property(TEST fcsim_conformance APPEND PROPERTY
  ENVIRONMENT "MVM_TEST_GUEST_KERNEL=$<TARGET_FILE:mvm-test-guest>")
# fcsim_net: the simulator's TAPs and guest network stand-in (fcsim_net.py)
# with real packets, in namespaces the test makes inside its own network and
# mount namespace (tests/integration/nettest.py). Needs root: exit 77
# (skipped) otherwise.
add_test(NAME fcsim_net
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/fcsim_net_test.py)
set_tests_properties(fcsim_net PROPERTIES
  LABELS "fcsim;firecracker;net" TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "${mvm_fcsim_env}")
