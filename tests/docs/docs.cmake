# docs/api.md is generated from the proto comments; this test fails when the
# committed file and the protos disagree (regenerate: see scripts/gen-api-doc.py).
add_test(NAME docs_api_current
  COMMAND sh -c "'${MVM_PYTHON}' '${CMAKE_SOURCE_DIR}/scripts/gen-api-doc.py' '${MVM_GEN_DIR}/mvm.desc' '${CMAKE_BINARY_DIR}/api.md' && diff -u '${CMAKE_SOURCE_DIR}/docs/api.md' '${CMAKE_BINARY_DIR}/api.md'")
