# tests/guest/linux.cmake - linux_boot: the Linux test kernel named by
# MVM_TEST_LINUX_KERNEL, with a busybox initramfs built by
# tests/guest/linux/build_initramfs.py, booted on the Firecracker named by
# MVM_TEST_FIRECRACKER to its first userspace line. Both variables are read
# from ctest's environment at test time; without them the test prints
# "SKIP: ..." and ctest reports it skipped. The busybox-static .deb is
# downloaded (apt-get download) into the cache directory on the first run
# and reused after. Label "slow": about a minute or two on a software
# hypervisor (ctest -LE slow leaves it out); label "manual": scripts/test.sh
# leaves it out, as lifecycle_linux already boots this kernel through mvmd.
#
# mvm-netecho (tests/guest/linux/netecho.c): the Linux guest's network
# responder, a static program for the initramfs. Built with the project's C
# compiler and warnings but its own options: static, stripped, never the
# sanitizers (their runtimes do not link statically). Its path, for the
# fragments included after this one: MVM_TEST_NETECHO; build_initramfs.py
# puts it in with --add ${MVM_TEST_NETECHO}:bin/netecho.
set(MVM_TEST_NETECHO ${CMAKE_BINARY_DIR}/tests/guest/netecho)
add_executable(mvm-netecho ${CMAKE_CURRENT_LIST_DIR}/linux/netecho.c)
set(mvm_netecho_cflags -Wall -Wextra -Wshadow -Os)
if(MVM_WERROR)
  list(APPEND mvm_netecho_cflags -Werror)
endif()
set_target_properties(mvm-netecho PROPERTIES
  COMPILE_OPTIONS "${mvm_netecho_cflags}"
  LINK_OPTIONS "-static;-s"
  INTERPROCEDURAL_OPTIMIZATION OFF
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/guest
  OUTPUT_NAME netecho)

add_test(NAME linux_boot
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/linux_boot_test.py
                 --cache ${CMAKE_BINARY_DIR}/tests/guest/linux)
set_tests_properties(linux_boot PROPERTIES
  LABELS "guest;firecracker;slow;manual" TIMEOUT 1200 RUN_SERIAL TRUE
  SKIP_REGULAR_EXPRESSION "SKIP: linux_boot"
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")

# linux_net: the same kernel with netecho in the initramfs, on a TAP in a
# network namespace the test makes (inside one of its own): ping, UDP and
# TCP echo, the control port's egress, then a snapshot restored into a
# fresh Firecracker in a second namespace answering the same. Needs root
# (skipped without the variables, /dev/kvm or root). Labels as linux_boot,
# plus "net".
add_test(NAME linux_net
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/linux_net_test.py
                 --cache ${CMAKE_BINARY_DIR}/tests/guest/linux
                 --netecho $<TARGET_FILE:mvm-netecho>)
set_tests_properties(linux_net PROPERTIES
  LABELS "guest;firecracker;slow;manual;net" TIMEOUT 1200 RUN_SERIAL TRUE
  SKIP_REGULAR_EXPRESSION "SKIP: linux_net"
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
