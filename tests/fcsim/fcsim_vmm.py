"""fcsim_vmm.py - part of the Firecracker simulator (a test double): the
API semantics of Firecracker v1.10.1 behind the HTTP server: request
routing (as src/firecracker/src/api_server/parsed_request.rs does it),
the pre-boot and post-boot controllers' rules, resource validation done at
PUT time (files opened, sockets bound), and the exact `fault_message`
texts (displaydoc strings of the v1.10.1 error enums).

`Vmm.handle(method, path, body)` returns a Reply. The process side (guest
emulation, logger and metrics files, exiting) is reached through the `sim`
object given at construction (firecracker_sim.py)."""

import errno
import os
import socket

import fcsim_net
import fcsim_schema as S
from fcsim_serde import SerdeError, from_slice, to_json, to_json_ordered, json_str

MAX_SUPPORTED_VCPUS = 32
DEFAULT_MEM_SIZE_MIB = 128
DEFAULT_KERNEL_CMDLINE = ("reboot=k panic=1 pci=off nomodule 8250.nr_uarts=0 "
                          "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd")
CMDLINE_MAX_SIZE = 2048
MMDS_DEFAULT_IPV4 = "169.254.169.254"
MMIO_MEM_START = 0xD0000000
MMIO_LEN = 0x1000
IRQ_BASE = 5
IFNAMSIZ = 16

# VmmActionError prefixes (rpc_interface.rs)
E_BALLOON = "Balloon config error: "
E_BOOT = "Boot source error: "
E_CREATE_SNAP = "Create snapshot error: "
E_DRIVE = "Drive config error: "
E_ENTROPY = "Entropy device error: "
E_INTERNAL = "Internal VMM error: "
E_LOAD_SNAP = "Load snapshot error: "
E_LOGGER = "Logger error: "
E_MACHINE = "Machine config error: "
E_METRICS = "Metrics error: "
E_MMDS = "MMDS error: "
E_MMDS_CONFIG = "MMMDS config error: "
E_MMDS_LIMIT = "MMDS limit exceeded error: "
E_NET = "Network config error: "
E_NOT_SUPPORTED = "The requested operation is not supported: "
E_START = "Start microvm error: "
E_VSOCK = "Vsock config error: "
NOT_SUPPORTED_POST_BOOT = "The requested operation is not supported after starting the microVM."
NOT_SUPPORTED_PRE_BOOT = "The requested operation is not supported before starting the microVM."

VCPU_COUNT_MSG = ("The number of vCPUs must be greater than 0, less than %d and must be 1 or "
                  "an even number if SMT is enabled." % MAX_SUPPORTED_VCPUS)
MEM_SIZE_MSG = "The memory size (MiB) is either 0, or not a multiple of the configured page size."

SNAPSHOT_TOO_MANY = ("too many fields: either `mem_backend` or `mem_file_path` exclusively is "
                     "required")
SNAPSHOT_MISSING = "missing field: either `mem_backend` or `mem_file_path` is required"


def os_error_text(e):
    """Rust's io::Error Display for an OS error."""
    return "%s (os error %d)" % (os.strerror(e.errno), e.errno)


class Reply:
    """An HTTP answer: status, body text (None for none) and what the
    process must do after sending it (exit, ...)."""

    def __init__(self, status, body=None, deprecation=False, after=None):
        self.status, self.body, self.deprecation, self.after = status, body, deprecation, after


def fault(msg, status=400):
    return Reply(status, json_str_obj("fault_message", msg))


def json_str_obj(key, value):
    return "{" + json_str(key) + ":" + json_str(value) + "}"


class ApiError(Exception):
    """A VmmActionError: 400 (413 for the MMDS size limit) with its text."""

    def __init__(self, msg, status=400):
        super().__init__(msg)
        self.msg, self.status = msg, status


class RequestError(Exception):
    """A parsing RequestError of the API server (always 400 unless given)."""

    def __init__(self, msg, status=400):
        super().__init__(msg)
        self.msg, self.status = msg, status


def parse(schema, body):
    try:
        return from_slice(schema, body)
    except SerdeError as e:
        raise RequestError("An error occurred when deserializing the json body of a request: "
                           "%s." % e)


def checked_id(tok):
    if tok is None or tok == "":
        raise RequestError("The ID cannot be empty.")
    if not all(c == "_" or c.isalnum() for c in tok):
        raise RequestError("API Resource IDs can only contain alphanumeric characters and "
                           "underscores.")
    return tok


def open_rw_nonblock(path):
    """Opens a logger/metrics destination as Firecracker does (read+write,
    O_NONBLOCK, no create); raises OSError."""
    return os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)


def bucket(cfg):
    """TokenBucketConfig -> stored form (None when it builds no bucket)."""
    if cfg is None or cfg["size"] == 0 or cfg["refill_time"] == 0:
        return None
    otb = cfg.get("one_time_burst") or 0
    return {"size": cfg["size"], "one_time_burst": otb or None, "refill_time": cfg["refill_time"]}


