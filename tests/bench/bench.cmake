# tests/bench/bench.cmake - the GetTenant benchmark's parts: the h2load
# client-certificate shim (a preload library), the grpc-go reference server,
# and a short smoke run of tests/bench/bench_get.py registered with ctest
# (it checks that the script works and every call got grpc-status 0; it
# asserts no timings). The full benchmark is run by hand: bench_get.sh.
set(mvm_bench_dir ${CMAKE_SOURCE_DIR}/tests/bench)

add_library(h2load_client_cert MODULE ${mvm_bench_dir}/h2load_client_cert.c)
target_link_libraries(h2load_client_cert PRIVATE PkgConfig::OPENSSL ${CMAKE_DL_LIBS})
# It is preloaded into h2load, which is not built with sanitizers, so it
# must not be either: replace the tree-wide options (-fsanitize=...).
set(mvm_shim_options -Wall -Wextra)
if(MVM_WERROR)
  list(APPEND mvm_shim_options -Werror)
endif()
set_target_properties(h2load_client_cert PROPERTIES
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/bench
  COMPILE_OPTIONS "${mvm_shim_options}" LINK_OPTIONS "")

if(MVM_GO_CLIENT)
  mvm_go_build(mvm_bench_grpcgo_server ${CMAKE_BINARY_DIR}/tests/bench/grpcgo_server
               ${mvm_bench_dir}/grpcgo_server)
endif()

# It drives mvmd with h2load and nghttp (checked in tests/CMakeLists.txt) and
# the grpc-go server, and checks answers with the Python client.
if(MVM_GO_CLIENT AND MVM_PYTHON_CLIENT)
  add_test(NAME bench_get_smoke
           COMMAND ${MVM_PYTHON} ${mvm_bench_dir}/bench_get.py --build ${CMAKE_BINARY_DIR} --smoke)
  set_tests_properties(bench_get_smoke PROPERTIES
    ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR}"
    LABELS "bench;integration" TIMEOUT 300 RUN_SERIAL TRUE)
endif()

# bench_start.py: StartInstance to the guest's first console line, mvmd
# against Firecracker driven directly, on the real binary (MVM_TEST_FIRECRACKER
# in ctest's environment). The full run (100 microVMs) is by hand; ctest runs
# 3 to check that the script works (it asserts no timings), or says SKIP.
if(MVM_PYTHON_CLIENT)
  add_test(NAME bench_start_smoke
           COMMAND ${MVM_PYTHON} ${mvm_bench_dir}/bench_start.py --build ${CMAKE_BINARY_DIR} -n 3)
  set_tests_properties(bench_start_smoke PROPERTIES
    ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR};GRPC_VERBOSITY=ERROR"
    LABELS "bench;integration;firecracker" TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endif()

# bench_clone.py: WakeInstance, clone CreateInstance and ForkInstances through
# mvmd against Firecracker restoring the same snapshot files by a plain script,
# and the memory 10 clones cost, for both memory backends. The full run is by
# hand; ctest runs a short one (nothing touched, 1 round, 2 clones) to check
# the script works (it asserts no timings), or says SKIP.
if(MVM_PYTHON_CLIENT)
  add_test(NAME bench_clone_smoke
           COMMAND ${MVM_PYTHON} ${mvm_bench_dir}/bench_clone.py --build ${CMAKE_BINARY_DIR}
                   --touch-mib 0 --rounds 1 --clones 2)
  set_tests_properties(bench_clone_smoke PROPERTIES
    ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR};GRPC_VERBOSITY=ERROR"
    LABELS "bench;integration;firecracker" TIMEOUT 600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endif()

# bench_reconcile.py: the reconcile loop converging a pool to N managed
# clones against ForkInstances, back to none, and mvmd's CPU with many idle
# instances, on the real binary. The full run (50, 200 idle) is by hand;
# ctest runs a small one to check the script works (it asserts no timings),
# or says SKIP.
if(MVM_PYTHON_CLIENT)
  add_test(NAME bench_reconcile_smoke
           COMMAND ${MVM_PYTHON} ${mvm_bench_dir}/bench_reconcile.py --build ${CMAKE_BINARY_DIR}
                   --forks 2 --instances 3 --idle 3 --idle-seconds 2)
  set_tests_properties(bench_reconcile_smoke PROPERTIES
    ENVIRONMENT "MVM_PY_GEN=${MVM_PY_GEN_DIR};GRPC_VERBOSITY=ERROR"
    LABELS "bench;integration;firecracker" TIMEOUT 600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endif()

# bench_net.py: tenant networking, N instances' networks made, reconciled and
# removed through mvm_net / mvm_net_nft (bench_net, below) against the same
# configuration made with ip and nft commands, all inside a network and mount
# namespace of its own. Needs root; run by hand (tests/bench/README.md). ctest
# runs a small one (20 instances, 5 by commands) to check the script works (it
# asserts no timings), or says SKIP without root.
add_executable(bench_net ${mvm_bench_dir}/bench_net.c)
target_link_libraries(bench_net PRIVATE mvm_net mvm_net_nft mvm_common)
set_target_properties(bench_net PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/bench)
add_test(NAME bench_net_smoke
         COMMAND ${MVM_PYTHON} ${mvm_bench_dir}/bench_net.py --build ${CMAKE_BINARY_DIR}
                 --instances 20 --cmd-instances 5)
set_tests_properties(bench_net_smoke PROPERTIES
  LABELS "bench;net" TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
