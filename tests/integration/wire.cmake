# tests/integration/wire.cmake - the wire/TLS bad-input battery: raw HTTP/2
# (python3-h2) against a real mvmd started by tests/integration/harness.py,
# over mTLS and the Unix socket. One ctest test per suite file
# (wire_*_test.py, tls_*_test.py); each is given the build directory.
# The libFuzzer target for the message framing parser: tests/fuzz/fuzz.cmake.
file(GLOB mvm_wire_suites
     ${CMAKE_CURRENT_LIST_DIR}/wire_*_test.py ${CMAKE_CURRENT_LIST_DIR}/tls_*_test.py)
if(NOT mvm_wire_suites)
  message(FATAL_ERROR "tests/integration/wire.cmake: no wire_*_test.py or tls_*_test.py "
                      "in ${CMAKE_CURRENT_LIST_DIR}")
endif()
list(SORT mvm_wire_suites)
foreach(suite ${mvm_wire_suites})
  get_filename_component(name ${suite} NAME_WE)
  string(REGEX REPLACE "_test$" "" name ${name})
  add_test(NAME ${name} COMMAND ${MVM_PYTHON} ${suite} ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES
    LABELS "integration;wire" TIMEOUT 600
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
endforeach()
# wire_limits drives mvmd to hundreds of MiB on purpose: alone, so that it
# neither starves nor is starved by the suites that run beside it.
if(TEST wire_limits)
  set_tests_properties(wire_limits PROPERTIES RUN_SERIAL TRUE)
endif()
