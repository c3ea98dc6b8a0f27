"""fcsim_serde.py - part of the Firecracker simulator (a test double): decodes
request bodies the way Firecracker v1.10.1 does (serde_json with serde's
derive), so that a bad body gets the same `fault_message` text, including
serde_json's "at line L column C" position, as the real binary.

What is imitated (facts of serde_json 1.0 / serde 1.0, checked against the
real binary by tests/fcsim/fcsim_conformance_test.py):
  * positions count bytes consumed on the current line; "peek" errors point
    one byte further (at the offending byte);
  * errors raised by a visitor inside a primitive (integer range, unknown
    enum variant, bad IPv4 text) are placed right after the value; errors
    raised after a whole struct was read (missing field, unknown field,
    custom checks such as the logger level) are placed where the struct
    reader stopped, after it tried to consume the closing brace;
  * struct fields: required, optional (`Option<T>`: absent or null is
    None), defaulted (`#[serde(default)]`); `deny_unknown_fields` or not;
  * the texts of serde's `Unexpected` / `Expected` values.

Types are described by small objects (U, Bool, Str, Opt, Vec, Enum, Struct,
Value, Custom) whose `de(reader)` returns a Python value.
"""

RECURSION_LIMIT = 128


class SerdeError(Exception):
    """A serde_json error; `pos` is (line, column) or None until placed."""

    def __init__(self, msg, pos=None):
        super().__init__(msg)
        self.msg = msg
        self.pos = pos

    def __str__(self):
        if self.pos is None:
            return self.msg
        return "%s at line %d column %d" % (self.msg, self.pos[0], self.pos[1])


# serde_json ErrorCode texts
EOF_LIST = "EOF while parsing a list"
EOF_OBJECT = "EOF while parsing an object"
EOF_STRING = "EOF while parsing a string"
EOF_VALUE = "EOF while parsing a value"
EXPECTED_COLON = "expected `:`"
EXPECTED_LIST_COMMA_OR_END = "expected `,` or `]`"
EXPECTED_OBJECT_COMMA_OR_END = "expected `,` or `}`"
EXPECTED_IDENT = "expected ident"
EXPECTED_VALUE = "expected value"
INVALID_ESCAPE = "invalid escape"
INVALID_NUMBER = "invalid number"
NUMBER_OUT_OF_RANGE = "number out of range"
INVALID_UNICODE = "invalid unicode code point"
CONTROL_CHAR = "control character (\\u0000-\\u001F) found while parsing a string"
KEY_MUST_BE_STRING = "key must be a string"
LONE_SURROGATE = "lone leading surrogate in hex escape"
TRAILING_COMMA = "trailing comma"
TRAILING_CHARACTERS = "trailing characters"
UNEXPECTED_END_OF_HEX = "unexpected end of hex escape"
RECURSION = "recursion limit exceeded"


