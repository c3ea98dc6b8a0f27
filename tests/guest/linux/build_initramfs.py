#!/usr/bin/python3
"""build_initramfs - the initramfs of mvm's Linux test guest: Debian's
static busybox and an /init, as an uncompressed newc cpio archive (the test
kernel unpacks that much faster than a gzip'd one).

The busybox comes from the busybox-static package, fetched with
`apt-get download` into a cache directory and unpacked with `dpkg-deb -x`;
the host needs neither the package installed nor root. Only the first run
needs the network (and apt's package lists); later runs use the cached .deb.

The /init (see INIT below) prints, on the console:
    mvm-linux-guest: userspace up
    mvm-linux-guest: cmdline <contents of /proc/cmdline>
    mvm-linux-guest: tick N          every 5 seconds, N from 1
It mounts /proc, /sys and /dev (devtmpfs). Networking is left to the
kernel: an ip= argument configures the interface before /init runs. When
the archive holds /bin/netecho (the network responder, netecho.c; add it
with --add BUILD/tests/guest/netecho:bin/netecho), /init starts it in the
background after the cmdline line; it prints
    mvm-linux-guest: netecho up
once it listens.

Run: build_initramfs.py --out FILE --cache DIR [--busybox STATIC_BUSYBOX]
                        [--add SRC:DEST ...]
Library: build(out_path, cache_dir, busybox=None, extra=()) -> out_path
    extra: (source path on the host, path in the archive) pairs; each file
    keeps its permission bits, missing parent directories are added.
"""
import argparse
import glob
import os
import struct
import subprocess
import sys

PACKAGE = "busybox-static"

INIT = """#!/bin/busybox sh
# /init of mvm's Linux test guest (tests/guest/linux/build_initramfs.py).
# Shell builtins where possible: every fork+exec is slow in this guest.
echo "mvm-linux-guest: userspace up"
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
read -r cmdline < /proc/cmdline
echo "mvm-linux-guest: cmdline $cmdline"
# The network responder, when the archive has it: it prints its own
# "mvm-linux-guest: netecho up" once it listens.
if [ -x /bin/netecho ]; then
    /bin/netecho &
fi
# An ip= argument is handled by the kernel (IP autoconfiguration) before
# /init runs; nothing to configure here.
n=0
while :; do
    /bin/busybox sleep 5
    n=$((n + 1))
    echo "mvm-linux-guest: tick $n"
done
"""

# newc mode bits
S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, 0o020000


class BuildError(Exception):
    pass


def run(cmd, cwd=None):
    result = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise BuildError("%s failed (status %d): %s"
                         % (" ".join(cmd), result.returncode,
                            result.stdout.decode("utf-8", "replace").strip()))


def is_static_elf(path):
    """True for an x86_64 ELF executable without a PT_INTERP (dynamic
    loader) program header."""
    with open(path, "rb") as f:
        header = f.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", table, i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def fetch_busybox(cache_dir):
    """The static busybox from the busybox-static .deb in cache_dir,
    downloading the .deb first if there is none."""
    os.makedirs(cache_dir, exist_ok=True)
    debs = sorted(glob.glob(os.path.join(cache_dir, PACKAGE + "_*.deb")))
    if not debs:
        print("build_initramfs: downloading %s into %s (apt-get download)" % (PACKAGE, cache_dir),
              file=sys.stderr)
        try:
            run(["apt-get", "download", "-q", PACKAGE], cwd=cache_dir)
        except (BuildError, OSError) as e:
            raise BuildError("cannot get %s: %s. Run `apt-get update` and retry with network "
                             "access, or put the .deb into %s" % (PACKAGE, e, cache_dir)) from None
        debs = sorted(glob.glob(os.path.join(cache_dir, PACKAGE + "_*.deb")))
        if not debs:
            raise BuildError("apt-get download left no %s_*.deb in %s" % (PACKAGE, cache_dir))
    deb = debs[-1]
    tree = os.path.join(cache_dir, "unpacked-" + os.path.basename(deb)[:-len(".deb")])
    busybox = os.path.join(tree, "bin", "busybox")
    if not os.path.isfile(busybox):
        run(["dpkg-deb", "-x", deb, tree])
    if not os.path.isfile(busybox):
        raise BuildError("%s has no bin/busybox" % deb)
    return busybox


