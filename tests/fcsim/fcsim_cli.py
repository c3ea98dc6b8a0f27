"""fcsim_cli.py - part of the Firecracker simulator (a test double): the
command line of Firecracker v1.10.1 (its utils::arg_parser rules and
messages, exit codes 153 for a bad argument, 152 for a bad --level), the
startup options (logger, metrics) and signals (SIGTERM/SIGINT kill the
process with no cleanup, the API socket file stays; SIGHUP, SIGPIPE, ...
end it with Firecracker's exit codes), and --config-file / --no-api."""

import json
import os
import signal
import sys
import time

VERSION_DEFAULT = "1.10.1"
DEFAULT_API_SOCK = "/run/firecracker.socket"
DEFAULT_ID = "anonymous-instance"
EXIT_ARG_PARSING = 153
EXIT_BAD_CONFIGURATION = 152

# name -> takes a value (the arguments of v1.10.1, in its table order)
ARGS = [
    ("api-sock", True), ("id", True), ("seccomp-filter", True), ("no-seccomp", False),
    ("start-time-us", True), ("start-time-cpu-us", True), ("parent-cpu-time-us", True),
    ("config-file", True), ("metadata", True), ("no-api", False), ("log-path", True),
    ("level", True), ("module", True), ("show-level", False), ("show-log-origin", False),
    ("metrics-path", True), ("boot-timer", False), ("version", False),
    ("snapshot-version", False), ("describe-snapshot", True),
    ("http-api-max-payload-size", True), ("mmds-size-limit", True),
]
REQUIRES = {"no-api": "config-file"}
FORBIDS = {"seccomp-filter": ["no-seccomp"], "no-seccomp": ["seccomp-filter"]}

HELP = [
    ("api-sock", "<api-sock>", 'Path to unix domain socket used by the API. [default: "/run/firecracker.socket"]'),
    ("boot-timer", "", "Whether or not to load boot timer device for logging elapsed time since InstanceStart command."),
    ("config-file", "<config-file>", "Path to a file that contains the microVM configuration in JSON format."),
    ("describe-snapshot", "<describe-snapshot>", "Print the data format version of the provided snapshot state file."),
    ("help", "", "Show the help message."),
    ("http-api-max-payload-size", "<http-api-max-payload-size>", 'Http API request payload max size, in bytes. [default: "51200"]'),
    ("id", "<id>", 'MicroVM unique identifier. [default: "anonymous-instance"]'),
    ("level", "<level>", "Set the logger level."),
    ("log-path", "<log-path>", "Path to a fifo or a file used for configuring the logger on startup."),
    ("metadata", "<metadata>", "Path to a file that contains metadata in JSON format to add to the mmds."),
    ("metrics-path", "<metrics-path>", "Path to a fifo or a file used for configuring the metrics on startup."),
    ("mmds-size-limit", "<mmds-size-limit>", "Mmds data store limit, in bytes."),
    ("module", "<module>", "Set the logger module filter."),
    ("no-api", "", "Optional parameter which allows starting and using a microVM without an active API socket."),
    ("no-seccomp", "", "Optional parameter which allows starting and using a microVM without seccomp filtering. Not recommended."),
    ("parent-cpu-time-us", "<parent-cpu-time-us>", "Parent process CPU time (wall clock, microseconds). This parameter is optional."),
    ("seccomp-filter", "<seccomp-filter>", "Optional parameter which allows specifying the path to a custom seccomp filter. For advanced users."),
    ("show-level", "", "Whether or not to output the level in the logs."),
    ("show-log-origin", "", "Whether or not to include the file path and line number of the log's origin."),
    ("snapshot-version", "", "Print the supported data format version."),
    ("start-time-cpu-us", "<start-time-cpu-us>", "Process start CPU time (wall clock, microseconds). This parameter is optional."),
    ("start-time-us", "<start-time-us>", "Process start time (wall clock, microseconds). This parameter is optional."),
    ("version", "", "Print the binary version number."),
]


def _version():
    return os.environ.get("FCSIM_FIRECRACKER_VERSION") or VERSION_DEFAULT


