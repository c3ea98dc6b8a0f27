# tests/integration/nettest.cmake - nettest_self: the packet helpers of
# tests/integration/nettest.py (namespaces, veths, ping, UDP/TCP echo, the
# guest control port) against the real kernel in a network and mount
# namespace of the test's own, with the Linux guest's responder (netecho,
# built by tests/guest/linux.cmake) serving one namespace. Needs root: exit
# 77 (skipped) otherwise.
add_test(NAME nettest_self
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/nettest_test.py
          --netecho $<TARGET_FILE:mvm-netecho>)
set_tests_properties(nettest_self PROPERTIES
  LABELS "integration;net" TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
