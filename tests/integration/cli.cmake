# cli.cmake - tests of mvm-cli and libmvmc: the unit test of flag mapping,
# JSON and wire helpers, the help/usage test that needs no server, and the
# end-to-end tests that start a real mvmd (fresh certs, temporary state,
# --listen 127.0.0.1:0 + ready file) and drive mvm-cli over mTLS and the
# Unix socket (tests/integration/cli_test.py, one scenario per test), and
# the wire test of libmvmc against a scripted HTTP/2 server (cli_wire_test.py).
add_executable(cli_unit_test ${CMAKE_SOURCE_DIR}/cli/tests/cli_unit_test.c)
target_link_libraries(cli_unit_test PRIVATE mvm_cli_core)
add_test(NAME cli_unit COMMAND cli_unit_test)
set_tests_properties(cli_unit PROPERTIES LABELS "cli;unit")

set(MVM_CLI_TEST_PY ${CMAKE_CURRENT_LIST_DIR}/cli_test.py)
add_test(NAME cli_help
  COMMAND ${MVM_PYTHON} ${MVM_CLI_TEST_PY} --cli $<TARGET_FILE:mvm-cli> help)
add_test(NAME cli_wire
  COMMAND ${MVM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cli_wire_test.py
          --cli $<TARGET_FILE:mvm-cli>)
set_tests_properties(cli_help cli_wire PROPERTIES LABELS "cli;integration")

foreach(scenario crud_tls crud_unix errors refused watch config health)
  add_test(NAME cli_${scenario}
    COMMAND ${MVM_PYTHON} ${MVM_CLI_TEST_PY}
            --cli $<TARGET_FILE:mvm-cli> --mvmd $<TARGET_FILE:mvmd>
            --gen-certs ${MVM_TEST_CERT_SCRIPT} ${scenario})
  set_tests_properties(cli_${scenario} PROPERTIES TIMEOUT 120
                       LABELS "cli;integration")
endforeach()