def _log_line(instance_id, msg):
    from fcsim_output import timestamp
    return "%s [%s:main] %s\n" % (timestamp(), instance_id, msg)


def _fail(msg, debug, code):
    """Firecracker's main() error path: the error logged on stdout, its
    Debug form on stderr, the exit line, the exit code."""
    sys.stdout.write(_log_line(DEFAULT_ID, msg))
    sys.stdout.write(_log_line(DEFAULT_ID, "Firecracker exiting with error. exit_code=%d" % code))
    sys.stdout.flush()
    sys.stderr.write("Error: %s\n" % debug)
    sys.stderr.flush()
    os._exit(code)


def _arg_error(display, debug):
    _fail("Arguments parsing error: %s \\n\\nFor more information try --help." % display,
          "ParseArguments(%s)" % debug, EXIT_ARG_PARSING)


def _panic(instance_id, where, msg):
    sys.stdout.write(_log_line(instance_id, "Firecracker panicked at %s:\n%s" % (where, msg)))
    sys.stdout.flush()
    signal.signal(signal.SIGABRT, signal.SIG_DFL)
    os.abort()


def _exit_ok():
    sys.stdout.write(_log_line(DEFAULT_ID, "Firecracker exiting successfully. exit_code=0"))
    sys.stdout.flush()
    os._exit(0)


def parse(argv):
    """Returns the options dict, or ends the process as Firecracker does."""
    args = list(argv[1:])
    if "--" in args:
        args = args[:args.index("--")]
    if "--help" in args or "-h" in args:
        sys.stdout.write("Firecracker v%s\n\n" % _version())
        sys.stdout.write("optional arguments:\n")
        width = max(len("--%s %s" % (n, v)) for n, v, _ in HELP)
        for name, val, text in HELP:
            flag = ("--%s %s" % (name, val)).strip() if val else "--" + name
            sys.stdout.write("  %s%s\n" % (flag.ljust(width + 2), text))
        sys.stdout.write("\n")
        _exit_ok()
    if "--version" in args:
        sys.stdout.write("Firecracker v%s\n\n" % _version())
        _exit_ok()
    table = dict(ARGS)
    given = {}
    it = iter(args)
    for a in it:
        if not a.startswith("--"):
            _arg_error("Found argument '%s' which wasn't expected, or isn't valid in this "
                       "context." % a, 'UnexpectedArgument("%s")' % a)
        name = a[2:]
        if name not in table:
            _arg_error("Found argument '%s' which wasn't expected, or isn't valid in this "
                       "context." % name, 'UnexpectedArgument("%s")' % name)
        if name in given:
            _arg_error("The argument '%s' was provided more than once." % name,
                       'DuplicateArgument("%s")' % name)
        if table[name]:
            v = next(it, None)
            if v is None or v.startswith("--"):
                _arg_error("The argument '%s' requires a value, but none was supplied." % name,
                           'MissingValue("%s")' % name)
            given[name] = v
        else:
            given[name] = True
    for name in sorted(given):
        if name in REQUIRES and "--" + REQUIRES[name] not in args:
            _arg_error("Argument '%s' required, but not found." % REQUIRES[name],
                       'MissingArgument("%s")' % REQUIRES[name])
        for other in FORBIDS.get(name, []):
            if "--" + other in args:
                _arg_error("Argument '%s' cannot be used together with argument '%s'."
                           % (other, name), 'ForbiddenArgument("%s", "%s")' % (name, other))
    if given.get("snapshot-version"):
        sys.stdout.write("v4.0.0\n")
        _exit_ok()
    if "describe-snapshot" in given:
        import fcsim_snapshot
        text, err = fcsim_snapshot.describe(given["describe-snapshot"])
        if err:
            _fail("When printing Snapshot Data format: " + err,
                  "PrintSnapshotDataFormat(%r)" % err, 1)
        sys.stdout.write(text + "\n")
        _exit_ok()
    opts = {name: given.get(name, None if takes else False) for name, takes in ARGS}
    opts["api-sock"] = given.get("api-sock", DEFAULT_API_SOCK)
    opts["id"] = given.get("id", DEFAULT_ID)
    iid = opts["id"]
    if not 1 <= len(iid) <= 64:
        _panic(DEFAULT_ID, "src/firecracker/src/main.rs:314:46",
               "Invalid instance ID: InvalidLen(%d, 1, 64)" % len(iid))
    for i, c in enumerate(iid):
        if not (c == "-" or c.isalnum()):
            _panic(DEFAULT_ID, "src/firecracker/src/main.rs:314:46",
                   "Invalid instance ID: InvalidChar(%r, %d)" % (c, i))
    if opts["level"] is not None:
        from fcsim_schema import LOG_LEVELS
        if opts["level"].lower() not in LOG_LEVELS:
            sys.stdout.write(_log_line(iid, "Invalid value for logger level: Failed to parse "
                                       "string to level filter: %s.Possible values: [Error, "
                                       "Warning, Info, Debug]" % opts["level"]))
            sys.stdout.write(_log_line(iid, "Firecracker exiting with error. exit_code=%d"
                                       % EXIT_BAD_CONFIGURATION))
            sys.stdout.flush()
            sys.stderr.write('Error: InvalidLogLevel(LevelFilterFromStrError("%s"))\n'
                             % opts["level"])
            sys.stderr.flush()
            os._exit(EXIT_BAD_CONFIGURATION)
    for name, kind, line in (("http-api-max-payload-size", "usize", 373),
                             ("mmds-size-limit", "usize", 385),
                             ("start-time-us", "u64", 397), ("start-time-cpu-us", "u64", 401),
                             ("parent-cpu-time-us", "u64", 405)):
        v = given.get(name)
        if v is None:
            continue
        if not (v.isdigit() and v.isascii()) or int(v) >= 2 ** 64:
            sys.stdout.write(_log_line(iid, "Running Firecracker v%s" % _version()))
            _panic(iid, "src/firecracker/src/main.rs:%d:18" % line,
                   "'%s' parameter expected to be of '%s' type.: ParseIntError { kind: "
                   "InvalidDigit }" % (name, kind))
        opts[name] = int(v)
    if opts["http-api-max-payload-size"] is None:
        opts["http-api-max-payload-size"] = 51200
    if opts["mmds-size-limit"] is None:
        opts["mmds-size-limit"] = opts["http-api-max-payload-size"]
    return opts


