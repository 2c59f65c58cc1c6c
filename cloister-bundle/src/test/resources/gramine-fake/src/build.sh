#!/bin/sh
# Rebuilds the fake Gramine installation from the C sources beside this script (see ../README.md).
# The .so files are committed, so tests never run this; a different compiler gives different bytes and
# therefore different expected values.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lib="$here/../usr/lib/x86_64-linux-gnu/gramine"
flags="-O2 -fPIC -shared -nostdlib -ffreestanding -fno-stack-protector -Wl,--build-id=none -Wl,--hash-style=gnu"
gcc $flags -Wl,-e,pal_entry -o "$lib/sgx/libpal.so" "$here/libpal.c"
gcc $flags -o "$lib/libsysdb.so" "$here/libsysdb.c"
gcc $flags -o "$lib/runtime/glibc/libsecret_prov_attest.so" "$here/libsecret_prov_attest.c"
