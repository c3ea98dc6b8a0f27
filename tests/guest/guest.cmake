# tests/guest/guest.cmake - the freestanding x86_64 test guest (no Linux)
# that the real-Firecracker tests boot, and the guest_boot test that checks
# its protocol on a real Firecracker (tests/guest/README.md).
#
# The guest is an ELF "kernel" built with the project's C compiler but with
# its own flags: freestanding, no libc, not position-independent, no red
# zone (interrupts share the stack), no SSE (Firecracker boots with the FPU
# state of a fresh CPU), and never the tree-wide sanitizer options.
#
# For other tests: MVM_TEST_GUEST_KERNEL is its path. Fragments included
# before this one (tests/*/*.cmake are included in sorted order) do not see
# the variable yet; they can use $<TARGET_FILE:mvm-test-guest>.
enable_language(ASM)

set(mvm_guest_dir ${CMAKE_CURRENT_LIST_DIR})
set(mvm_guest_src ${mvm_guest_dir}/src)
set(MVM_TEST_GUEST_KERNEL ${CMAKE_BINARY_DIR}/tests/guest/mvm-test-guest)

add_executable(mvm-test-guest
  ${mvm_guest_src}/boot.S
  ${mvm_guest_src}/main.c
  ${mvm_guest_src}/bootparams.c
  ${mvm_guest_src}/cmdline.c
  ${mvm_guest_src}/pattern.c
  ${mvm_guest_src}/usermode.c
  ${mvm_guest_src}/usermode.S
  ${mvm_guest_src}/serial.c
  ${mvm_guest_src}/interrupts.c
  ${mvm_guest_src}/apic.c
  ${mvm_guest_src}/i8042.c
  ${mvm_guest_src}/libc.c)

set(mvm_guest_c_only
  -ffreestanding -fno-builtin -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only
  -fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables -fno-unwind-tables)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  # gcc would turn libc.c's byte loops into calls to the functions they are.
  list(APPEND mvm_guest_c_only -fno-tree-loop-distribute-patterns)
endif()
set(mvm_guest_cflags -Wall -Wextra -Wshadow)
if(MVM_WERROR)
  list(APPEND mvm_guest_cflags -Werror)
endif()
# C-only flags stay off the assembler's command line (clang would call them
# unused there, an error under -Werror).
foreach(flag ${mvm_guest_c_only})
  list(APPEND mvm_guest_cflags "$<$<COMPILE_LANGUAGE:C>:${flag}>")
endforeach()
# Replace, not extend, the directory's options (-fsanitize=..., -D_GNU_SOURCE).
set_target_properties(mvm-test-guest PROPERTIES
  COMPILE_OPTIONS "${mvm_guest_cflags}"
  LINK_OPTIONS "-nostdlib;-static;-Wl,-T,${mvm_guest_src}/guest.ld;-Wl,--build-id=none;-Wl,-z,noexecstack"
  LINK_DEPENDS ${mvm_guest_src}/guest.ld
  INTERPROCEDURAL_OPTIMIZATION OFF
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/guest
  OUTPUT_NAME mvm-test-guest)

# guest_boot: runs against the Firecracker named by MVM_TEST_FIRECRACKER in
# the environment ctest runs in (read at test time, not at configure time);
# without it the test prints "SKIP: ..." and ctest reports it skipped.
add_test(NAME guest_boot
         COMMAND /usr/bin/python3 ${mvm_guest_dir}/guest_boot_test.py --kernel ${MVM_TEST_GUEST_KERNEL})
set_tests_properties(guest_boot PROPERTIES
  LABELS "guest;firecracker" TIMEOUT 300
  SKIP_REGULAR_EXPRESSION "SKIP: guest_boot"
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