def rust_float(f):
    """Formats an f64 the way Rust's Display does (no exponent, '.0' kept by
    serde's Unexpected::Float)."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "inf" if f > 0 else "-inf"
    from decimal import Decimal
    s = format(Decimal(repr(f)), "f")
    if "." not in s:
        s += ".0"
    return s


def ryu_float(f):
    """Formats an f64 the way serde_json writes it (ryu's shortest form)."""
    r = repr(float(f))
    if r in ("inf", "-inf", "nan"):
        return "null"
    sign = ""
    if r.startswith("-"):
        sign, r = "-", r[1:]
    if "e" in r:
        mant, exp = r.split("e")
        exp = int(exp)
    else:
        mant, exp = r, 0
    if "." in mant:
        ip, fp = mant.split(".")
    else:
        ip, fp = mant, ""
    digits = (ip + fp).lstrip("0")
    # decimal exponent: value = 0.digits * 10^kk
    if not digits:
        return sign + "0.0"
    lead_zeros = len(ip + fp) - len((ip + fp).lstrip("0"))
    kk = len(ip) - lead_zeros + exp
    digits = digits.rstrip("0")
    n = len(digits)
    if 0 <= kk - n and kk <= 16:
        return sign + digits + "0" * (kk - n) + ".0"
    if 0 < kk <= 16:
        return sign + digits[:kk] + "." + digits[kk:]
    if -5 < kk <= 0:
        return sign + "0." + "0" * (-kk) + digits
    e = kk - 1
    if n == 1:
        return sign + digits + "e" + str(e)
    return sign + digits[0] + "." + digits[1:] + "e" + str(e)


_COMMON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(s, extra, other):
    """Double-quotes s, escaping _COMMON_ESCAPES, then `extra`, then any
    other char for which `other(ch)` returns a replacement."""
    out = ['"']
    for ch in s:
        rep = _COMMON_ESCAPES.get(ch) or extra.get(ch) or other(ch)
        out.append(rep if rep else ch)
    out.append('"')
    return "".join(out)


def rust_debug_str(s):
    """Rust's `{:?}` of a str (used in serde's `string "..."`)."""
    def other(ch):
        o = ord(ch)
        return "\\u{%x}" % o if (o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0) else None
    return _quote(s, {"\0": "\\0"}, other)


class Unexp:
    """serde::de::Unexpected, rendered."""

    @staticmethod
    def of_number(n):
        if isinstance(n, float):
            return "floating point `%s`" % rust_float(n)
        return "integer `%d`" % n

    @staticmethod
    def of_str(s):
        return "string " + rust_debug_str(s)


def invalid_type(unexp, expected):
    return SerdeError("invalid type: %s, expected %s" % (unexp, expected))


def invalid_value(unexp, expected):
    return SerdeError("invalid value: %s, expected %s" % (unexp, expected))


def one_of(names):
    names = ["`%s`" % n for n in names]
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return "%s or %s" % (names[0], names[1])
    return "one of " + ", ".join(names)


def unknown_field(name, fields):
    if not fields:
        return SerdeError("unknown field `%s`, there are no fields" % name)
    return SerdeError("unknown field `%s`, expected %s" % (name, one_of(fields)))


def unknown_variant(name, variants):
    if not variants:
        return SerdeError("unknown variant `%s`, there are no variants" % name)
    return SerdeError("unknown variant `%s`, expected %s" % (name, one_of(variants)))


class Reader:
    """serde_json's slice reader and the parts of its Deserializer that the
    Firecracker bodies reach."""

    def __init__(self, data):
        self.data = bytes(data)
        self.i = 0
        self.depth = RECURSION_LIMIT

    # positions ----------------------------------------------------------
    def _pos_of(self, idx):
        line, col = 1, 0
        for b in self.data[:idx]:
            if b == 0x0A:
                line, col = line + 1, 0
            else:
                col += 1
        return (line, col)

    def error(self, msg):
        return SerdeError(msg, self._pos_of(self.i))

    def peek_error(self, msg):
        return SerdeError(msg, self._pos_of(min(len(self.data), self.i + 1)))

    def fix(self, err):
        if err.pos is None:
            err.pos = self._pos_of(self.i)
        return err

    # bytes ----------------------------------------------------------------
    def peek(self):
        return self.data[self.i] if self.i < len(self.data) else None

    def eat(self):
        self.i += 1

    def next_char(self):
        b = self.peek()
        if b is not None:
            self.i += 1
        return b

    def ws(self):
        while True:
            b = self.peek()
            if b in (0x20, 0x0A, 0x09, 0x0D):
                self.i += 1
            else:
                return b

    def ident(self, rest):
        for c in rest:
            b = self.next_char()
            if b is None:
                raise self.error(EOF_VALUE)
            if b != c:
                raise self.error(EXPECTED_IDENT)

    def enter(self):
        self.depth -= 1
        if self.depth == 0:
            raise self.error(RECURSION)

    def leave(self):
        self.depth += 1

    # strings ----------------------------------------------------------------
    def parse_str(self):
        """After the opening quote: returns the decoded str."""
        out = bytearray()
        while True:
            b = self.next_char()
            if b is None:
                raise self.error(EOF_STRING)
            if b == 0x22:
                try:
                    return out.decode("utf-8")
                except UnicodeDecodeError:
                    raise self.error(INVALID_UNICODE)
            if b == 0x5C:
                e = self.next_char()
                if e is None:
                    raise self.error(EOF_STRING)
                simple = {0x22: b'"', 0x5C: b"\\", 0x2F: b"/", 0x62: b"\b",
                          0x66: b"\f", 0x6E: b"\n", 0x72: b"\r", 0x74: b"\t"}
                if e in simple:
                    out += simple[e]
                elif e == 0x75:
                    cp = self._hex4()
                    if 0xD800 <= cp < 0xDC00:
                        if self.next_char() != 0x5C or self.next_char() != 0x75:
                            raise self.error(UNEXPECTED_END_OF_HEX)
                        lo = self._hex4()
                        if not 0xDC00 <= lo < 0xE000:
                            raise self.error(LONE_SURROGATE)
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    elif 0xDC00 <= cp < 0xE000:
                        raise self.error(LONE_SURROGATE)
                    out += chr(cp).encode("utf-8")
                else:
                    raise self.error(INVALID_ESCAPE)
            elif b < 0x20:
                raise self.error(CONTROL_CHAR)
            else:
                out.append(b)

    def _hex4(self):
        v = 0
        for _ in range(4):
            b = self.next_char()
            if b is None:
                raise self.error(EOF_STRING)
            c = chr(b).lower()
            if c not in "0123456789abcdef":
                raise self.error(INVALID_ESCAPE)
            v = v * 16 + int(c, 16)
        return v

    # numbers --------------------------------------------------------------
    def parse_number(self):
        """At '-' or a digit: returns int or float as serde_json would
        (u64 / i64 / f64)."""
        start = self.i
        neg = False
        if self.peek() == 0x2D:
            neg = True
            self.eat()
        b = self.next_char()
        if b is None:
            raise self.error(EOF_VALUE)
        if b == 0x30:
            if self.peek() is not None and 0x30 <= self.peek() <= 0x39:
                raise self.peek_error(INVALID_NUMBER)
        elif not 0x31 <= b <= 0x39:
            raise self.error(INVALID_NUMBER)
        while self.peek() is not None and 0x30 <= self.peek() <= 0x39:
            self.eat()
        is_float = False
        if self.peek() == 0x2E:
            is_float = True
            self.eat()
            seen = False
            while self.peek() is not None and 0x30 <= self.peek() <= 0x39:
                self.eat()
                seen = True
            if not seen:
                if self.peek() is None:
                    raise self.peek_error(EOF_VALUE)
                raise self.peek_error(INVALID_NUMBER)
        if self.peek() in (0x65, 0x45):
            is_float = True
            self.eat()
            if self.peek() in (0x2B, 0x2D):
                self.eat()
            b = self.next_char()
            if b is None:
                raise self.error(EOF_VALUE)
            if not 0x30 <= b <= 0x39:
                raise self.error(INVALID_NUMBER)
            while self.peek() is not None and 0x30 <= self.peek() <= 0x39:
                self.eat()
        text = self.data[start:self.i].decode()
        if not is_float:
            n = int(text)
            if (not neg and n < 2 ** 64) or (neg and n >= -(2 ** 63)):
                return n
        f = float(text)
        if f in (float("inf"), float("-inf")):
            raise self.error(NUMBER_OUT_OF_RANGE)
        return f

    # invalid-type helper ----------------------------------------------------
    def peek_invalid_type(self, expected):
        b = self.peek()
        if b == 0x6E:
            self.eat()
            self.ident(b"ull")
            err = invalid_type("null", expected)
        elif b == 0x74:
            self.eat()
            self.ident(b"rue")
            err = invalid_type("boolean `true`", expected)
        elif b == 0x66:
            self.eat()
            self.ident(b"alse")
            err = invalid_type("boolean `false`", expected)
        elif b == 0x2D or (b is not None and 0x30 <= b <= 0x39):
            n = self.parse_number()
            err = invalid_type(Unexp.of_number(n), expected)
        elif b == 0x22:
            self.eat()
            err = invalid_type(Unexp.of_str(self.parse_str()), expected)
        elif b == 0x5B:
            err = invalid_type("sequence", expected)
        elif b == 0x7B:
            err = invalid_type("map", expected)
        else:
            err = self.peek_error(EXPECTED_VALUE)
        return self.fix(err)

    def end(self):
        if self.ws() is not None:
            raise self.peek_error(TRAILING_CHARACTERS)

    def end_map(self):
        b = self.ws()
        if b == 0x7D:
            self.eat()
            return None
        if b == 0x2C:
            return self.peek_error(TRAILING_COMMA)
        if b is not None:
            return self.peek_error(TRAILING_CHARACTERS)
        return self.peek_error(EOF_OBJECT)

    def end_seq(self):
        b = self.ws()
        if b == 0x5D:
            self.eat()
            return None
        if b == 0x2C:
            self.eat()
            if self.ws() == 0x5D:
                return self.peek_error(TRAILING_COMMA)
            return self.peek_error(TRAILING_CHARACTERS)
        if b is not None:
            return self.peek_error(TRAILING_CHARACTERS)
        return self.peek_error(EOF_LIST)

    # map / seq access ---------------------------------------------------
    def map_next_key_start(self, first):
        """Returns True when positioned on a key's opening quote, False at
        the end of the map."""
        b = self.ws()
        if b == 0x7D:
            return False
        if b == 0x2C and not first:
            self.eat()
            b = self.ws()
        elif b is not None:
            if not first:
                raise self.peek_error(EXPECTED_OBJECT_COMMA_OR_END)
        else:
            raise self.peek_error(EOF_OBJECT)
        if b == 0x22:
            return True
        if b == 0x7D:
            raise self.peek_error(TRAILING_COMMA)
        if b is None:
            raise self.peek_error(EOF_VALUE)
        raise self.peek_error(KEY_MUST_BE_STRING)

    def colon(self):
        b = self.ws()
        if b == 0x3A:
            self.eat()
            return
        if b is None:
            raise self.peek_error(EOF_OBJECT)
        raise self.peek_error(EXPECTED_COLON)

    def seq_has_next(self, first):
        b = self.ws()
        if b == 0x5D:
            return False
        if b == 0x2C and not first:
            self.eat()
            b = self.ws()
        elif b is not None:
            if not first:
                raise self.peek_error(EXPECTED_LIST_COMMA_OR_END)
        else:
            raise self.peek_error(EOF_LIST)
        if b == 0x5D:
            raise self.peek_error(TRAILING_COMMA)
        if b is None:
            raise self.peek_error(EOF_VALUE)
        return True

    def ignore_value(self):
        Value().de(self)


# ---------------------------------------------------------------- types


class U:
    """An unsigned integer type (u8, u16, u32, u64, usize)."""

    def __init__(self, name, bits):
        self.name, self.max = name, 2 ** bits - 1

    def de(self, r):
        b = r.ws()
        if b is None:
            raise r.peek_error(EOF_VALUE)
        if b == 0x2D or 0x30 <= b <= 0x39:
            n = r.parse_number()
            if isinstance(n, float):
                raise r.fix(invalid_type(Unexp.of_number(n), self.name))
            if n < 0 or n > self.max:
                raise r.fix(invalid_value(Unexp.of_number(n), self.name))
            return n
        raise r.peek_invalid_type(self.name)


U8, U16, U32, U64, USIZE = U("u8", 8), U("u16", 16), U("u32", 32), U("u64", 64), U("usize", 64)


class Bool:
    def de(self, r):
        b = r.ws()
        if b is None:
            raise r.peek_error(EOF_VALUE)
        if b == 0x74:
            r.eat()
            r.ident(b"rue")
            return True
        if b == 0x66:
            r.eat()
            r.ident(b"alse")
            return False
        raise r.peek_invalid_type("a boolean")


class Str:
    """String-like: `expected` is serde's text ("a string", "path string",
    "IPv4 address"); `check(s)` may raise an unplaced SerdeError, which
    gets placed right after the string (as visit_str errors are)."""

    def __init__(self, expected="a string", check=None):
        self.expected, self.check = expected, check

    def de(self, r):
        b = r.ws()
        if b is None:
            raise r.peek_error(EOF_VALUE)
        if b == 0x22:
            r.eat()
            s = r.parse_str()
            if self.check:
                try:
                    s = self.check(s)
                except SerdeError as e:
                    raise r.fix(e)
            return s
        raise r.peek_invalid_type(self.expected)


def _ipv4(s):
    parts = s.split(".")
    ok = len(parts) == 4 and all(
        p.isdigit() and p.isascii() and len(p) <= 3 and (p == "0" or not p.startswith("0"))
        and int(p) <= 255 for p in parts)
    if not ok:
        raise SerdeError("invalid IPv4 address syntax")
    return s


STRING = Str()
PATH = Str("path string")
IPV4 = Str("IPv4 address", _ipv4)


class Opt:
    def __init__(self, inner):
        self.inner = inner

    def de(self, r):
        b = r.ws()
        if b == 0x6E:
            r.eat()
            r.ident(b"ull")
            return None
        return self.inner.de(r)


class Vec:
    def __init__(self, inner):
        self.inner = inner

    def de(self, r):
        b = r.ws()
        if b is None:
            raise r.peek_error(EOF_VALUE)
        if b != 0x5B:
            raise r.peek_invalid_type("a sequence")
        r.enter()
        r.eat()
        out, err, first = [], None, True
        try:
            while r.seq_has_next(first):
                first = False
                out.append(self.inner.de(r))
        except SerdeError as e:
            err = e
        r.leave()
        end_err = r.end_seq()
        err = err or end_err
        if err:
            raise r.fix(err)
        return out


class Enum:
    """An externally tagged enum of unit variants (serde derive)."""

    def __init__(self, name, variants):
        self.name, self.variants = name, variants

    def _variant(self, r):
        b = r.ws()
        if b is None:
            raise r.peek_error(EOF_VALUE)
        if b != 0x22:
            raise r.peek_invalid_type("variant identifier")
        r.eat()
        s = r.parse_str()
        if s not in self.variants:
            raise r.fix(unknown_variant(s, self.variants))
        return s

    def de(self, r):
        b = r.ws()
        if b == 0x22:
            return self._variant(r)
        if b == 0x7B:
            r.enter()
            r.eat()
            v = self._variant(r)
            r.colon()
            b = r.ws()
            if b == 0x6E:
                r.eat()
                r.ident(b"ull")
            else:
                if b is None:
                    raise r.peek_error(EOF_VALUE)
                raise r.peek_invalid_type("unit variant")
            r.leave()
            b = r.ws()
            if b == 0x7D:
                r.eat()
                return v
            if b is None:
                raise r.error(EOF_OBJECT)
            raise r.error(EXPECTED_VALUE)
        if b is None:
            raise r.peek_error(EOF_VALUE)
        raise r.peek_error(EXPECTED_VALUE)


REQUIRED, OPTION, DEFAULT = "required", "option", "default"


class Struct:
    """A serde-derived struct. fields: [(name, type, kind, default)]."""

    def __init__(self, name, fields, deny_unknown=True, post=None):
        self.name = name
        self.fields = fields
        self.names = [f[0] for f in fields]
        self.deny_unknown = deny_unknown
        self.post = post  # raises unplaced SerdeError after a full read

    def de(self, r):
        b = r.ws()
        if b is None:
            raise r.peek_error(EOF_VALUE)
        if b == 0x7B:
            r.enter()
            r.eat()
            err = None
            try:
                out = self._visit_map(r)
            except SerdeError as e:
                err = e
            r.leave()
            end_err = r.end_map()
        elif b == 0x5B:
            r.enter()
            r.eat()
            err = None
            try:
                out = self._visit_seq(r)
            except SerdeError as e:
                err = e
            r.leave()
            end_err = r.end_seq()
        else:
            raise r.peek_invalid_type("struct " + self.name)
        err = err or end_err
        if err:
            raise r.fix(err)
        return out

    def _finish(self, seen):
        out = {}
        for name, typ, kind, default in self.fields:
            if name in seen:
                out[name] = seen[name]
            elif kind == REQUIRED:
                raise SerdeError("missing field `%s`" % name)
            elif kind == OPTION:
                out[name] = None
            else:
                out[name] = default() if callable(default) else default
        if self.post:
            self.post(out)
        return out

    def _visit_map(self, r):
        seen, first = {}, True
        by_name = {f[0]: f for f in self.fields}
        while r.map_next_key_start(first):
            first = False
            r.eat()
            key = r.parse_str()
            if key not in by_name:
                if self.deny_unknown:
                    raise unknown_field(key, self.names)
                r.colon()
                r.ignore_value()
                continue
            if key in seen:
                raise SerdeError("duplicate field `%s`" % key)
            r.colon()
            seen[key] = by_name[key][1].de(r)
        return self._finish(seen)

    def _visit_seq(self, r):
        seen, first = {}, True
        for idx, (name, typ, kind, default) in enumerate(self.fields):
            if not r.seq_has_next(first):
                raise SerdeError("invalid length %d, expected struct %s with %d element%s" % (
                    idx, self.name, len(self.fields), "" if len(self.fields) == 1 else "s"))
            first = False
            seen[name] = typ.de(r)
        return self._finish(seen)


class Value:
    """serde_json::Value: any JSON. Objects come back as dicts whose key
    order is that of serde_json's BTreeMap (sorted) when serialized."""

    def de(self, r):
        b = r.ws()
        if b is None:
            raise r.peek_error(EOF_VALUE)
        if b == 0x6E:
            r.eat()
            r.ident(b"ull")
            return None
        if b == 0x74:
            r.eat()
            r.ident(b"rue")
            return True
        if b == 0x66:
            r.eat()
            r.ident(b"alse")
            return False
        if b == 0x2D or 0x30 <= b <= 0x39:
            return r.parse_number()
        if b == 0x22:
            r.eat()
            return r.parse_str()
        if b == 0x5B:
            r.enter()
            r.eat()
            out, err, first = [], None, True
            try:
                while r.seq_has_next(first):
                    first = False
                    out.append(self.de(r))
            except SerdeError as e:
                err = e
            r.leave()
            end_err = r.end_seq()
            if err or end_err:
                raise r.fix(err or end_err)
            return out
        if b == 0x7B:
            r.enter()
            r.eat()
            out, err, first = {}, None, True
            try:
                while r.map_next_key_start(first):
                    first = False
                    r.eat()
                    k = r.parse_str()
                    r.colon()
                    out[k] = self.de(r)
            except SerdeError as e:
                err = e
            r.leave()
            end_err = r.end_map()
            if err or end_err:
                raise r.fix(err or end_err)
            return out
        raise r.peek_error(EXPECTED_VALUE)


class Custom:
    """A type with a hand-written Deserialize that first reads an inner
    type and then validates it; a validation error is unplaced (the
    enclosing struct places it)."""

    def __init__(self, inner, convert):
        self.inner, self.convert = inner, convert

    def de(self, r):
        return self.convert(self.inner.de(r))


def from_slice(typ, data):
    """serde_json::from_slice: decode `data` as `typ`; raises SerdeError."""
    r = Reader(data)
    try:
        v = typ.de(r)
        r.end()
    except SerdeError as e:
        raise r.fix(e)
    return v


def to_json(v):
    """serde_json::to_string of a decoded value (objects sorted by key when
    they came from a Value, as serde_json's default Map is a BTreeMap)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return ryu_float(v)
    if isinstance(v, str):
        return json_str(v)
    if isinstance(v, list):
        return "[" + ",".join(to_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json_str(k) + ":" + to_json(v[k]) for k in sorted(v)) + "}"
    raise TypeError(type(v))


def json_str(s):
    """serde_json's string escaping."""
    return _quote(s, {"\b": "\\b", "\f": "\\f"},
                  lambda ch: "\\u%04x" % ord(ch) if ord(ch) < 0x20 else None)


def to_json_ordered(pairs):
    """Serializes a struct: `pairs` is a list of (key, value) in declaration
    order; nested dicts here are already-ordered structs (dict order kept)."""
    def enc(v):
        if isinstance(v, dict) and not getattr(v, "sorted_map", False):
            return "{" + ",".join(json_str(k) + ":" + enc(x) for k, x in v.items()) + "}"
        if isinstance(v, SortedMap):
            return to_json(dict(v))
        if isinstance(v, list):
            return "[" + ",".join(enc(x) for x in v) + "]"
        return to_json(v)
    return "{" + ",".join(json_str(k) + ":" + enc(v) for k, v in pairs) + "}"


class SortedMap(dict):
    """A dict that serializes with sorted keys (a serde_json Value map)."""
    sorted_map = True
