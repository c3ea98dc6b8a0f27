# cli.cmake - tests of mvm-cli and libmvmc: the unit test of flag mapping,
# JSON and wire helpers; the tests that need no server (help texts, global
# options, a TLS handshake that never completes); the end-to-end tests that
# drive mvm-cli against a real mvmd started by tests/integration/harness.py
# over mTLS and the Unix socket (tests/integration/cli_test.py, one scenario
# per test); the wire test of libmvmc against a scripted HTTP/2 server
# (cli_wire_test.py); and the quickstart with the default metrics port taken.
add_executable(cli_unit_test ${CMAKE_SOURCE_DIR}/cli/tests/cli_unit_test.c)
target_link_libraries(cli_unit_test PRIVATE mvm_cli_core)
# for docs/examples/node-state.json
target_compile_definitions(cli_unit_test PRIVATE MVM_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_test(NAME cli_unit COMMAND cli_unit_test)
set_tests_properties(cli_unit PROPERTIES LABELS "cli;unit")

set(MVM_CLI_TEST_PY ${CMAKE_CURRENT_LIST_DIR}/cli_test.py)
foreach(scenario help options handshake_timeout apply_file_errors)
  add_test(NAME cli_${scenario}
    COMMAND ${MVM_PYTHON} ${MVM_CLI_TEST_PY} --cli $<TARGET_FILE:mvm-cli> ${scenario})
  set_tests_properties(cli_${scenario} PROPERTIES TIMEOUT 120 LABELS "cli;integration")
endforeach()
add_test(NAME cli_wire
  COMMAND ${MVM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cli_wire_test.py
          --cli $<TARGET_FILE:mvm-cli>)
set_tests_properties(cli_wire PROPERTIES LABELS "cli;integration")

# apply and status need NodeService.Apply/GetStatus/WatchStatus of mvmd.
foreach(scenario crud_tls crud_unix errors refused cert_files watch config health
                 required lists delete_says get_by_id tables apply status)
  add_test(NAME cli_${scenario}
    COMMAND ${MVM_PYTHON} ${MVM_CLI_TEST_PY}
            --cli $<TARGET_FILE:mvm-cli> --mvmd $<TARGET_FILE:mvmd> ${scenario})
  set_tests_properties(cli_${scenario} PROPERTIES TIMEOUT 120
                       LABELS "cli;integration")
endforeach()
# The quickstart's mvmd is the build's own (build/service/mvmd).
add_test(NAME cli_quickstart
  COMMAND ${MVM_PYTHON} ${MVM_CLI_TEST_PY} --cli $<TARGET_FILE:mvm-cli> quickstart)
set_tests_properties(cli_quickstart PROPERTIES TIMEOUT 300 LABELS "cli;integration")
