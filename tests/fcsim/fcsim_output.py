"""fcsim_output.py - part of the Firecracker simulator (a test double): the
process's two text outputs besides the serial console, both as Firecracker
v1.10.1 writes them:

  * the logger: "<local time with ns> [<id>:<thread><:level>] <message>"
    lines, on stdout until PUT /logger (or --log-path) names a file or
    FIFO, filtered by level;
  * the metrics: one JSON object per line written on FlushMetrics, every
    60 s after boot and at exit, with the top-level keys of v1.10.1 in its
    order (per-device "block_<id>" / "net_<id>" entries before the
    aggregates), counters reset at each write as Firecracker's
    SharedIncMetric are."""

import os
import time

from fcsim_serde import to_json_ordered

LEVELS = {"Off": 0, "Error": 1, "Warn": 2, "Info": 3, "Debug": 4, "Trace": 5}
LEVEL_NAMES = {1: "ERROR", 2: "WARN", 3: "INFO", 4: "DEBUG", 5: "TRACE"}

# Field names of FirecrackerMetrics (v1.10.1), in serialization order.
# "name+agg" is a latency aggregate {"min_us", "max_us", "sum_us"}.
METRICS_LAYOUT = [
    ('api_server', 'process_startup_time_us process_startup_time_cpu_us sync_response_fails sync_vmm_send_timeout_count'),
    ('balloon', 'activate_fails inflate_count stats_updates_count stats_update_fails deflate_count event_fails'),
    ('block', 'activate_fails cfg_fails no_avail_buffer event_fails execute_fails invalid_reqs_count flush_count queue_event_count rate_limiter_event_count update_count update_fails read_bytes write_bytes read_count write_count read_agg+agg write_agg+agg rate_limiter_throttled_events io_engine_throttled_events remaining_reqs_count'),
    ('deprecated_api', 'deprecated_http_api_calls deprecated_cmd_line_api_calls'),
    ('get_api_requests', 'instance_info_count machine_cfg_count mmds_count vmm_version_count'),
    ('i8042', 'error_count missed_read_count missed_write_count read_count reset_count write_count'),
    ('uart', 'error_count flush_count missed_read_count missed_write_count read_count write_count'),
    ('latencies_us', 'full_create_snapshot diff_create_snapshot load_snapshot pause_vm resume_vm vmm_full_create_snapshot vmm_diff_create_snapshot vmm_load_snapshot vmm_pause_vm vmm_resume_vm'),
    ('logger', 'missed_metrics_count metrics_fails missed_log_count log_fails'),
    ('mmds', 'rx_accepted rx_accepted_err rx_accepted_unusual rx_bad_eth rx_count tx_bytes tx_count tx_errors tx_frames connections_created connections_destroyed'),
    ('net', 'activate_fails cfg_fails mac_address_updates no_rx_avail_buffer no_tx_avail_buffer event_fails rx_queue_event_count rx_event_rate_limiter_count rx_partial_writes rx_rate_limiter_throttled rx_tap_event_count rx_bytes_count rx_packets_count rx_fails rx_count tap_read_fails tap_write_fails tap_write_agg+agg tx_bytes_count tx_malformed_frames tx_fails tx_count tx_packets_count tx_partial_reads tx_queue_event_count tx_rate_limiter_event_count tx_rate_limiter_throttled tx_spoofed_mac_count tx_remaining_reqs_count'),
    ('patch_api_requests', 'drive_count drive_fails network_count network_fails machine_cfg_count machine_cfg_fails mmds_count mmds_fails'),
    ('put_api_requests', 'actions_count actions_fails boot_source_count boot_source_fails drive_count drive_fails logger_count logger_fails machine_cfg_count machine_cfg_fails cpu_cfg_count cpu_cfg_fails metrics_count metrics_fails network_count network_fails mmds_count mmds_fails vsock_count vsock_fails'),
    ('seccomp', 'num_faults'),
    ('vcpu', 'exit_io_in exit_io_out exit_mmio_read exit_mmio_write failures kvmclock_ctrl_fails exit_io_in_agg+agg exit_io_out_agg+agg exit_mmio_read_agg+agg exit_mmio_write_agg+agg'),
    ('vmm', 'device_events panic_count'),
    ('signals', 'sigbus sigsegv sigxfsz sigxcpu sigpipe sighup sigill'),
    ('vsock', 'activate_fails cfg_fails rx_queue_event_fails tx_queue_event_fails ev_queue_event_fails muxer_event_fails conn_event_fails rx_queue_event_count tx_queue_event_count rx_bytes_count tx_bytes_count rx_packets_count tx_packets_count conns_added conns_killed conns_removed killq_resync tx_flush_fails tx_write_fails rx_read_fails'),
    ('entropy', 'activate_fails entropy_event_fails entropy_event_count entropy_bytes host_rng_fails entropy_rate_limiter_throttled rate_limiter_event_count'),
]


