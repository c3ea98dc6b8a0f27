"""fcsim_net.py - part of the Firecracker simulator (a test double): the
host side of its network interfaces (the TAP devices, opened at PUT
/network-interfaces as Firecracker opens them) and a stand-in for the
guest's network stack behind them, answering as the project's Linux test
guest does (tests/guest/README.md, "Network responder"):

  ARP      requests for the guest's address answered; the sender learned
  ICMP     echo requests answered
  UDP 7    echo: the datagram back to its sender
  UDP 9    control: "send A.B.C.D PORT TEXT" sends TEXT from port 9 to
           A.B.C.D:PORT (via the gateway when off-link, its MAC resolved
           by ARP first), then answers "sent" or "error <why>"
  UDP *    other ports: ICMP port unreachable, as Linux answers

The guest's address comes from the kernel's `ip=` argument on the command
line (client address, gateway and netmask; for the interface its device
field names, eth0 = the first interface); without one (or with a DHCP
mode) the guest has no address and answers nothing. Its MAC is the
interface's guest_mac, or, as Linux's virtio-net driver does when
Firecracker offers none, a random locally administered one chosen at boot.
Frames are read and written only while the guest runs; a snapshot keeps
each interface's MAC and address, so a restored guest (another process,
another TAP, maybe another namespace) answers as the template did.
Standard library only."""

import errno
import fcntl
import os
import random
import struct
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
ECHO_PORT = 7
CONTROL_PORT = 9
USAGE = "error usage: send A.B.C.D PORT TEXT"
ARP_RETRIES = 3          # Linux: mcast_solicit
ARP_RETRY_S = 1.0        # Linux: retrans_time
ARP_QUEUE_MAX = 100      # frames held per address while it resolves
NO_ADDRESS_MODES = ("dhcp", "bootp", "rarp", "both", "any", "on")


class TapError(Exception):
    """Opening a TAP failed; str() is Firecracker's TapError text."""


def open_tap(name):
    """A non-blocking fd attached to TAP `name` in the process's network
    namespace (created by the kernel if it does not exist and the process
    may), as Firecracker's Tap::open_named does. Raises TapError."""
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise TapError("Couldn't open /dev/net/tun: " + os_error_text(e)) from None
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError as e:
        os.close(fd)
        raise TapError("Error while creating ifreq structure: %s. Invalid TUN/TAP Backend "
                       "provided by %s. Check our documentation on setting up the network "
                       "devices." % (os_error_text(e), name)) from None
    return fd


def os_error_text(e):
    return "%s (os error %d)" % (os.strerror(e.errno), e.errno)


