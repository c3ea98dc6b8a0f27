"""fcsim_snapshot.py - part of the Firecracker simulator (a test double):
snapshot files. The state file is the simulator's own format, not
Firecracker's: a header line naming the simulator and the snapshot data
format version Firecracker v1.10.1 writes (4.0.0), then one JSON line with
the saved configuration and the guest's tick counter. The memory file is
sparse, of the configured memory size, as Firecracker's is.

  FCSIM-SNAPSHOT firecracker-sim data-format 4.0.0
  {"vm_config": {...}, "boot_source": {...}, "drives": [...], ...,
   "ticks": N, "net_guest": {iface_id: {"mac", "ip", "mask", "gw"}}}

Errors use the texts of Firecracker's CreateSnapshotError /
RestoreFromSnapshotError chains."""

import json
import os

MAGIC = "FCSIM-SNAPSHOT firecracker-sim"
SNAPSHOT_VERSION = (4, 0, 0)


def version_text(v=SNAPSHOT_VERSION):
    return "%d.%d.%d" % v


def os_error_text(e):
    return "%s (os error %d)" % (os.strerror(e.errno), e.errno)


def create(vmm, cfg):
    """Writes the state then the memory file; returns an error text (after
    "Create snapshot error: ") or None."""
    state = {
        "vm_config": vmm.vm_config,
        "boot_source": vmm.boot_source_cfg,
        "drives": vmm.drives,
        "nets": vmm.nets,
        "vsock": None if vmm.vsock is None else {
            "guest_cid": vmm.vsock["guest_cid"], "uds_path": vmm.vsock["uds_path"]},
        "balloon": vmm.balloon,
        "entropy": vmm.entropy,
        "mmds": vmm.mmds,
        "mmds_ifaces": vmm.mmds_ifaces,
        "ticks": vmm.sim.guest.ticks(),
        "cmdline": vmm.sim.guest.cmdline,
        "net_guest": vmm.sim.net.saved(),
    }
    try:
        fd = os.open(cfg["snapshot_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                     0o644)
    except OSError as e:
        return "Cannot perform open on the snapshot backing file: " + os_error_text(e)
    try:
        with os.fdopen(fd, "w") as f:
            f.write("%s data-format %s\n" % (MAGIC, version_text()))
            f.write(json.dumps(state, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        return "Cannot perform sync_all on the snapshot backing file: " + os_error_text(e)
    size = vmm.vm_config["mem_size_mib"] << 20
    try:
        fd = os.open(cfg["mem_file_path"], os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        return "Cannot perform open on the memory backing file: " + os_error_text(e)
    try:
        if os.fstat(fd).st_size != size:
            os.ftruncate(fd, 0)
        os.ftruncate(fd, size)
    except OSError as e:
        os.close(fd)
        return "Cannot perform set_length on the memory backing file: " + os_error_text(e)
    os.close(fd)
    return None


def read_state(path):
    """Returns (state dict, None) or (None, error text after "Failed to get
    snapshot state from file: ")."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return None, "Failed to open snapshot file: " + os_error_text(e)
    head, _, rest = data.partition(b"\n")
    head = head.decode("utf-8", "replace")
    if len(data) < 8:
        return None, "Failed to load snapshot state from file: Snapshot file is smaller than " \
                     "CRC length."
    if not head.startswith(MAGIC + " data-format "):
        magic = int.from_bytes(data[:8], "little")
        return None, "Failed to load snapshot state from file: Magic value does not match " \
                     "arch: %d" % magic
    ver = head[len(MAGIC + " data-format "):].strip()
    try:
        parts = tuple(int(x) for x in ver.split("."))
        if len(parts) != 3:
            raise ValueError(ver)
    except ValueError:
        return None, "Failed to load snapshot state from file: An error occured with " \
                     "serialization/deserialization: invalid version %r" % ver
    if parts[0] != SNAPSHOT_VERSION[0] or parts[1] > SNAPSHOT_VERSION[1]:
        return None, "Failed to load snapshot state from file: Invalid data version: %s" % ver
    try:
        state = json.loads(rest.decode())
    except ValueError as e:
        return None, "Failed to load snapshot state from file: An error occured with " \
                     "serialization/deserialization: %s" % e
    return state, None


def describe(path):
    """--describe-snapshot: the data format version, or an error text."""
    try:
        with open(path, "rb") as f:
            head = f.readline().decode("utf-8", "replace")
    except OSError as e:
        return None, "Unable to open snapshot state file: " + os_error_text(e)
    if not head.startswith(MAGIC + " data-format "):
        return None, "Unable to read snapshot data format version: not a simulator snapshot"
    return "v" + head[len(MAGIC + " data-format "):].strip(), None


def load(vmm, cfg):
    """Restores configuration and tick counter into `vmm`; returns an error
    text (after "Failed to restore from snapshot: ") or None."""
    state, err = read_state(cfg["snapshot_path"])
    if err:
        return "Failed to get snapshot state from file: " + err
    mem_cfg = cfg["mem_backend"] or {"backend_path": cfg["mem_file_path"], "backend_type": "File"}
    size = state["vm_config"]["mem_size_mib"] << 20
    if mem_cfg["backend_type"] == "File":
        try:
            st = os.stat(mem_cfg["backend_path"])
            with open(mem_cfg["backend_path"], "rb"):
                pass
        except OSError as e:
            return ("Failed to load guest memory: Error creating guest memory from file: "
                    "Failed to load guest memory: " + os_error_text(e))
        if st.st_size < size:
            return ("Failed to load guest memory: Error creating guest memory from file: "
                    "Failed to restore guest memory: Cannot create memory: the file is smaller "
                    "than the guest memory")
    else:
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(1.0)
            s.connect(mem_cfg["backend_path"])
        except OSError as e:
            return ("Failed to load guest memory: Error creating guest memory from uffd: "
                    "Failed to connect to UDS Unix stream: " + os_error_text(e))
        finally:
            s.close()
    # As Firecracker does, the block devices' files are opened again by the
    # paths the snapshot recorded (relative ones from the process's working
    # directory: how each clone finds its own disk).
    for d in state["drives"]:
        if d.get("path_on_host") is None:
            continue
        try:
            fd = os.open(d["path_on_host"],
                         (os.O_RDONLY if d.get("is_read_only") else os.O_RDWR) | os.O_CLOEXEC)
            os.close(fd)
        except OSError as e:
            return ("Failed to build microVM from snapshot: Failed to restore block device: "
                    "Virtio backend error: Error manipulating the backing file: %s %s"
                    % (os_error_text(e), d["path_on_host"]))
    # The TAPs are opened again by the names the snapshot recorded, in this
    # process's network namespace (how each clone gets its own).
    err = vmm.sim.net.load(state.get("net_guest"), state["nets"])
    if err:
        return ("Failed to build microVM from snapshot: Failed to restore MMIO device: Cannot "
                "restore devices: Net: Failed to create a network device: " + err)
    vmm.vm_config = dict(state["vm_config"], track_dirty_pages=cfg["enable_diff_snapshots"])
    vmm.boot_source_cfg = state["boot_source"]
    vmm.drives = state["drives"]
    vmm.nets = state["nets"]
    vmm.balloon = state["balloon"]
    vmm.entropy = state["entropy"]
    vmm.mmds = state["mmds"]
    vmm.mmds_ifaces = state["mmds_ifaces"]
    if state["vsock"]:
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(state["vsock"]["uds_path"])
            s.listen(128)
            s.setblocking(False)
        except OSError as e:
            s.close()
            return ("Failed to build microVM from snapshot: Failed to restore vsock device: "
                    + os_error_text(e))
        vmm.vsock = dict(state["vsock"], sock=s)
        vmm.sim.open_vsock(vmm.vsock)
    vmm.sim.guest.load(state["cmdline"], state["ticks"])
    return None
