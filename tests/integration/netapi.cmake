# tests/integration/netapi.cmake - netapi_sim: the network settings of the
# API (egress_cidrs, network_limits, port forwards, SetPortForwards, Apply,
# mvm-cli) through a real mvmd and the Python client, on the simulator's
# node (no microVM is started, so neither Firecracker nor KVM is needed).
if(NOT MVM_PYTHON_CLIENT OR NOT MVM_FCSIM OR NOT MVM_TEST_GUEST_KERNEL)
  return()
endif()
add_test(NAME netapi_sim
  COMMAND ${MVM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/netapi_test.py --build ${CMAKE_BINARY_DIR}
          --mode sim --firecracker ${MVM_FCSIM} --guest-kernel ${MVM_TEST_GUEST_KERNEL})
set_tests_properties(netapi_sim PROPERTIES
  ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR};PYTHONDONTWRITEBYTECODE=1;GRPC_VERBOSITY=ERROR"
  LABELS "integration;netapi" TIMEOUT 300 SKIP_RETURN_CODE 77)
