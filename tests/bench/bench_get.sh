#!/bin/sh
# bench_get.sh - the GetTenant benchmark, mvmd vs grpc-go under h2load; see
# bench_get.py for what it measures and checks. Needs a build dir with
# mvmd, the Python stubs, grpcgo_server and libh2load_client_cert.so:
#   tests/bench/bench_get.sh --build build [-c 8 -m 64 -D 10 --no-pin ...]
exec /usr/bin/python3 "$(dirname "$0")/bench_get.py" "$@"
