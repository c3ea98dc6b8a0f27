"""fcsim_schema.py - part of the Firecracker simulator (a test double): the
request body types of Firecracker v1.10.1's API, declared as the serde
structs the real binary derives (field names, order, which are required,
optional or defaulted, which structs refuse unknown fields), using the
decoders of fcsim_serde.py. Facts from the v1.10.1 sources and
../shared/reference/firecracker/firecracker-v1.10.1.yaml."""

from fcsim_serde import (
    Struct, Enum, Opt, Vec, Value, Custom, SerdeError,
    U8, U16, U32, U64, USIZE, STRING, PATH, IPV4, Bool,
    REQUIRED, OPTION, DEFAULT,
)

TOKEN_BUCKET = Struct("TokenBucketConfig", [
    ("size", U64, REQUIRED, None),
    ("one_time_burst", Opt(U64), OPTION, None),
    ("refill_time", U64, REQUIRED, None),
], deny_unknown=False)

RATE_LIMITER = Struct("RateLimiterConfig", [
    ("bandwidth", Opt(TOKEN_BUCKET), OPTION, None),
    ("ops", Opt(TOKEN_BUCKET), OPTION, None),
])

ACTION = Struct("ActionBody", [
    ("action_type", Enum("ActionType", ["FlushMetrics", "InstanceStart", "SendCtrlAltDel"]),
     REQUIRED, None),
])

BOOT_SOURCE = Struct("BootSourceConfig", [
    ("kernel_image_path", STRING, REQUIRED, None),
    ("initrd_path", Opt(STRING), OPTION, None),
    ("boot_args", Opt(STRING), OPTION, None),
])

CPU_TEMPLATES = ["C3", "T2", "T2S", "None", "T2CL", "T2A"]
CPU_TEMPLATE = Enum("StaticCpuTemplate", CPU_TEMPLATES)
HUGE_PAGES = Enum("HugePageConfig", ["None", "2M"])

MACHINE_CONFIG = Struct("MachineConfig", [
    ("vcpu_count", U8, REQUIRED, None),
    ("mem_size_mib", USIZE, REQUIRED, None),
    ("smt", Bool(), DEFAULT, False),
    ("cpu_template", Opt(CPU_TEMPLATE), OPTION, None),
    ("track_dirty_pages", Bool(), DEFAULT, False),
    ("huge_pages", HUGE_PAGES, DEFAULT, "None"),
])

MACHINE_CONFIG_UPDATE = Struct("MachineConfigUpdate", [
    ("vcpu_count", Opt(U8), OPTION, None),
    ("mem_size_mib", Opt(USIZE), OPTION, None),
    ("smt", Opt(Bool()), OPTION, None),
    ("cpu_template", Opt(CPU_TEMPLATE), OPTION, None),
    ("track_dirty_pages", Opt(Bool()), OPTION, None),
    ("huge_pages", Opt(HUGE_PAGES), OPTION, None),
])

DRIVE = Struct("BlockDeviceConfig", [
    ("drive_id", STRING, REQUIRED, None),
    ("partuuid", Opt(STRING), OPTION, None),
    ("is_root_device", Bool(), REQUIRED, None),
    ("cache_type", Enum("CacheType", ["Unsafe", "Writeback"]), DEFAULT, "Unsafe"),
    ("is_read_only", Opt(Bool()), OPTION, None),
    ("path_on_host", Opt(STRING), OPTION, None),
    ("rate_limiter", Opt(RATE_LIMITER), OPTION, None),
    ("io_engine", Opt(Enum("FileEngineType", ["Async", "Sync"])), OPTION, None),
    ("socket", Opt(STRING), OPTION, None),
])

DRIVE_UPDATE = Struct("BlockDeviceUpdateConfig", [
    ("drive_id", STRING, REQUIRED, None),
    ("path_on_host", Opt(STRING), OPTION, None),
    ("rate_limiter", Opt(RATE_LIMITER), OPTION, None),
])


def _mac(s):
    parts = s.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p)
                                  for p in parts):
        raise SerdeError("The provided MAC address is invalid.")
    return s.lower()


NET = Struct("NetworkInterfaceConfig", [
    ("iface_id", STRING, REQUIRED, None),
    ("host_dev_name", STRING, REQUIRED, None),
    ("guest_mac", Opt(Custom(STRING, _mac)), OPTION, None),
    ("rx_rate_limiter", Opt(RATE_LIMITER), OPTION, None),
    ("tx_rate_limiter", Opt(RATE_LIMITER), OPTION, None),
])

NET_UPDATE = Struct("NetworkInterfaceUpdateConfig", [
    ("iface_id", STRING, REQUIRED, None),
    ("rx_rate_limiter", Opt(RATE_LIMITER), OPTION, None),
    ("tx_rate_limiter", Opt(RATE_LIMITER), OPTION, None),
])