def mac_text(mac):
    return ":".join("%02x" % b for b in mac)


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def ip_bytes(text):
    """4 bytes for a dotted quad, or None."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return None
    return bytes(int(p) for p in parts)


def ip_text(b):
    return ".".join(str(x) for x in b)


def classful_mask(addr):
    if addr[0] < 128:
        return b"\xff\0\0\0"
    if addr[0] < 192:
        return b"\xff\xff\0\0"
    return b"\xff\xff\xff\0"


def ip_config(cmdline, iface_index):
    """{"ip", "mask", "gw"} (dotted quads, gw maybe None) for the guest's
    interface number iface_index from the command line's ip= argument
    (Linux's format: client:server:gw:netmask:hostname:device:autoconf...),
    or None when the interface gets no static address."""
    from fcsim_guest import boot_arg
    value = boot_arg(cmdline, "ip")
    if value is None or value in ("off", "none") or value in NO_ADDRESS_MODES:
        return None
    fields = value.split(":") + [""] * 7
    client, gw, mask, device, mode = fields[0], fields[2], fields[3], fields[5], fields[6]
    if mode and mode not in ("off", "none", "static"):
        return None
    if device and device != "eth%d" % iface_index:
        return None
    if not device and iface_index != 0:
        return None
    addr = ip_bytes(client)
    if addr is None:
        return None
    mask_b = ip_bytes(mask) if mask else classful_mask(addr)
    gw_b = ip_bytes(gw) if gw else None
    if mask_b is None:
        mask_b = classful_mask(addr)
    return {"ip": ip_text(addr), "mask": ip_text(mask_b), "gw": ip_text(gw_b) if gw_b else None}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def random_guest_mac():
    """What Linux's eth_random_addr gives: unicast, locally administered."""
    b = bytearray(random.getrandbits(8) for _ in range(6))
    b[0] = (b[0] & 0xFE) | 0x02
    return mac_text(b)


class Interface:
    """One interface: its TAP fd (the host side) and the guest's view of it
    (MAC, address, ARP cache)."""

    def __init__(self, iface_id, fd, guest):
        self.iface_id = iface_id
        self.fd = fd
        self.mac = mac_bytes(guest["mac"])
        self.ip = ip_bytes(guest["ip"]) if guest.get("ip") else None
        self.mask = ip_bytes(guest["mask"]) if guest.get("mask") else None
        self.gw = ip_bytes(guest["gw"]) if guest.get("gw") else None
        self.arp = {}        # ip bytes -> mac bytes
        self.pending = {}    # ip bytes -> {"frames": [ip packets], "tries": n, "next": t}
        self.ip_id = 0

    def saved(self):
        return {"mac": mac_text(self.mac), "ip": ip_text(self.ip) if self.ip else None,
                "mask": ip_text(self.mask) if self.mask else None,
                "gw": ip_text(self.gw) if self.gw else None}

    # ------------------------------------------------------------ frames in
    def on_frame(self, frame, now):
        if len(frame) < 14 or self.ip is None:
            return
        dst, kind = frame[:6], struct.unpack("!H", frame[12:14])[0]
        if dst != self.mac and dst != BROADCAST:
            return
        if kind == ETH_P_ARP:
            self._on_arp(frame[14:], now)
        elif kind == ETH_P_IP and dst == self.mac:
            self._on_ip(frame[14:], now)

    def _on_arp(self, p, now):
        if len(p) < 28:
            return
        htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", p[:8])
        if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4:
            return
        sha, spa, tpa = p[8:14], p[14:18], p[24:28]
        if op == 1 and tpa == self.ip:
            self._learn(spa, sha, now)
            reply = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 2) + self.mac + self.ip + sha + spa
            self._send_frame(sha, ETH_P_ARP, reply)
        elif op == 2 and (spa in self.arp or spa in self.pending):
            self._learn(spa, sha, now)

    def _learn(self, ip, mac, now):
        self.arp[ip] = mac
        waiting = self.pending.pop(ip, None)
        for packet in (waiting or {}).get("frames", []):
            self._send_frame(mac, ETH_P_IP, packet)

    def _on_ip(self, p, now):
        if len(p) < 20 or p[0] >> 4 != 4:
            return
        ihl = (p[0] & 0x0F) * 4
        total = struct.unpack("!H", p[2:4])[0]
        if ihl < 20 or total < ihl or total > len(p) or p[16:20] != self.ip:
            return
        if struct.unpack("!H", p[6:8])[0] & 0x3FFF:
            return  # fragments: the stand-in does not reassemble
        proto, src, body = p[9], p[12:16], p[ihl:total]
        if proto == 1 and len(body) >= 8 and body[0] == 8:
            reply = b"\0\0\0\0" + body[4:]
            reply = reply[:2] + struct.pack("!H", checksum(reply)) + reply[4:]
            self.send_ip(src, 1, reply, now)
        elif proto == 17 and len(body) >= 8:
            sport, dport, length = struct.unpack("!HHH", body[:6])
            if length < 8 or length > len(body):
                return
            data = body[8:length]
            if dport == ECHO_PORT:
                self.send_udp(src, ECHO_PORT, sport, data, now)
            elif dport == CONTROL_PORT:
                self._control(src, sport, data, now)
            else:  # port unreachable, quoting the datagram's header and 8 bytes
                quoted = p[:ihl + 8]
                icmp = struct.pack("!BBHI", 3, 3, 0, 0) + quoted
                icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
                self.send_ip(src, 1, icmp, now)

    def _control(self, src, sport, data, now):
        text = data.decode("latin-1")
        answer = "sent"
        parts = text.split(" ", 3)
        if not text.startswith("send ") or len(parts) < 4:
            answer = USAGE
        elif ip_bytes(parts[1]) is None:
            answer = "error bad address"
        elif not (parts[2].isdigit() and 1 <= int(parts[2]) <= 65535):
            answer = "error bad port"
        else:
            err = self.send_udp(ip_bytes(parts[1]), CONTROL_PORT, int(parts[2]),
                                parts[3].encode("latin-1"), now)
            if err:
                answer = "error " + os.strerror(err)
        self.send_udp(src, CONTROL_PORT, sport, answer.encode(), now)

    # ------------------------------------------------------------ frames out
    def send_udp(self, dst, sport, dport, data, now):
        length = 8 + len(data)
        pseudo = self.ip + dst + struct.pack("!BBH", 0, 17, length)
        header = struct.pack("!HHHH", sport, dport, length, 0)
        csum = checksum(pseudo + header + data) or 0xFFFF
        return self.send_ip(dst, 17, header[:6] + struct.pack("!H", csum) + data, now)

    def send_ip(self, dst, proto, body, now):
        """Routes and sends one IP packet; returns 0 or an errno (no route)."""
        on_link = all((a & m) == (b & m) for a, b, m in zip(dst, self.ip, self.mask))
        if dst == b"\xff\xff\xff\xff" or dst[0] >= 224:
            return errno.ENETUNREACH  # the responder sends no broadcast or multicast
        hop = dst if on_link else self.gw
        if hop is None:
            return errno.ENETUNREACH
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), self.ip_id, 0x4000, 64,
                             proto, 0, self.ip, dst)
        packet = header[:10] + struct.pack("!H", checksum(header)) + header[12:] + body
        mac = self.arp.get(hop)
        if mac is not None:
            self._send_frame(mac, ETH_P_IP, packet)
            return 0
        waiting = self.pending.get(hop)
        if waiting is None:
            waiting = self.pending[hop] = {"frames": [], "tries": 0, "next": now}
        if len(waiting["frames"]) < ARP_QUEUE_MAX:
            waiting["frames"].append(packet)
        self.on_time(now)
        return 0

    def _send_frame(self, dst_mac, kind, payload):
        frame = dst_mac + self.mac + struct.pack("!H", kind) + payload
        if len(frame) < 60:
            frame += b"\0" * (60 - len(frame))
        try:
            os.write(self.fd, frame)
        except OSError:
            pass  # a TAP that is down or full drops the frame, as a link would

    # ------------------------------------------------------------ ARP timers
    def on_time(self, now):
        for ip, waiting in list(self.pending.items()):
            if now < waiting["next"]:
                continue
            if waiting["tries"] >= ARP_RETRIES:
                del self.pending[ip]  # unresolved: its packets are dropped
                continue
            waiting["tries"] += 1
            waiting["next"] = now + ARP_RETRY_S
            request = (struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + self.mac + self.ip
                       + b"\0" * 6 + ip)
            self._send_frame(BROADCAST, ETH_P_ARP, request)

    def next_deadline(self):
        return min((w["next"] for w in self.pending.values()), default=None)


