"""fcsim_http.py - part of the Firecracker simulator (a test double): the
HTTP/1.1 side of Firecracker's API socket, behaving as its micro_http
server does (firecracker-microvm/micro-http at the revision v1.10.1 uses):

  * requests: "METHOD URI VERSION" with METHOD one of GET, PUT, PATCH and
    VERSION HTTP/1.0 or HTTP/1.1; the body is read only when
    Content-Length > 0 (no Content-Length means no body, whatever
    follows); Transfer-Encoding is not decoded; "Expect: 100-continue"
    gets a 100 before the body; a body larger than the payload limit
    (--http-api-max-payload-size, 51200 by default) is refused;
  * a request that does not parse gets a 400 whose body is
    `{ "error": "<reason>\nAll previous unanswered requests will be
    dropped." }` (not valid JSON: the newline is raw); what was buffered
    is dropped and the parser stays where it failed (after a bad header
    line every later line is read as a header: the connection is of no
    more use); a request line or header line longer than micro_http's
    1024-byte buffer is refused;
  * responses: "HTTP/1.1 <code> " (no reason phrase), "Server: Firecracker
    API", "Connection: keep-alive", "Deprecation: true" when a deprecated
    field was used, and for every status but 204 and 100
    "Content-Type: application/json" and "Content-Length";
  * connections are kept alive until the client closes; at most 10 at once
    (the 11th gets a canned 503 and is closed).
"""

MAX_CONNECTIONS = 10
BUFFER_SIZE = 1024
SERVER_FULL = (b"HTTP/1.1 503\r\nServer: Firecracker API\r\nConnection: close\r\n"
               b"Content-Length: 40\r\n\r\n{ \"error\": \"Too many open connections\" }")
KNOWN_HEADERS = ("content-length", "content-type", "expect", "transfer-encoding", "server",
                 "accept", "accept-encoding")


class ParseError(Exception):
    """A micro_http RequestError; str() is its Display text."""


class Request:
    def __init__(self, method, uri, version):
        self.method, self.uri, self.version = method, uri, version
        self.content_length = 0
        self.expect = False
        self.body = None

    def abs_path(self):
        u = self.uri
        if u.startswith("http://"):
            rest = u[len("http://"):]
            i = rest.find("/")
            return "" if i < 0 else rest[i:]
        return u if u.startswith("/") else ""


def response_bytes(status, body=None, deprecation=False, version="HTTP/1.1"):
    out = ["%s %d \r\n" % (version, status), "Server: Firecracker API\r\n",
           "Connection: keep-alive\r\n"]
    if deprecation:
        out.append("Deprecation: true\r\n")
    data = b""
    if status not in (100, 204):
        data = (body or "").encode("utf-8")
        out.append("Content-Type: application/json\r\n")
        out.append("Content-Length: %d\r\n" % len(data))
    out.append("\r\n")
    return "".join(out).encode() + data


def parse_error_response(reason):
    body = '{ "error": "%s\nAll previous unanswered requests will be dropped." }' % reason
    return response_bytes(400, body)


def _parse_request_line(line):
    sp = line.find(b" ")
    if sp < 0:
        raise ParseError("Invalid request.")
    method, rest = line[:sp], line[sp + 1:]
    sp = rest.find(b" ")
    if sp < 0:
        raise ParseError("Invalid request.")
    uri, version = rest[:sp], rest[sp + 1:]
    if method not in (b"GET", b"PUT", b"PATCH"):
        raise ParseError("Invalid HTTP Method: Unsupported HTTP method.")
    if not uri:
        raise ParseError("Invalid URI: Empty URI not allowed.")
    try:
        uri = uri.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("Invalid URI: Cannot parse URI as UTF-8.")
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        raise ParseError("Invalid HTTP Version: Unsupported HTTP version.")
    return Request(method.decode(), uri, version.decode())


def _parse_header(req, line):
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParseError("Invalid header. Reason: Header contains invalid characters. Key: %s"
                         % e)
    if ":" not in text:
        raise ParseError("Invalid header. Reason: Header is incorrectly formatted. Key: %s" % text)
    key, value = text.split(":", 1)
    name = key.lower().strip()
    if name == "content-length":
        v = value.strip()
        if not v.isdigit() or not v.isascii() or int(v) > 0xFFFFFFFF:
            raise ParseError("Invalid header. Reason: Invalid value. Key:%s; Value:%s"
                             % (key, value))
        req.content_length = int(v)
    elif name == "expect":
        if value.strip() == "100-continue":
            req.expect = True
    elif name == "accept-encoding":
        v = value.strip()
        if not v:
            raise ParseError("Invalid request.")
        for enc in v.split(","):
            e = enc.strip()
            if e == "identity;q=0" or (e == "*;q=0" and "identity" not in v):
                raise ParseError("Invalid header. Reason: Invalid value. Key:Accept-Encoding; "
                                 "Value:%s" % enc)
    # content-type, accept, transfer-encoding, server and unknown headers:
    # accepted (an unsupported value is ignored, as micro_http does).


class Connection:
    """One client connection's parser state and output queue."""

    def __init__(self, sock, payload_limit):
        self.sock = sock
        self.limit = payload_limit
        self.buf = bytearray()
        self.state = "line"  # "headers", "body"
        self.req = None
        self.out = bytearray()
        self.closed = False

    def feed(self, data):
        """Appends received bytes; returns (requests, parse_error_reason).
        Requests parsed before an error in the same read are dropped, as
        micro_http drops them."""
        self.buf += data
        reqs = []
        try:
            while True:
                if self.state == "line":
                    i = self.buf.find(b"\r\n")
                    if (i < 0 and len(self.buf) >= BUFFER_SIZE) or i + 2 > BUFFER_SIZE:
                        raise ParseError("Invalid request.")
                    if i < 0:
                        break
                    line = bytes(self.buf[:i])
                    del self.buf[:i + 2]
                    self.req = _parse_request_line(line)
                    self.state = "headers"
                elif self.state == "headers":
                    i = self.buf.find(b"\r\n")
                    if (i < 0 and len(self.buf) >= BUFFER_SIZE) or i + 2 > BUFFER_SIZE:
                        text = bytes(self.buf[:BUFFER_SIZE]).decode("utf-8", "replace")
                        raise ParseError("Invalid header. Reason: Invalid content length. "
                                         "Header: %s" % text)
                    if i < 0:
                        break
                    line = bytes(self.buf[:i])
                    del self.buf[:i + 2]
                    if line == b"":
                        if self.req.content_length == 0:
                            reqs.append(self.req)
                            self.req, self.state = None, "line"
                        else:
                            if self.req.content_length > self.limit:
                                raise ParseError(
                                    "Request payload with size %d is larger than the limit of %d "
                                    "allowed by server." % (self.req.content_length, self.limit))
                            if self.req.expect:
                                self.out += response_bytes(100, version=self.req.version)
                            self.state = "body"
                    else:
                        _parse_header(self.req, line)
                else:
                    n = self.req.content_length
                    if len(self.buf) < n:
                        break
                    self.req.body = bytes(self.buf[:n])
                    del self.buf[:n]
                    reqs.append(self.req)
                    self.req, self.state = None, "line"
        except ParseError as e:
            # What was buffered is dropped; the parser stays where it failed
            # (after a bad header line it goes on reading header lines, so
            # the connection is of no more use), as micro_http's does.
            self.buf.clear()
            return [], str(e)
        return reqs, None