def timestamp():
    t = time.time_ns()
    lt = time.localtime(t // 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", lt) + ".%09d" % (t % 1_000_000_000)


class Logger:
    """Firecracker's logger (LOGGER): target, level, show_level,
    show_log_origin, module."""

    def __init__(self, instance_id, write_stdout):
        self.instance_id = instance_id
        self.write_stdout = write_stdout
        self.fd = None
        self.level = LEVELS["Info"]
        self.show_level = False
        self.show_origin = False
        self.missed = 0

    def update(self, cfg):
        """Applies a LoggerConfig dict; raises OSError when the path does
        not open (read+write, O_NONBLOCK, never created)."""
        self.level = LEVELS[cfg.get("level") or "Info"]
        if cfg.get("log_path") is not None:
            fd = os.open(cfg["log_path"], os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            if self.fd is not None:
                os.close(self.fd)
            self.fd = fd
        if cfg.get("show_level") is not None:
            self.show_level = cfg["show_level"]
        if cfg.get("show_log_origin") is not None:
            self.show_origin = cfg["show_log_origin"]

    def log(self, level, thread, msg, origin="src/firecracker/src/main.rs:0"):
        if level > self.level:
            return
        tag = thread
        if self.show_level:
            tag += ":" + LEVEL_NAMES[level]
        if self.show_origin:
            tag += ":" + origin
        line = "%s [%s:%s] %s\n" % (timestamp(), self.instance_id, tag, msg)
        data = line.encode("utf-8", "replace")
        if self.fd is None:
            self.write_stdout(data)
            return
        try:
            os.write(self.fd, data)
        except OSError:
            self.missed += 1

    def error(self, thread, msg):
        self.log(1, thread, msg)

    def warn(self, thread, msg):
        self.log(2, thread, msg)

    def info(self, thread, msg):
        self.log(3, thread, msg)

    def debug(self, thread, msg):
        self.log(4, thread, msg)


class Metrics:
    """Firecracker's METRICS: initialised once (PUT /metrics or
    --metrics-path), written as JSON lines."""

    def __init__(self):
        self.fd = None
        self.counts = {}       # (section, name) -> value since the last write
        self.stored = {}       # (section, name) -> value kept across writes
        self.drives = []       # ids for "block_<id>"
        self.nets = {}         # id -> {"rx_bytes_count": .., "tx_bytes_count": ..}

    def init(self, path):
        """Returns None or the error text after "... bad user input: "."""
        if self.fd is not None:
            return "Reinitialization of metrics not allowed."
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            return "%s (os error %d)" % (os.strerror(e.errno), e.errno)
        return None

    def inc(self, section, name, n=1):
        self.counts[(section, name)] = self.counts.get((section, name), 0) + n

    def store(self, section, name, value):
        self.stored[(section, name)] = value

    def _section(self, section, names):
        out = {}
        for name in names.split():
            if name.endswith("+agg"):
                out[name[:-4]] = {"min_us": 0, "max_us": 0, "sum_us": 0}
            else:
                key = (section, name)
                out[name] = self.stored.get(key, self.counts.get(key, 0))
        return out

    def line(self):
        pairs = [("utc_timestamp_ms", time.time_ns() // 1_000_000)]
        for section, names in METRICS_LAYOUT:
            if section == "block":
                for d in sorted(self.drives):
                    pairs.append(("block_" + d, self._section("block_" + d, names)))
            if section == "net":
                for n in sorted(self.nets):
                    pairs.append(("net_" + n, self._section("net_" + n, names)))
            if section == "net":
                agg = self._section("net", names)
                for n in self.nets:
                    for k in ("rx_bytes_count", "tx_bytes_count"):
                        agg[k] += self.counts.get(("net_" + n, k), 0)
                pairs.append(("net", agg))
                continue
            pairs.append((section, self._section(section, names)))
        self.counts = {}
        return to_json_ordered(pairs) + "\n"

    def write(self):
        """Returns True when a line was written (False when not set up)."""
        if self.fd is None:
            return False
        try:
            os.write(self.fd, self.line().encode())
        except OSError:
            self.inc("logger", "missed_metrics_count")
        return True