class Network:
    """The simulator's network interfaces: TAP fds by interface id, and the
    guest stand-in, which reads and writes them while the guest runs."""

    def __init__(self, sim):
        self.sim = sim
        self.taps = {}          # iface_id -> fd
        self.guest = {}         # iface_id -> {"mac", "ip", "mask", "gw"} once booted
        self.interfaces = {}    # iface_id -> Interface, while running
        self.running = False
        self.paused_at = None

    def open(self, iface_id, name):
        """Opens the TAP for an interface (closing the one it replaces
        first, as Firecracker drops the old device before building the new
        one). Raises TapError."""
        self.close(iface_id)
        self.taps[iface_id] = open_tap(name)

    def close(self, iface_id):
        fd = self.taps.pop(iface_id, None)
        if fd is not None:
            os.close(fd)

    def boot(self, cmdline, nets):
        """The guest booted: each interface gets its MAC and the address
        ip= gives it."""
        for index, n in enumerate(nets):
            cfg = ip_config(cmdline, index) or {}
            self.guest[n["iface_id"]] = dict(cfg, mac=n["guest_mac"] or random_guest_mac())
        self.resume()

    def saved(self):
        """What a snapshot keeps: the guest's MAC and address per interface."""
        return {k: dict(v) for k, v in self.guest.items()}

    def load(self, saved, nets):
        """A restored guest: reopens the TAPs by the names the snapshot
        recorded (in this process's namespace); returns an error text or
        None."""
        for n in nets:
            try:
                self.open(n["iface_id"], n["host_dev_name"])
            except TapError as e:
                return "Open tap device failed: %s" % e
        self.guest = {k: dict(v) for k, v in (saved or {}).items()}
        return None

    def resume(self):
        if self.running:
            return
        self.running = True
        for iface_id, fd in self.taps.items():
            if iface_id not in self.guest:
                continue
            itf = self.interfaces.get(iface_id)
            if itf is None or itf.fd != fd:
                itf = self.interfaces[iface_id] = Interface(iface_id, fd, self.guest[iface_id])
            self.sim.watch_tap(fd, itf)
        if self.paused_at is not None:
            shift = time.monotonic() - self.paused_at
            for itf in self.interfaces.values():
                for waiting in itf.pending.values():
                    waiting["next"] += shift  # ARP timers stand still while paused
            self.paused_at = None

    def pause(self):
        if not self.running:
            return
        self.running = False
        self.paused_at = time.monotonic()
        for itf in self.interfaces.values():
            self.sim.unwatch_tap(itf.fd)

    def on_readable(self, itf):
        """Frames waiting on a TAP: each one handled (a burst at most, so
        the API stays served)."""
        now = time.monotonic()
        for _ in range(64):
            try:
                frame = os.read(itf.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not frame:
                return
            itf.on_frame(frame, now)

    def on_time(self, now):
        if self.running:
            for itf in self.interfaces.values():
                itf.on_time(now)

    def next_deadline(self):
        if not self.running:
            return None
        return min((d for d in (itf.next_deadline() for itf in self.interfaces.values())
                    if d is not None), default=None)
