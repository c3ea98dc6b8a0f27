# cmake/MvmComponent.cmake - optional parts of the build, and the lookup of
# the tools they need.
#
# A component (the Go client, the Python client, each with the tests that use
# it) is a cache variable taking one of
#   AUTO  (the default) built when its tools are found; when they are not, the
#         configure says so with a warning naming what is missing;
#   ON    required: a missing tool fails the configure. CI sets this, so a
#         missing tool can never leave it with a silently smaller suite;
#   OFF   not built, and its tools are not looked for.
# mvm_component_resolve() then sets the variable of the same name as a normal
# variable (which shadows the cache entry) to ON or OFF, so that everywhere
# below, if(MVM_GO_CLIENT) means "the Go client is built".

# mvm_component(VAR DOC): declares VAR and sets VAR_MODE to AUTO, ON or OFF
# (any CMake boolean is taken for ON or OFF); any other value fails.
function(mvm_component var doc)
  set(${var} AUTO CACHE STRING "${doc}: AUTO (when its tools are found), ON or OFF")
  set_property(CACHE ${var} PROPERTY STRINGS AUTO ON OFF)
  string(TOUPPER "${${var}}" value)
  if(value STREQUAL "AUTO")
    set(mode AUTO)
  elseif(value MATCHES "^(ON|YES|Y|TRUE|1)$")
    set(mode ON)
  elseif(value MATCHES "^(OFF|NO|N|FALSE|0)$")
    set(mode OFF)
  else()
    message(FATAL_ERROR "${var}=${${var}}: want AUTO, ON or OFF")
  endif()
  set(${var}_MODE ${mode} PARENT_SCOPE)
  set(${var}_DOC "${doc}" PARENT_SCOPE)
endfunction()

# mvm_component_resolve(VAR MISSING): MISSING lists what the component lacks
# (empty when everything was found). Sets VAR to ON or OFF in the caller's
# scope, reporting the decision; fails when VAR is ON and something is missing.
function(mvm_component_resolve var missing)
  set(doc "${${var}_DOC}")
  if(${var}_MODE STREQUAL "OFF")
    message(STATUS "${var}=OFF: not building the ${doc}")
    set(on OFF)
  elseif(missing STREQUAL "")
    message(STATUS "${var}: building the ${doc}")
    set(on ON)
  else()
    string(REPLACE ";" ", " missing "${missing}")
    if(${var}_MODE STREQUAL "ON")
      message(FATAL_ERROR "${var}=ON, but the ${doc} cannot be built; missing: ${missing}. "
                          "Install it (scripts/install-deps.sh) or configure with -D${var}=OFF.")
    endif()
    message(WARNING "SKIPPED: the ${doc}; missing: ${missing}. "
                    "Install it (scripts/install-deps.sh) to build them, or configure with "
                    "-D${var}=OFF to skip them without this warning (-D${var}=ON makes "
                    "a missing tool an error, as in CI).")
    set(on OFF)
  endif()
  set(${var} ${on} PARENT_SCOPE)
endfunction()

# mvm_find_tool(VAR PROGRAM PACKAGE MISSING_LIST): find_program(VAR PROGRAM);
# when it is not found (or VAR names a file that does not exist), appends
# "PROGRAM (Debian PACKAGE)" to the list MISSING_LIST.
function(mvm_find_tool var program package missing_list)
  find_program(${var} ${program})
  if(NOT ${var} OR NOT EXISTS "${${var}}" OR IS_DIRECTORY "${${var}}")
    list(APPEND ${missing_list} "${program} (Debian ${package})")
    set(${missing_list} "${${missing_list}}" PARENT_SCOPE)
  endif()
endfunction()

# mvm_check_python_modules(PYTHON MISSING_LIST MODULE=PACKAGE ...): appends to
# MISSING_LIST each module that PYTHON cannot import, with its Debian package
# (or PYTHON itself when it does not run).
function(mvm_check_python_modules python missing_list)
  set(modules)
  foreach(pair ${ARGN})
    string(REGEX REPLACE "=.*" "" module "${pair}")
    list(APPEND modules ${module})
  endforeach()
  execute_process(
    COMMAND ${python} -c [[
import importlib, sys
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
    except Exception:
        print(m)
]] ${modules}
    RESULT_VARIABLE rc OUTPUT_VARIABLE failed ERROR_QUIET)
  if(NOT rc EQUAL 0)
    list(APPEND ${missing_list} "${python} (Debian python3), which does not run")
  else()
    string(REGEX REPLACE "\n$" "" failed "${failed}")
    string(REPLACE "\n" ";" failed "${failed}")
    foreach(pair ${ARGN})
      string(REGEX REPLACE "=.*" "" module "${pair}")
      string(REGEX REPLACE ".*=" "" package "${pair}")
      if(module IN_LIST failed)
        list(APPEND ${missing_list} "Python module ${module} (Debian ${package})")
      endif()
    endforeach()
  endif()
  set(${missing_list} "${${missing_list}}" PARENT_SCOPE)
endfunction()
