# tests/build/build.cmake - the build's own promises (configure_test.sh):
# mvmd and mvm-cli configure without Go, Python or the tests' tools; a client
# switched ON or BUILD_TESTING=ON without their tools fails, saying what is
# missing; a missing test source fails instead of shrinking the suite. It runs
# cmake, nothing instrumented, so the sanitizer run skips it (no-sanitize).
# scripts/test.sh also builds and installs such a C-only build.
add_test(NAME build_configure
  COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/configure_test.sh ${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER})
set_tests_properties(build_configure PROPERTIES LABELS "build;no-sanitize" TIMEOUT 300)