class NewcWriter:
    """An uncompressed cpio archive in the "newc" format the kernel's
    initramfs unpacker reads (magic 070701, ASCII hex fields, 4-byte
    alignment of names and data)."""

    def __init__(self, f):
        self.f = f
        self.ino = 0

    def _entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        self.ino += 1
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(encoded), 0)
        header = b"070701" + b"".join(b"%08x" % v for v in fields)
        self.f.write(header + encoded)
        self.f.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        self.f.write(data)
        self.f.write(b"\0" * (-len(data) % 4))

    def directory(self, name, perm=0o755):
        self._entry(name, S_IFDIR | perm, nlink=2)

    def file(self, name, data, perm=0o644):
        self._entry(name, S_IFREG | perm, data)

    def symlink(self, name, target):
        self._entry(name, S_IFLNK | 0o777, target.encode())

    def char_device(self, name, major, minor, perm=0o600):
        self._entry(name, S_IFCHR | perm, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0, nlink=1)


def parse_add(spec):
    """"SRC:DEST" -> (SRC, DEST); DEST is relative to the archive's root."""
    src, sep, dest = spec.rpartition(":")
    dest = dest.strip("/")
    if not sep or not src or not dest or ".." in dest.split("/"):
        raise BuildError("--add wants SRC:DEST with DEST a path inside the archive, got %r" % spec)
    return src, dest


BASE_DIRECTORIES = ("bin", "dev", "etc", "proc", "root", "sbin", "sys", "tmp")
BASE_FILES = ("bin/busybox", "bin/sh", "dev/console", "init")


def build(out_path, cache_dir, busybox=None, extra=()):
    extra = [(src, dest.strip("/")) for src, dest in extra]
    for src, dest in extra:
        if dest in BASE_FILES or dest in BASE_DIRECTORIES:
            raise BuildError("--add %s:%s would replace the archive's own %s" % (src, dest, dest))
        if not os.path.isfile(src):
            raise BuildError("--add %s:%s: %s is not a file" % (src, dest, src))
    busybox = busybox or fetch_busybox(cache_dir)
    if not is_static_elf(busybox):
        raise BuildError("%s is not a static x86_64 ELF executable" % busybox)
    with open(busybox, "rb") as f:
        busybox_data = f.read()
    tmp = out_path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(tmp, "wb") as f:
        w = NewcWriter(f)
        directories = list(BASE_DIRECTORIES)
        for d in BASE_DIRECTORIES:
            w.directory(d)
        # The kernel opens /dev/console for init's stdio before /init runs,
        # so the node must be in the archive (devtmpfs comes later).
        w.char_device("dev/console", 5, 1)
        w.file("bin/busybox", busybox_data, 0o755)
        w.symlink("bin/sh", "busybox")
        w.file("init", INIT.encode(), 0o755)
        for src, dest in extra:
            parts = dest.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                if parent not in directories:
                    directories.append(parent)
                    w.directory(parent)
            with open(src, "rb") as f:
                w.file(dest, f.read(), os.stat(src).st_mode & 0o7777)
        w.finish()
    os.replace(tmp, out_path)
    return out_path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="the cpio archive to write")
    ap.add_argument("--cache", required=True, help="directory for the downloaded .deb")
    ap.add_argument("--busybox", help="use this static busybox instead of the package's")
    ap.add_argument("--add", action="append", default=[], metavar="SRC:DEST",
                    help="also put the file SRC at DEST in the archive (repeatable)")
    args = ap.parse_args()
    try:
        path = build(args.out, args.cache, args.busybox, [parse_add(a) for a in args.add])
    except (BuildError, OSError) as e:
        print("build_initramfs: %s" % e, file=sys.stderr)
        return 1
    print("build_initramfs: wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
