# tests/integration/network.cmake - the tenant networking suite
# (network_test.py): mvmd with --network on, inside a network and mount
# namespace of the test's own. network_sim runs it against the Firecracker
# simulator, whose network stand-in answers on the TAP; network_linux
# against the real Firecracker (MVM_TEST_FIRECRACKER) with the Linux test
# kernel (MVM_TEST_LINUX_KERNEL) running netecho, booted once into a base
# snapshot that every instance is cloned from: about two minutes of
# emulated boot, so label slow, alone on the CPUs. Both need root and exit
# 77 (skipped, with the reason) without it or without their binaries.
if(NOT MVM_PYTHON_CLIENT OR NOT MVM_FCSIM OR NOT MVM_TEST_GUEST_KERNEL)
  return()
endif()
add_test(NAME network_sim
  COMMAND ${MVM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/network_test.py --build ${CMAKE_BINARY_DIR}
          --mode sim --firecracker ${MVM_FCSIM} --guest-kernel ${MVM_TEST_GUEST_KERNEL})
set_tests_properties(network_sim PROPERTIES
  ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR};PYTHONDONTWRITEBYTECODE=1;FCSIM_PYCACHE=${CMAKE_BINARY_DIR}/fcsim-pycache;GRPC_VERBOSITY=ERROR"
  LABELS "integration;network;net;firecracker" TIMEOUT 900 SKIP_RETURN_CODE 77)
add_test(NAME network_linux
  COMMAND ${MVM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/network_test.py --build ${CMAKE_BINARY_DIR}
          --mode real --guest-kernel ${MVM_TEST_GUEST_KERNEL}
          --linux-cache ${CMAKE_BINARY_DIR}/tests/guest/linux)
set_tests_properties(network_linux PROPERTIES
  ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR};PYTHONDONTWRITEBYTECODE=1;GRPC_VERBOSITY=ERROR"
  LABELS "integration;network;net;firecracker;slow" TIMEOUT 1200 SKIP_RETURN_CODE 77
  RUN_SERIAL TRUE)