ERROR_KINDS = {
    "ENOENT": "NotFound", "EACCES": "PermissionDenied", "EPERM": "PermissionDenied",
    "EADDRINUSE": "AddrInUse", "EADDRNOTAVAIL": "AddrNotAvailable",
    "ECONNREFUSED": "ConnectionRefused", "EEXIST": "AlreadyExists",
    "ENOTDIR": "NotADirectory", "EISDIR": "IsADirectory", "EINVAL": "InvalidInput",
    "ENAMETOOLONG": "InvalidFilename", "EROFS": "ReadOnlyFilesystem", "ENOSPC": "StorageFull",
    "EBUSY": "ResourceBusy", "ELOOP": "FilesystemLoop", "ENXIO": "Uncategorized",
}


def rust_os_debug(e):
    """Rust's `{:?}` of an io::Error from the OS."""
    import errno as _errno
    from fcsim_serde import rust_debug_str
    kind = ERROR_KINDS.get(_errno.errorcode.get(e.errno, ""), "Uncategorized")
    return "Os { code: %d, kind: %s, message: %s }" % (e.errno, kind,
                                                      rust_debug_str(os.strerror(e.errno)))


def os_text(e):
    return "%s (os error %d)" % (os.strerror(e.errno), e.errno)


def signal_of(value):
    """"SIGKILL" / "KILL" / 9 -> signal number, None -> None."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    name = str(value).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    return int(getattr(signal, name))


# signal -> Firecracker exit code (its handlers log and exit with these)
SIGNAL_EXIT = {signal.SIGBUS: 149, signal.SIGSEGV: 150, signal.SIGXFSZ: 151,
               signal.SIGXCPU: 154, signal.SIGPIPE: 155, signal.SIGHUP: 156, signal.SIGILL: 157,
               signal.SIGSYS: 148}


def install_signal_handlers(sim):
    def handler(signum, _frame):
        sim.logger.error("main", "Shutting down VM after intercepting signal %d, code 0."
                         % signum)
        os._exit(SIGNAL_EXIT[signum])
    for s in SIGNAL_EXIT:
        signal.signal(s, handler)


def apply_startup_options(sim, opts):
    """--log-path/--level/..., the 'Running' line, --metrics-path,
    --metadata. Returns None or (error text, its Rust Debug form): the
    process then exits with 1."""
    cfg = {"log_path": opts["log-path"], "level": None,
           "show_level": True if opts["show-level"] else None,
           "show_log_origin": True if opts["show-log-origin"] else None}
    if opts["level"] is not None:
        from fcsim_schema import LOG_LEVELS
        cfg["level"] = LOG_LEVELS[opts["level"].lower()]
    try:
        sim.logger.update(cfg)
    except OSError as e:
        return ("Could not initialize logger: Failed to open target file: " + os_text(e),
                "LoggerInitialization(LoggerUpdateError(%s))" % rust_os_debug(e))
    sim.logger.info("main", "Running Firecracker v%s" % sim.version)
    if opts["metrics-path"] is not None:
        err = sim.metrics.init(opts["metrics-path"])
        if err:
            from fcsim_serde import rust_debug_str
            return ("Could not initialize metrics: Cannot initialize the metrics system due to "
                    "bad user input: " + err,
                    "MetricsInitialization(InitializationFailure(%s))" % rust_debug_str(err))
    if opts["seccomp-filter"] is not None and not os.path.exists(opts["seccomp-filter"]):
        e = OSError(2, "")
        return ("Seccomp error: Filter file open error: " + os_text(e),
                "SeccompFilter(FileOpen(%s))" % rust_os_debug(e))
    if opts["metadata"] is not None:
        try:
            with open(opts["metadata"], "rb") as f:
                data = f.read()
        except OSError:
            _panic(sim.instance_id, "src/firecracker/src/main.rs:353:28",
                   "Unable to open or read from the mmds content file")
        status = sim.vmm.handle("PUT", "/mmds", data).status
        if status != 204:
            _panic(sim.instance_id, "src/vmm/src/rpc_interface.rs:351:46",
                   "MMDS error: metadata provided not valid json")
    return None


CONFIG_ORDER = [
    ("logger", "PUT", "/logger"), ("metrics", "PUT", "/metrics"),
    ("machine-config", "PUT", "/machine-config"), ("boot-source", "PUT", "/boot-source"),
]


def run_config_file(sim, opts):
    """--config-file: configures from the JSON file (the sections of GET
    /vm/config) and starts the guest, as Firecracker does; a bad file ends
    the process with status 1."""
    path = opts["config-file"]
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        _panic(sim.instance_id, "src/firecracker/src/main.rs:343:29",
               "Unable to open or read from the configuration file")
    calls = []
    for key, method, url in CONFIG_ORDER:
        if cfg.get(key) is not None:
            calls.append((method, url, cfg[key]))
    for d in cfg.get("drives") or []:
        calls.append(("PUT", "/drives/%s" % d.get("drive_id"), d))
    for n in cfg.get("network-interfaces") or []:
        calls.append(("PUT", "/network-interfaces/%s" % n.get("iface_id"), n))
    for key, url in (("vsock", "/vsock"), ("balloon", "/balloon"),
                     ("mmds-config", "/mmds/config"), ("entropy", "/entropy")):
        if cfg.get(key) is not None:
            calls.append(("PUT", url, cfg[key]))
    calls.append(("PUT", "/actions", {"action_type": "InstanceStart"}))
    for method, url, body in calls:
        reply = sim.vmm.handle(method, url, json.dumps(body).encode())
        if reply.status >= 300:
            msg = json.loads(reply.body).get("fault_message", reply.body)
            sim.logger.error("main", "Building VMM configured from cmdline json failed: %s" % msg)
            sim.exit(1)
    sim.on_started()
    _unused = time
