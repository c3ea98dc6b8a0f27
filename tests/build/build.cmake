# tests/build/build.cmake - the build's own promises. Both tests run cmake on
# the source tree in a temp dir, with Go, Python and the test tools hidden
# (hide_tools.sh); nothing in them is instrumented, so the sanitizer run skips
# them (label no-sanitize).
#  - build_configure (configure_test.sh): mvmd and mvm-cli configure without
#    those tools; a client switched ON, or BUILD_TESTING=ON, without its tools
#    fails, saying what is missing; a missing test source fails the configure
#    instead of shrinking the suite.
#  - build_c_only (c_only_build.sh): such a configure also builds, in Release
#    with warnings as errors, and `cmake --install` puts mvmd, mvm-cli and
#    their docs in place. It builds with -j2, so it runs alone.
add_test(NAME build_configure
  COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/configure_test.sh ${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER})
add_test(NAME build_c_only
  COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/c_only_build.sh ${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER})
set_tests_properties(build_configure build_c_only PROPERTIES LABELS "build;no-sanitize" TIMEOUT 600)
set_tests_properties(build_c_only PROPERTIES RUN_SERIAL TRUE)
