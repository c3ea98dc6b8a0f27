#!/bin/sh
# install-deps.sh - installs, with apt, every Debian 12 package mvm needs to
# build, run and test: libraries, protobuf/gRPC tooling for the C, Go and
# Python clients, and the tools the tests and benchmarks drive. Why each is
# used: docs/dependencies.md.
set -eu
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    build-essential cmake pkg-config clang libclang-rt-14-dev git ca-certificates \
    libnghttp2-dev libssl-dev liblmdb-dev lmdb-utils libprotobuf-c-dev protobuf-c-compiler \
    libinih-dev \
    protobuf-compiler libprotobuf-dev libcurl4-openssl-dev libjansson-dev \
    libnl-3-dev libnl-route-3-dev libnftnl-dev libmnl-dev \
    python3 python3-grpcio python3-grpc-tools python3-protobuf python3-h2 \
    python3-pkg-resources python3-cryptography \
    golang-go golang-google-grpc-dev golang-google-protobuf-dev protoc-gen-go protoc-gen-go-grpc \
    nghttp2-client openssl iproute2 nftables procps