def rate_limiter(cfg):
    if cfg is None:
        return None
    rl = {"bandwidth": bucket(cfg["bandwidth"]), "ops": bucket(cfg["ops"])}
    return rl if (rl["bandwidth"] or rl["ops"]) else None


def version_at_least(version, wanted):
    def key(v):
        return tuple(int(x) for x in v.split("-")[0].split("."))
    return key(version) >= key(wanted)


class Vmm:
    """The VMM side of one simulated Firecracker process."""

    def __init__(self, sim):
        self.sim = sim
        self.state = "Not started"  # "Running", "Paused"
        self.boot_path = False
        self.vm_config = {"vcpu_count": 1, "mem_size_mib": DEFAULT_MEM_SIZE_MIB, "smt": False,
                          "cpu_template": None, "track_dirty_pages": False, "huge_pages": "None"}
        self.boot_source = None          # BootSourceConfig dict (accepted)
        self.boot_source_cfg = {"kernel_image_path": "", "initrd_path": None, "boot_args": None}
        self.drives = []                 # BlockDeviceConfig dicts, root first
        self.nets = []                   # NetworkInterfaceConfig dicts
        self.vsock = None                # {"guest_cid", "uds_path", "fd"}
        self.balloon = None
        self.entropy = None
        self.cpu_config = False
        self.mmds = None                 # {"data", "initialized", "version", "limit"}
        self.mmds_ifaces = []
        self.mmds_ipv4 = None
        self.serial = None
        self.pmem = []
        self.hotplug = None

    # ------------------------------------------------------------ routing
    def handle(self, method, uri, body):
        """The API server's handle_request for one parsed HTTP request."""
        try:
            return self._route(method, uri, body)
        except RequestError as e:
            return fault(e.msg, e.status)
        except ApiError as e:
            return fault(e.msg, e.status)

    def _route(self, method, uri, body):
        toks = uri.lstrip("/").split("/")
        if toks and toks[-1] == "" and uri.lstrip("/") != "":
            toks = toks[:-1]  # Rust's split_terminator drops one trailing empty piece
        if uri.lstrip("/") == "":
            toks = []
        path = toks[0] if toks else ""
        sub = toks[1] if len(toks) > 1 else None
        v116 = version_at_least(self.sim.version, "1.16.0")
        if method == "GET" and body is None:
            if path == "":
                return self._ok_json(self._instance_info())
            if path == "balloon":
                return self._get_balloon(sub)
            if path == "version":
                return self._ok_json(to_json_ordered([("firecracker_version", self.sim.version)]))
            if path == "vm" and sub == "config":
                return self._ok_json(self._full_config())
            if path == "machine-config":
                return self._ok_json(self._machine_config_json())
            if path == "mmds":
                return self._ok_json(self._mmds_get())
            if v116 and path == "hotplug" and sub == "memory":
                return self._hotplug_get()
        if method == "GET" and body is not None:
            raise RequestError("GET request cannot have a body.")
        if method == "PUT" and body is not None:
            handler = {
                "actions": self._put_actions, "balloon": self._put_balloon,
                "boot-source": self._put_boot_source, "cpu-config": self._put_cpu_config,
                "drives": self._put_drive, "logger": self._put_logger,
                "machine-config": self._put_machine_config, "metrics": self._put_metrics,
                "mmds": self._put_mmds, "network-interfaces": self._put_net,
                "snapshot": self._put_snapshot, "vsock": self._put_vsock,
                "entropy": self._put_entropy,
            }.get(path)
            if handler is None and v116:
                handler = {"serial": self._put_serial, "pmem": self._put_pmem,
                           "hotplug": self._put_hotplug}.get(path)
            if handler:
                return handler(body, sub)
        if method == "PUT" and body is None:
            raise RequestError("Empty PUT request.")
        if method == "PATCH" and body is not None:
            handler = {
                "balloon": self._patch_balloon, "drives": self._patch_drive,
                "machine-config": self._patch_machine_config, "mmds": self._patch_mmds,
                "network-interfaces": self._patch_net, "vm": self._patch_vm,
            }.get(path)
            if handler is None and v116:
                handler = {"pmem": self._patch_pmem, "hotplug": self._patch_hotplug}.get(path)
            if handler:
                return handler(body, sub)
        if method == "PATCH" and body is None:
            raise RequestError("Empty PATCH request.")
        raise RequestError("Invalid request method and/or path: %s %s." % (method, path))

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _ok_json(text):
        return Reply(200, text)

    @staticmethod
    def _empty(deprecation=False, after=None):
        return Reply(204, None, deprecation, after)

    def _preboot(self):
        return self.state == "Not started"

    def _require_preboot(self):
        if not self._preboot():
            raise ApiError(NOT_SUPPORTED_POST_BOOT)

    def _require_postboot(self):
        if self._preboot():
            raise ApiError(NOT_SUPPORTED_PRE_BOOT)

    def _instance_info(self):
        return to_json_ordered([("id", self.sim.instance_id), ("state", self.state),
                                ("vmm_version", self.sim.version),
                                ("app_name", "Firecracker")])

    def _machine_config_pairs(self):
        c = self.vm_config
        pairs = [("vcpu_count", c["vcpu_count"]), ("mem_size_mib", c["mem_size_mib"]),
                 ("smt", c["smt"])]
        if c["cpu_template"] is not None:
            pairs.append(("cpu_template", c["cpu_template"]))
        pairs += [("track_dirty_pages", c["track_dirty_pages"]),
                  ("huge_pages", c["huge_pages"])]
        return pairs

    def _machine_config_json(self):
        return to_json_ordered(self._machine_config_pairs())

    @staticmethod
    def _rl_dict(rl):
        if rl is None:
            return None
        out = {}
        for k in ("bandwidth", "ops"):
            b = rl[k]
            out[k] = None if b is None else {"size": b["size"], "one_time_burst":
                                             b["one_time_burst"], "refill_time": b["refill_time"]}
        return out

    def _drive_dict(self, d):
        return {"drive_id": d["drive_id"], "partuuid": d["partuuid"],
                "is_root_device": d["is_root_device"], "cache_type": d["cache_type"],
                "is_read_only": d["is_read_only"] if d["socket"] is None else None,
                "path_on_host": d["path_on_host"], "rate_limiter": self._rl_dict(d["rate_limiter"]),
                "io_engine": d["io_engine"] if d["socket"] is None else None,
                "socket": d["socket"]}

    def _full_config(self):
        balloon = None
        if self.balloon:
            balloon = {"amount_mib": self.balloon["amount_mib"],
                       "deflate_on_oom": self.balloon["deflate_on_oom"],
                       "stats_polling_interval_s": self.balloon["stats_polling_interval_s"]}
        mmds_config = None
        if self.mmds is not None and self.mmds_ifaces:
            ifaces = [n["iface_id"] for n in self.nets if n["iface_id"] in self.mmds_ifaces]
            if ifaces:
                mmds_config = {"version": self.mmds["version"], "network_interfaces": ifaces,
                               "ipv4_address": self.mmds_ipv4 or MMDS_DEFAULT_IPV4}
        nets = [{"iface_id": n["iface_id"], "host_dev_name": n["host_dev_name"],
                 "guest_mac": n["guest_mac"], "rx_rate_limiter": self._rl_dict(n["rx_rate_limiter"]),
                 "tx_rate_limiter": self._rl_dict(n["tx_rate_limiter"])} for n in self.nets]
        vsock = None
        if self.vsock:
            vsock = {"guest_cid": self.vsock["guest_cid"], "uds_path": self.vsock["uds_path"]}
        entropy = None
        if self.entropy is not None:
            entropy = {"rate_limiter": self._rl_dict(self.entropy["rate_limiter"])}
        bs = self.boot_source_cfg
        return to_json_ordered([
            ("balloon", balloon),
            ("drives", [self._drive_dict(d) for d in self.drives]),
            ("boot-source", {"kernel_image_path": bs["kernel_image_path"],
                             "initrd_path": bs["initrd_path"], "boot_args": bs["boot_args"]}),
            ("cpu-config", None),
            ("logger", None),
            ("machine-config", dict(self._machine_config_pairs())),
            ("metrics", None),
            ("mmds-config", mmds_config),
            ("network-interfaces", nets),
            ("vsock", vsock),
            ("entropy", entropy),
        ])

    # ------------------------------------------------------------ actions
    def _put_actions(self, body, _sub):
        action = parse(S.ACTION, body)["action_type"]
        if action == "InstanceStart":
            self._require_preboot()
            return self._start()
        if action == "FlushMetrics":
            self._require_postboot()
            self.sim.flush_metrics()
            return self._empty()
        self._require_postboot()  # SendCtrlAltDel
        self.sim.guest.ctrl_alt_del()
        return self._empty()

    def _start(self):
        if self.boot_source is None:
            raise ApiError(E_START + "Cannot start microvm without kernel configuration.")
        kernel = self.boot_source["kernel_image_path"]
        err = check_elf_kernel(kernel)
        if err:
            raise ApiError(E_START + "Cannot load kernel due to invalid memory configuration or "
                           "invalid kernel image: " + err)
        initrd = self.boot_source.get("initrd_path")
        if initrd is not None:
            try:
                size = os.stat(initrd).st_size
            except OSError as e:
                raise ApiError(E_START + "Cannot load initrd due to an invalid image: "
                               + os_error_text(e))
            if size > self.vm_config["mem_size_mib"] << 20:
                raise ApiError(E_START + "Cannot load initrd due to an invalid memory "
                               "configuration.")
        cmdline = self._guest_cmdline()
        self.state = "Running"
        self.sim.guest.boot(cmdline, self.vm_config["mem_size_mib"])
        self.sim.net.boot(cmdline, self.nets)
        return self._empty(after="started")

    def _guest_cmdline(self):
        """The command line the guest sees: boot_args (or the default) and
        what Firecracker appends for the root drive and each virtio MMIO
        device (balloon, drives, nets, vsock, entropy), in its order."""
        args = self.boot_source.get("boot_args")
        parts = [DEFAULT_KERNEL_CMDLINE if args is None else args]
        slot = 1 if self.sim.boot_timer else 0
        devices = []
        if self.balloon:
            devices.append("balloon")
        for d in self.drives:
            if d["is_root_device"]:
                parts.append("root=PARTUUID=%s" % d["partuuid"] if d["partuuid"]
                             else "root=/dev/vda")
                parts.append("ro" if d["is_read_only"] else "rw")
            devices.append(d["drive_id"])
        devices += [n["iface_id"] for n in self.nets]
        if self.vsock:
            devices.append("vsock")
        if self.entropy is not None:
            devices.append("rng")
        for _ in devices:
            parts.append("virtio_mmio.device=4K@0x%x:%d" % (MMIO_MEM_START + slot * MMIO_LEN,
                                                            IRQ_BASE + slot - (1 if self.sim.boot_timer else 0)))
            slot += 1
        return " ".join(p for p in parts if p != "")

    # ------------------------------------------------------------ boot source
    def _put_boot_source(self, body, _sub):
        cfg = parse(S.BOOT_SOURCE, body)
        self._require_preboot()
        self.boot_path = True
        if cfg["initrd_path"] is not None and self.vm_config["huge_pages"] != "None":
            raise ApiError(E_BOOT + "Firecracker's huge pages support is incompatible with "
                           "initrds.")
        self.boot_source_cfg = cfg
        self.boot_source = None
        try:
            fd = os.open(cfg["kernel_image_path"], os.O_RDONLY | os.O_CLOEXEC)
            os.close(fd)
        except OSError as e:
            raise ApiError(E_BOOT + "The kernel file cannot be opened: " + os_error_text(e))
        if cfg["initrd_path"] is not None:
            try:
                fd = os.open(cfg["initrd_path"], os.O_RDONLY | os.O_CLOEXEC)
                os.close(fd)
            except OSError as e:
                raise ApiError(E_BOOT + "The initrd file cannot be opened due to invalid path or "
                               "invalid permissions. " + os_error_text(e))
        cmdline = DEFAULT_KERNEL_CMDLINE if cfg["boot_args"] is None else cfg["boot_args"]
        err = cmdline_error(cmdline)
        if err:
            raise ApiError(E_BOOT + "The kernel command line is invalid: " + err)
        self.boot_source = cfg
        return self._empty()

    # ------------------------------------------------------------ machine config
    def _put_machine_config(self, body, _sub):
        cfg = parse(S.MACHINE_CONFIG, body)
        deprecated = cfg["cpu_template"] is not None
        self._require_preboot()
        self.boot_path = True
        self._update_vm_config(cfg)
        return self._empty(deprecation=deprecated)

    def _patch_machine_config(self, body, _sub):
        upd = parse(S.MACHINE_CONFIG_UPDATE, body)
        if all(v is None for v in upd.values()):
            raise RequestError("Empty PATCH request.")
        self._require_preboot()
        self.boot_path = True
        self._update_vm_config(upd)
        return self._empty(deprecation=upd["cpu_template"] is not None)

    def _update_vm_config(self, upd):
        cur = self.vm_config
        vcpus = cur["vcpu_count"] if upd["vcpu_count"] is None else upd["vcpu_count"]
        smt = cur["smt"] if upd["smt"] is None else upd["smt"]
        if vcpus == 0 or vcpus > MAX_SUPPORTED_VCPUS:
            raise ApiError(E_MACHINE + VCPU_COUNT_MSG)
        if smt and vcpus > 1 and vcpus % 2 == 1:
            raise ApiError(E_MACHINE + VCPU_COUNT_MSG)
        mem = cur["mem_size_mib"] if upd["mem_size_mib"] is None else upd["mem_size_mib"]
        huge = cur["huge_pages"] if upd["huge_pages"] is None else upd["huge_pages"]
        if mem == 0 or (huge == "2M" and mem % 2 != 0):
            raise ApiError(E_MACHINE + MEM_SIZE_MSG)
        tmpl = cur["cpu_template"]
        if upd["cpu_template"] == "None":
            tmpl = None
        elif upd["cpu_template"] is not None:
            tmpl = upd["cpu_template"]
        dirty = cur["track_dirty_pages"] if upd["track_dirty_pages"] is None \
            else upd["track_dirty_pages"]
        if self.balloon and mem < self.balloon["amount_mib"]:
            raise ApiError(E_MACHINE + "The memory size (MiB) is smaller than the previously set "
                           "balloon device target size.")
        if self.balloon and huge != "None":
            raise ApiError(E_MACHINE + "Firecracker's huge pages support is incompatible with "
                           "memory ballooning.")
        if self.boot_source_cfg["initrd_path"] is not None and huge != "None":
            raise ApiError(E_MACHINE + "Firecracker's huge pages support is incompatible with "
                           "initrds.")
        self.vm_config = {"vcpu_count": vcpus, "mem_size_mib": mem, "smt": smt,
                          "cpu_template": tmpl, "track_dirty_pages": dirty, "huge_pages": huge}

    def _put_cpu_config(self, body, _sub):
        parse(S.CPU_CONFIG, body)
        self._require_preboot()
        self.cpu_config = True
        return self._empty()

    # ------------------------------------------------------------ drives
    def _put_drive(self, body, sub):
        drive_id = checked_id(sub)
        cfg = parse(S.DRIVE, body)
        if drive_id != cfg["drive_id"]:
            raise RequestError("The id from the path does not match the id from the body!")
        self._require_preboot()
        self.boot_path = True
        pos = next((i for i, d in enumerate(self.drives) if d["drive_id"] == cfg["drive_id"]), None)
        has_root = bool(self.drives) and self.drives[0]["is_root_device"]
        if cfg["is_root_device"] and has_root and pos != 0:
            raise ApiError(E_DRIVE + "A root block device already exists!")
        prefix = E_DRIVE + "Unable to create the virtio block device: "
        if cfg["path_on_host"] is not None and cfg["socket"] is None:
            ro = bool(cfg["is_read_only"])
            try:
                fd = os.open(cfg["path_on_host"], (os.O_RDONLY if ro else os.O_RDWR) | os.O_CLOEXEC)
                os.close(fd)
            except OSError as e:
                raise ApiError(prefix + "Virtio backend error: Error manipulating the backing "
                               "file: %s %s" % (os_error_text(e), cfg["path_on_host"]))
            cfg["is_read_only"] = ro
            cfg["io_engine"] = cfg["io_engine"] or "Sync"
        elif cfg["socket"] is not None and cfg["path_on_host"] is None:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(1.0)
                s.connect(cfg["socket"])
                s.close()
            except OSError as e:
                raise ApiError(prefix + "Vhost user backend error: Vhost-user error: "
                               + os_error_text(e))
        else:
            raise ApiError(prefix + "Invalid block config.")
        cfg["rate_limiter"] = rate_limiter(cfg["rate_limiter"])
        if cfg["socket"] is None and cfg["drive_id"] not in self.sim.metrics.drives:
            self.sim.metrics.drives.append(cfg["drive_id"])
        if pos is None:
            if cfg["is_root_device"]:
                self.drives.insert(0, cfg)
            else:
                self.drives.append(cfg)
        else:
            self.drives[pos] = cfg
            if pos != 0 and cfg["is_root_device"]:
                self.drives[0], self.drives[pos] = self.drives[pos], self.drives[0]
        return self._empty()

    def _patch_drive(self, body, sub):
        drive_id = checked_id(sub)
        upd = parse(S.DRIVE_UPDATE, body)
        if drive_id != upd["drive_id"]:
            raise RequestError("The id from the path does not match the id from the body!")
        self._require_postboot()
        prefix = E_DRIVE + "Unable to patch the block device: "
        drive = next((d for d in self.drives if d["drive_id"] == upd["drive_id"]), None)
        if drive is None:
            raise ApiError(prefix + "Device manager error: Failed to find the device on the "
                           "bus. Please verify the request arguments.")
        if upd["path_on_host"] is None and upd["rate_limiter"] is None:
            if drive["socket"] is None:
                raise ApiError(prefix + "Block device error: Running method expected different "
                               "backend. Please verify the request arguments.")
            return self._empty()
        if upd["path_on_host"] is not None:
            if drive["socket"] is not None:
                raise ApiError(prefix + "Block device error: Running method expected different "
                               "backend. Please verify the request arguments.")
            try:
                fd = os.open(upd["path_on_host"],
                             (os.O_RDONLY if drive["is_read_only"] else os.O_RDWR) | os.O_CLOEXEC)
                os.close(fd)
            except OSError as e:
                raise ApiError(prefix + "Block device error: Virtio backend error: Error "
                               "manipulating the backing file: %s %s Please verify the request "
                               "arguments." % (os_error_text(e), upd["path_on_host"]))
            drive["path_on_host"] = upd["path_on_host"]
        if upd["rate_limiter"] is not None:
            drive["rate_limiter"] = rate_limiter(upd["rate_limiter"]) or drive["rate_limiter"]
        return self._empty()

    # ------------------------------------------------------------ network
    def _put_net(self, body, sub):
        iface = checked_id(sub)
        cfg = parse(S.NET, body)
        if iface != cfg["iface_id"]:
            raise RequestError("The id from the path [%s] does not match the id from the body "
                               "[%s]!" % (iface, cfg["iface_id"]))
        self._require_preboot()
        self.boot_path = True
        if cfg["guest_mac"] is not None:
            for n in self.nets:
                if n["guest_mac"] == cfg["guest_mac"] and n["iface_id"] != cfg["iface_id"]:
                    raise ApiError(E_NET + "The MAC address is already in use: %s"
                                   % cfg["guest_mac"])
        if any(n["iface_id"] == cfg["iface_id"] for n in self.nets):
            self.sim.net.close(cfg["iface_id"])  # the replaced device's TAP
        self.nets = [n for n in self.nets if n["iface_id"] != cfg["iface_id"]]
        name = cfg["host_dev_name"]
        if len(name.encode()) >= IFNAMSIZ:
            raise ApiError(E_NET + "Could not create the network device: Open tap device "
                           "failed: Invalid interface name")
        for n in self.nets:
            if n["host_dev_name"] == name:
                raise ApiError(E_NET + "Could not create the network device: Open tap device "
                               "failed: Error while creating ifreq structure: %s. Invalid TUN/TAP "
                               "Backend provided by %s. Check our documentation on setting up the "
                               "network devices." % (os_error_text(OSError(errno.EBUSY, "")), name))
        cfg["rx_rate_limiter"] = rate_limiter(cfg["rx_rate_limiter"])
        cfg["tx_rate_limiter"] = rate_limiter(cfg["tx_rate_limiter"])
        try:
            self.sim.net.open(cfg["iface_id"], name)
        except fcsim_net.TapError as e:
            raise ApiError(E_NET + "Could not create the network device: Open tap device "
                           "failed: %s" % e)
        self.nets.append(cfg)
        self.sim.metrics.nets.setdefault(cfg["iface_id"], {})
        return self._empty()

    def _patch_net(self, body, sub):
        iface = checked_id(sub)
        upd = parse(S.NET_UPDATE, body)
        if iface != upd["iface_id"]:
            raise RequestError("The id from the path [%s] does not match the id from the body "
                               "[%s]!" % (iface, upd["iface_id"]))
        self._require_postboot()
        net = next((n for n in self.nets if n["iface_id"] == upd["iface_id"]), None)
        if net is None:
            raise ApiError(E_NET + "Unable to update the net device: Device manager error: "
                           "Failed to find the device on the bus.")
        for k in ("rx_rate_limiter", "tx_rate_limiter"):
            if upd[k] is not None:
                net[k] = rate_limiter(upd[k])
        return self._empty()

    # ------------------------------------------------------------ vsock / entropy / balloon
    def _put_vsock(self, body, _sub):
        cfg = parse(S.VSOCK, body)
        deprecated = cfg["vsock_id"] is not None
        self._require_preboot()
        self.boot_path = True
        prefix = E_VSOCK + "Cannot create backend for vsock device: "
        if self.vsock is not None:
            old = self.vsock
            self.vsock = None
            self.sim.close_vsock(old)
            try:
                os.unlink(old["uds_path"])
            except OSError as e:
                raise ApiError(prefix + "Error binding to the host-side Unix socket: "
                               + os_error_text(e))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(cfg["uds_path"])
            s.listen(128)
        except OSError as e:
            s.close()
            raise ApiError(prefix + "Error binding to the host-side Unix socket: "
                           + os_error_text(e))
        s.setblocking(False)
        self.vsock = {"guest_cid": cfg["guest_cid"], "uds_path": cfg["uds_path"], "sock": s}
        self.sim.open_vsock(self.vsock)
        return self._empty(deprecation=deprecated)

    def _put_entropy(self, body, _sub):
        cfg = parse(S.ENTROPY, body)
        self._require_preboot()
        self.boot_path = True
        self.entropy = {"rate_limiter": rate_limiter(cfg["rate_limiter"])}
        return self._empty()

    def _put_balloon(self, body, _sub):
        cfg = parse(S.BALLOON, body)
        self._require_preboot()
        self.boot_path = True
        if cfg["amount_mib"] > self.vm_config["mem_size_mib"]:
            raise ApiError(E_BALLOON + "Amount of pages requested is too large.")
        if self.vm_config["huge_pages"] != "None":
            raise ApiError(E_BALLOON + "Firecracker's huge pages support is incompatible with "
                           "memory ballooning.")
        self.balloon = cfg
        return self._empty()

    def _no_balloon(self):
        """The post-boot controller wraps the device error once more."""
        if self._preboot():
            return ApiError(E_BALLOON + "No balloon device found.")
        return ApiError(E_BALLOON + "Error creating the balloon device: No balloon device found.")

    def _get_balloon(self, sub):
        if sub is not None and sub != "statistics":
            raise RequestError("Unrecognized GET request path `%s`." % sub)
        if sub == "statistics" and self._preboot():
            raise ApiError(NOT_SUPPORTED_PRE_BOOT)
        if self.balloon is None:
            raise self._no_balloon()
        if sub == "statistics":
            if self.balloon["stats_polling_interval_s"] == 0:
                raise ApiError(E_BALLOON + "Statistics for the balloon device are not enabled")
            mib = self.balloon["amount_mib"]
            return self._ok_json(to_json_ordered([
                ("target_pages", mib * 256), ("actual_pages", 0), ("target_mib", mib),
                ("actual_mib", 0)]))
        b = self.balloon
        return self._ok_json(to_json_ordered([
            ("amount_mib", b["amount_mib"]), ("deflate_on_oom", b["deflate_on_oom"]),
            ("stats_polling_interval_s", b["stats_polling_interval_s"])]))

    def _patch_balloon(self, body, sub):
        if sub is not None and sub != "statistics":
            raise RequestError("Unrecognized PATCH request path `%s`." % sub)
        if sub == "statistics":
            upd = parse(S.BALLOON_STATS_UPDATE, body)
            self._require_postboot()
            if self.balloon is None:
                raise self._no_balloon()
            if (self.balloon["stats_polling_interval_s"] == 0) != \
                    (upd["stats_polling_interval_s"] == 0):
                raise ApiError(E_BALLOON + "Cannot enable/disable the statistics after boot.")
            self.balloon["stats_polling_interval_s"] = upd["stats_polling_interval_s"]
            return self._empty()
        upd = parse(S.BALLOON_UPDATE, body)
        self._require_postboot()
        if self.balloon is None:
            raise self._no_balloon()
        if upd["amount_mib"] > self.vm_config["mem_size_mib"]:
            raise ApiError(E_BALLOON + "Amount of pages requested is too large.")
        self.balloon["amount_mib"] = upd["amount_mib"]
        return self._empty()

    # ------------------------------------------------------------ logger / metrics
    def _put_logger(self, body, _sub):
        cfg = parse(S.LOGGER, body)
        self._require_preboot()
        try:
            self.sim.logger.update(cfg)
        except OSError as e:
            raise ApiError(E_LOGGER + "Failed to open target file: " + os_error_text(e))
        return self._empty()

    def _put_metrics(self, body, _sub):
        cfg = parse(S.METRICS, body)
        self._require_preboot()
        err = self.sim.metrics.init(cfg["metrics_path"])
        if err:
            raise ApiError(E_METRICS + "Cannot initialize the metrics system due to bad user "
                           "input: " + err)
        return self._empty()

    # ------------------------------------------------------------ MMDS
    def _mmds_store(self):
        if self.mmds is None:
            self.mmds = {"data": None, "initialized": False, "version": "V1",
                         "limit": self.sim.mmds_size_limit}
        return self.mmds

    def _mmds_get(self):
        data = self._mmds_store()["data"]
        return "{}" if data is None else to_json(data)

    def _put_mmds(self, body, sub):
        if sub == "config":
            cfg = parse(S.MMDS_CONFIG, body)
            self._require_preboot()
            self.boot_path = True
            ipv4 = cfg["ipv4_address"]
            if ipv4 is not None:
                a = [int(x) for x in ipv4.split(".")]
                if not (a[0] == 169 and a[1] == 254 and 1 <= a[2] <= 254):
                    raise ApiError(E_MMDS_CONFIG + "The MMDS IPv4 address is not link local.")
            if not cfg["network_interfaces"]:
                raise ApiError(E_MMDS_CONFIG + "The list of network interface IDs that allow "
                               "forwarding MMDS requests is empty.")
            ids = [n["iface_id"] for n in self.nets]
            if not all(i in ids for i in cfg["network_interfaces"]):
                raise ApiError(E_MMDS_CONFIG + "The list of network interface IDs provided "
                               "contains at least one ID that does not correspond to any "
                               "existing network interface.")
            store = self._mmds_store()
            self.mmds_ifaces = list(cfg["network_interfaces"])
            self.mmds_ipv4 = ipv4 or MMDS_DEFAULT_IPV4
            store["version"] = cfg["version"]
            return self._empty(deprecation=cfg["version"] == "V1")
        if sub is not None:
            raise RequestError("Unrecognized PUT request path `%s`." % sub)
        data = parse(S.MMDS_DATA, body)
        store = self._mmds_store()
        if len(to_json(data).encode()) > store["limit"]:
            raise ApiError(E_MMDS_LIMIT + "The MMDS patch request doesn't fit.", 413)
        store["data"], store["initialized"] = data, True
        return self._empty()

    def _patch_mmds(self, body, _sub):
        patch = parse(S.MMDS_DATA, body)
        store = self._mmds_store()
        if not store["initialized"]:
            raise ApiError(E_MMDS + "The MMDS data store is not initialized.")
        merged = merge_patch(store["data"], patch)
        if len(to_json(merged).encode()) > store["limit"]:
            raise ApiError(E_MMDS_LIMIT + "The MMDS patch request doesn't fit.", 413)
        store["data"] = merged
        return self._empty()

    # ------------------------------------------------------------ vm state / snapshots
    def _patch_vm(self, body, _sub):
        state = parse(S.VM_STATE, body)["state"]
        self._require_postboot()
        if state == "Paused":
            self.state = "Paused"
            self.sim.guest.pause()
            self.sim.net.pause()
        else:
            self.state = "Running"
            self.sim.guest.resume()
            self.sim.net.resume()
        return self._empty()

    def _put_snapshot(self, body, sub):
        if sub is None:
            raise RequestError("Missing snapshot operation type.")
        if sub == "create":
            return self._snapshot_create(parse(S.SNAPSHOT_CREATE, body))
        if sub == "load":
            cfg = parse(S.SNAPSHOT_LOAD, body)
            if cfg["mem_backend"] is not None and cfg["mem_file_path"] is not None:
                raise RequestError("An error occurred when deserializing the json body of a "
                                   "request: %s." % SNAPSHOT_TOO_MANY)
            if cfg["mem_backend"] is None and cfg["mem_file_path"] is None:
                raise RequestError("An error occurred when deserializing the json body of a "
                                   "request: %s." % SNAPSHOT_MISSING)
            return self._snapshot_load(cfg)
        raise RequestError("Invalid request method and/or path: PUT /snapshot/%s." % sub)

    def _snapshot_create(self, cfg):
        self._require_postboot()
        if cfg["snapshot_type"] == "Diff" and not self.vm_config["track_dirty_pages"]:
            raise ApiError(E_NOT_SUPPORTED + "Diff snapshots are not allowed on uVMs with dirty "
                           "page tracking disabled.")
        if self.state == "Running":
            raise ApiError(E_CREATE_SNAP + "Cannot save the microVM state: Operation not "
                           "allowed: save/restore unavailable while running")
        import fcsim_snapshot
        err = fcsim_snapshot.create(self, cfg)
        if err:
            raise ApiError(E_CREATE_SNAP + err)
        return self._empty()

    def _snapshot_load(self, cfg):
        deprecated = cfg["mem_file_path"] is not None
        self._require_preboot()
        if self.boot_path:
            raise ApiError(E_LOAD_SNAP + "Loading a microVM snapshot not allowed after "
                           "configuring boot-specific resources.")
        import fcsim_snapshot
        err = fcsim_snapshot.load(self, cfg)
        if err:
            # Firecracker considers the process too dirty to go on: it answers,
            # then exits with status 1 ("Failed to build MicroVM: Loading
            # snapshot failed.").
            r = fault(E_LOAD_SNAP + "Failed to restore from snapshot: " + err)
            r.after = "restore_failed"
            return r
        if cfg["resume_vm"]:
            self.state = "Running"
        else:
            self.state = "Paused"
        self.sim.guest.restored(self.state == "Running")
        if self.state == "Running":
            self.sim.net.resume()
        r = self._empty(deprecation=deprecated)
        r.after = "started"
        return r

    # ------------------------------------------------------------ 1.16 endpoints
    def _put_serial(self, body, _sub):
        cfg = parse(S.SERIAL, body)
        self._require_preboot()
        if cfg["serial_out_path"] is not None:
            try:
                fd = os.open(cfg["serial_out_path"],
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC,
                             0o644)
            except OSError as e:
                raise ApiError("Serial config error: " + os_error_text(e))
            self.serial = fd
            self.sim.guest.set_serial_fd(fd)
        return self._empty()

    def _put_pmem(self, body, sub):
        pid = checked_id(sub)
        cfg = parse(S.PMEM, body)
        if pid != cfg["id"]:
            raise RequestError("The id from the path does not match the id from the body!")
        self._require_preboot()
        self.boot_path = True
        try:
            os.close(os.open(cfg["path_on_host"], os.O_RDONLY | os.O_CLOEXEC))
        except OSError as e:
            raise ApiError("Pmem device error: " + os_error_text(e))
        self.pmem = [p for p in self.pmem if p["id"] != cfg["id"]] + [cfg]
        return self._empty()

    def _patch_pmem(self, body, sub):
        checked_id(sub)
        self._require_postboot()
        return self._empty()

    def _put_hotplug(self, body, sub):
        if sub != "memory":
            raise RequestError("Invalid request method and/or path: PUT hotplug.")
        cfg = parse(S.HOTPLUG_MEMORY, body)
        self._require_preboot()
        self.boot_path = True
        self.hotplug = dict(cfg, plugged_size_mib=0, requested_size_mib=0)
        return self._empty()

    def _patch_hotplug(self, body, sub):
        if sub != "memory":
            raise RequestError("Invalid request method and/or path: PATCH hotplug.")
        upd = parse(S.HOTPLUG_MEMORY_UPDATE, body)
        self._require_postboot()
        if self.hotplug is None:
            raise ApiError("Memory hotplug error: the memory hotplug device is not configured.")
        self.hotplug["requested_size_mib"] = upd["requested_size_mib"]
        self.hotplug["plugged_size_mib"] = upd["requested_size_mib"]
        return self._empty()

    def _hotplug_get(self):
        if self.hotplug is None:
            raise ApiError("Memory hotplug error: the memory hotplug device is not configured.")
        h = self.hotplug
        return self._ok_json(to_json_ordered([(k, h[k]) for k in (
            "total_size_mib", "slot_size_mib", "block_size_mib", "plugged_size_mib",
            "requested_size_mib")]))


def merge_patch(target, patch):
    """RFC 7396 JSON merge patch (what Firecracker's json_patch does)."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def cmdline_error(cmdline):
    """linux-loader's Cmdline check of the boot arguments at PUT time (only
    the size: any bytes are accepted, even NUL and newlines)."""
    if len(cmdline.encode()) + 1 > CMDLINE_MAX_SIZE:
        return "Invalid cmdline capacity provided."
    return None


def check_elf_kernel(path):
    """What the simulator accepts as a kernel at InstanceStart: an x86_64
    ELF executable (the real loader's first checks)."""
    try:
        with open(path, "rb") as f:
            hdr = f.read(64)
    except OSError as e:
        return os_error_text(e)
    if len(hdr) < 64:
        return "Failed to read ELF header"
    if hdr[:4] != b"\x7fELF":
        return "Invalid ELF magic number"
    if hdr[4] != 2 or hdr[5] != 1:
        return "Unexpected ELF class or data encoding"
    if int.from_bytes(hdr[18:20], "little") != 62:
        return "Invalid ELF machine"
    return None

