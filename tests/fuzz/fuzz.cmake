# tests/fuzz/fuzz.cmake - libFuzzer target for the gRPC wire parsers
# (common/grpc_wire.c: message framing, grpc-timeout, grpc-message
# percent-encoding); see fuzz_grpc_wire.c for what it checks. Built only when
# the C compiler is clang. ctest runs it for 15 seconds from the seed corpus
# (fuzz_grpc_wire_smoke); a long run is by hand, e.g.
#   build-clang/tests/fuzz/fuzz_grpc_wire -max_total_time=600 DIR tests/fuzz/corpus/grpc_wire
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  set(mvm_fuzz_out ${CMAKE_BINARY_DIR}/tests/fuzz)
  add_executable(fuzz_grpc_wire ${CMAKE_CURRENT_LIST_DIR}/fuzz_grpc_wire.c
                 ${CMAKE_SOURCE_DIR}/common/grpc_wire.c ${CMAKE_SOURCE_DIR}/common/mvm_error.c)
  target_include_directories(fuzz_grpc_wire PRIVATE
                             ${CMAKE_SOURCE_DIR}/common)
  target_compile_options(fuzz_grpc_wire PRIVATE -g -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(fuzz_grpc_wire PRIVATE -fsanitize=fuzzer,address,undefined)
  set_target_properties(fuzz_grpc_wire PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${mvm_fuzz_out})
  file(MAKE_DIRECTORY ${mvm_fuzz_out}/corpus ${mvm_fuzz_out}/artifacts)
  # New inputs go to the build tree's corpus dir (the first one), never the source tree.
  add_test(NAME fuzz_grpc_wire_smoke
           COMMAND fuzz_grpc_wire -max_total_time=15 -seed=1 -print_final_stats=1
                   -artifact_prefix=${mvm_fuzz_out}/artifacts/
                   ${mvm_fuzz_out}/corpus ${CMAKE_CURRENT_LIST_DIR}/corpus/grpc_wire)
  set_tests_properties(fuzz_grpc_wire_smoke PROPERTIES LABELS "fuzz" TIMEOUT 60)
else()
  # libFuzzer is clang's: the clang build of scripts/test.sh builds and runs it.
  message(STATUS "tests/fuzz: fuzz_grpc_wire needs clang (libFuzzer); not in this ${CMAKE_C_COMPILER_ID} build")
endif()