LOG_LEVELS = {"off": "Off", "trace": "Trace", "debug": "Debug", "info": "Info",
              "warn": "Warn", "warning": "Warn", "error": "Error"}


def _level(s):
    # Lowercased with Rust's Unicode rules; Python's lower() agrees for the
    # ASCII names that can match.
    if s.lower() not in LOG_LEVELS:
        raise SerdeError("Invalid LevelFilter")
    return LOG_LEVELS[s.lower()]


LOGGER = Struct("LoggerConfig", [
    ("log_path", Opt(PATH), OPTION, None),
    ("level", Opt(Custom(STRING, _level)), OPTION, None),
    ("show_level", Opt(Bool()), OPTION, None),
    ("show_log_origin", Opt(Bool()), OPTION, None),
    ("module", Opt(STRING), OPTION, None),
])

METRICS = Struct("MetricsConfig", [
    ("metrics_path", PATH, REQUIRED, None),
], deny_unknown=False)

MMDS_CONFIG = Struct("MmdsConfig", [
    ("version", Enum("MmdsVersion", ["V1", "V2"]), DEFAULT, "V1"),
    ("network_interfaces", Vec(STRING), REQUIRED, None),
    ("ipv4_address", Opt(IPV4), OPTION, None),
])

VSOCK = Struct("VsockDeviceConfig", [
    ("vsock_id", Opt(STRING), OPTION, None),
    ("guest_cid", U32, REQUIRED, None),
    ("uds_path", STRING, REQUIRED, None),
])

ENTROPY = Struct("EntropyDeviceConfig", [
    ("rate_limiter", Opt(RATE_LIMITER), OPTION, None),
])

BALLOON = Struct("BalloonDeviceConfig", [
    ("amount_mib", U32, REQUIRED, None),
    ("deflate_on_oom", Bool(), REQUIRED, None),
    ("stats_polling_interval_s", U16, DEFAULT, 0),
])

BALLOON_UPDATE = Struct("BalloonUpdateConfig", [("amount_mib", U32, REQUIRED, None)])
BALLOON_STATS_UPDATE = Struct("BalloonUpdateStatsConfig", [
    ("stats_polling_interval_s", U16, REQUIRED, None)])

SNAPSHOT_CREATE = Struct("CreateSnapshotParams", [
    ("snapshot_type", Enum("SnapshotType", ["Diff", "Full"]), DEFAULT, "Full"),
    ("snapshot_path", PATH, REQUIRED, None),
    ("mem_file_path", PATH, REQUIRED, None),
])

MEM_BACKEND = Struct("MemBackendConfig", [
    ("backend_path", PATH, REQUIRED, None),
    ("backend_type", Enum("MemBackendType", ["File", "Uffd"]), REQUIRED, None),
])

SNAPSHOT_LOAD = Struct("LoadSnapshotConfig", [
    ("snapshot_path", PATH, REQUIRED, None),
    ("mem_file_path", Opt(PATH), OPTION, None),
    ("mem_backend", Opt(MEM_BACKEND), OPTION, None),
    ("enable_diff_snapshots", Bool(), DEFAULT, False),
    ("resume_vm", Bool(), DEFAULT, False),
])

VM_STATE = Struct("Vm", [("state", Enum("VmState", ["Paused", "Resumed"]), REQUIRED, None)])

# x86_64 CustomCpuTemplate: the modifiers are accepted as given (the
# simulator has no CPUID to apply them to).
CPU_CONFIG = Struct("CustomCpuTemplate", [
    ("kvm_capabilities", Vec(Value()), DEFAULT, list),
    ("cpuid_modifiers", Vec(Value()), DEFAULT, list),
    ("msr_modifiers", Vec(Value()), DEFAULT, list),
])

MMDS_DATA = Value()

# Firecracker >= 1.16 (only with FCSIM_FIRECRACKER_VERSION >= 1.16)
SERIAL = Struct("SerialConfig", [
    ("serial_out_path", Opt(PATH), OPTION, None),
    ("rate_limiter", Opt(TOKEN_BUCKET), OPTION, None),
])
PMEM = Struct("PmemConfig", [
    ("id", STRING, REQUIRED, None),
    ("path_on_host", STRING, REQUIRED, None),
    ("root_device", Bool(), DEFAULT, False),
    ("read_only", Bool(), DEFAULT, False),
    ("rate_limiter", Opt(RATE_LIMITER), OPTION, None),
])
HOTPLUG_MEMORY = Struct("MemoryHotplugConfig", [
    ("total_size_mib", USIZE, REQUIRED, None),
    ("slot_size_mib", USIZE, DEFAULT, 128),
    ("block_size_mib", USIZE, DEFAULT, 2),
])
HOTPLUG_MEMORY_UPDATE = Struct("MemoryHotplugSizeUpdate", [
    ("requested_size_mib", USIZE, REQUIRED, None),
])
