#!/usr/bin/env python3
"""Used by tests/inline_release.rs. A minimal FUSE server (raw /dev/fuse, no libfuse): one read-only file `f` whose close
(FLUSH) is answered only once a line arrives on stdin. Usage: slow_flush_fuse.py MOUNTPOINT.
Prints "ready" once mounted; "flush" when a FLUSH request arrives."""
import ctypes, os, struct, sys, select

mnt = sys.argv[1]
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
if libc.mount(b"slowflush", mnt.encode(), b"fuse", 6, opts) != 0:  # MS_NOSUID|MS_NODEV
    print("mount failed", os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(1)
print("ready", flush=True)

def attr(ino):
    if ino == 1:
        mode, size, nlink = 0o40755, 0, 2
    else:
        mode, size, nlink = 0o100444, 5, 1
    return struct.pack("<QQQQQQIIIIIIIIII", ino, size, 1, 0, 0, 0, 0, 0, 0, mode, nlink, 0, 0, 0, 4096, 0)

def reply(unique, payload=b"", error=0):
    os.write(fd, struct.pack("<IiQ", 16 + len(payload), error, unique) + payload)

while True:
    try:
        buf = os.read(fd, 1 << 20)
    except OSError as e:
        if e.errno == 19:  # ENODEV: unmounted
            break
        if e.errno == 4:
            continue
        raise
    length, op, unique, node = struct.unpack_from("<IIQQ", buf)
    body = buf[40:length]
    if op == 26:  # INIT
        major, minor = struct.unpack_from("<II", body)
        out = struct.pack("<IIIIHHIIHHII", 7, 31, 0, 0, 16, 12, 4096, 1, 0, 0, 0, 0)
        reply(unique, out.ljust(64, b"\0"))
    elif op == 1:  # LOOKUP
        name = body.split(b"\0")[0]
        if node == 1 and name == b"f":
            reply(unique, struct.pack("<QQQQII", 2, 0, 0, 0, 0, 0) + attr(2))
        else:
            reply(unique, error=-2)
    elif op == 3:  # GETATTR
        reply(unique, struct.pack("<QII", 0, 0, 0) + attr(node))
    elif op in (14, 27):  # OPEN, OPENDIR
        reply(unique, struct.pack("<QII", 1, 0, 0))
    elif op == 15:  # READ
        reply(unique, b"hello")
    elif op == 25:  # FLUSH: answered once the test says so
        print("flush", flush=True)
        sys.stdin.readline()
        reply(unique)
    elif op in (18, 29):  # RELEASE, RELEASEDIR
        reply(unique)
    elif op in (2, 36, 42):  # FORGET, INTERRUPT, BATCH_FORGET: no reply
        pass
    elif op == 38:  # DESTROY
        reply(unique)
        break
    else:
        reply(unique, error=-38)  # ENOSYS
