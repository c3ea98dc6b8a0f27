# tests/integration/clients.cmake - the Python and Go client suites, each
# against a real mvmd started by tests/integration/harness.py, and the
# harness's own tests. Included from tests/CMakeLists.txt.
set(mvm_it_dir ${CMAKE_SOURCE_DIR}/tests/integration)

# the harness itself, against fake mvmd scripts (no build products needed)
add_test(NAME python_harness COMMAND ${MVM_PYTHON} ${mvm_it_dir}/python_harness_test.py -v)
set_tests_properties(python_harness PROPERTIES LABELS "integration" TIMEOUT 120)

if(MVM_PYTHON_CLIENT)
  add_test(NAME python_client
           COMMAND ${MVM_PYTHON} ${mvm_it_dir}/python_client_test.py -v)
  set_tests_properties(python_client PROPERTIES
    ENVIRONMENT "MVM_BUILD_DIR=${CMAKE_BINARY_DIR};MVM_PY_GEN=${MVM_PY_GEN_DIR};GRPC_VERBOSITY=ERROR"
    LABELS "integration;clients" TIMEOUT 300)
  add_test(NAME python_example
           COMMAND ${MVM_PYTHON} ${mvm_it_dir}/harness.py --build ${CMAKE_BINARY_DIR}
                   -- ${MVM_PYTHON} ${CMAKE_SOURCE_DIR}/clients/python/example.py)
  set_tests_properties(python_example PROPERTIES
    ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR}"
    LABELS "integration;clients" TIMEOUT 120)
endif()

if(MVM_GO_CLIENT)
  set(mvm_go_test_bin ${CMAKE_BINARY_DIR}/tests/integration/go_client_test.test)
  mvm_go_build(mvm_go_client_test ${mvm_go_test_bin} ${mvm_it_dir}/go_client_test TEST)
  add_test(NAME go_client
           COMMAND ${MVM_PYTHON} ${mvm_it_dir}/harness.py --build ${CMAKE_BINARY_DIR}
                   -- ${mvm_go_test_bin} -test.v -test.count=1)
  add_test(NAME go_example
           COMMAND ${MVM_PYTHON} ${mvm_it_dir}/harness.py --build ${CMAKE_BINARY_DIR}
                   -- ${CMAKE_BINARY_DIR}/clients/go/mvm-go-example)
  set_tests_properties(go_client go_example PROPERTIES
    LABELS "integration;clients" TIMEOUT 300)
endif()
