# hide_tools.sh - sourced by the build tests: cmake arguments that point the
# cache entries of every optional tool (Python, Go, Debian's Go packages,
# openssl, h2load) at paths that do not exist, as on a machine with only the
# C toolchain, protoc-c and the C libraries.
MVM_HIDE_TOOLS="-DMVM_PYTHON=/nonexistent/python3 -DMVM_GO=/nonexistent/go"
MVM_HIDE_TOOLS="$MVM_HIDE_TOOLS -DMVM_GOCODE=/nonexistent/gocode -DMVM_OPENSSL=/nonexistent/openssl"
MVM_HIDE_TOOLS="$MVM_HIDE_TOOLS -DMVM_H2LOAD=/nonexistent/h2load -DMVM_NGHTTP=/nonexistent/nghttp"
