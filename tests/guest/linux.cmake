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
add_test(NAME linux_boot
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/linux_boot_test.py
                 --cache ${CMAKE_BINARY_DIR}/tests/guest/linux)
set_tests_properties(linux_boot PROPERTIES
  LABELS "guest;firecracker;slow;manual" TIMEOUT 1200 RUN_SERIAL TRUE
  SKIP_REGULAR_EXPRESSION "SKIP: linux_boot"
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
