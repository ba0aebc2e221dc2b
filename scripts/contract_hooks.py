"""Schemathesis hooks for scripts/contract-test.

The OpenAPI document states every rule of the API that a schema can state. A few rules
cannot be stated by any schema, because they relate several values or depend on the
clock; the server rightly refuses a request that breaks them. So that such a refusal is
never taken for a schema mismatch, every *positive* case (one the schema allows) is
brought within those rules here, and only those rules:

- a time range: `end` after `start`, where `end` defaults to now and `start` to an hour
  before `end`; at most 100000 buckets; `aggregates` only with `bucket`;
- a device: its name not taken (a created device gets a name of its own, so that the
  stateful phase finds real devices to read, replace and delete); a replacing body names
  the device it replaces (the id in the path says which); register names unique,
  registers not overlapping, `min` at most `max`, a string ending inside its table's
  65536 registers; no `scale_factor` (whether one names an integer register of the same
  map is a rule across registers);
- a register map upload (text/csv): the document cannot describe which CSV is valid, so
  a positive case uploads a valid one;
- a discovery: its target is a device (a host the validator accepts, a serial port only
  with transport `rtu` and the serial fields), and no other discovery of it runs. Positive
  cases scan a closed port on this machine, one target each, so that the historian never
  connects to generated hosts and each job ends at once.

Devices created by the contract test are disabled: the test checks the API, and a
disabled device is not polled, so the historian never connects to generated hosts.

Negative cases are left alone: they break the schema itself, and must be refused.
"""

import itertools
import math
import re
from datetime import datetime, timezone
from fractions import Fraction

import random
import socket
import schemathesis

MAX_BUCKETS = 100_000
DEFAULT_RANGE_SECONDS = 3600
TABLE_SIZE = 65_536

TABLES = {
    "coil": "coil", "coils": "coil", "co": "coil",
    "discrete_input": "di", "discrete_inputs": "di", "discrete": "di", "di": "di",
    "input_register": "ir", "input_registers": "ir", "input": "ir", "ir": "ir",
    "holding_register": "hr", "holding_registers": "hr", "holding": "hr", "hr": "hr",
}
MODICON_PREFIX = {0: "coil", 1: "di", 3: "ir", 4: "hr"}
WIDTHS = {
    **dict.fromkeys(["bool", "boolean", "bit"], 1),
    **dict.fromkeys(["int16", "i16", "int", "short", "uint16", "u16", "uint", "word"], 1),
    **dict.fromkeys(["int32", "i32", "dint", "uint32", "u32", "udint", "dword",
                     "float32", "f32", "float", "real"], 2),
    **dict.fromkeys(["int64", "i64", "lint", "uint64", "u64", "ulint", "lword",
                     "float64", "f64", "double", "lreal"], 4),
}
STRINGS = {"string", "str", "text", "ascii"}
BOOLS = {"bool", "boolean", "bit"}

CREATED = itertools.count(1)
SERIAL_FIELDS = ("transport", "baud_rate", "parity", "stop_bits", "data_bits")
# Names of the devices this run created, by id.
NAMES = {}

VALID_CSV_MAP = "address,table,name,data_type,unit\n0,holding_register,level,uint16,m\n"

RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _closed_port():
    """A port of this machine that nothing listens on (one the system just handed out and
    took back), so that a discovery's connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _seconds(text):
    """Seconds since 1970 of an RFC 3339 time, exactly, or None when it cannot be read here."""
    m = RFC3339.match(text) if isinstance(text, str) else None
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        # Python's calendar starts at year 1; a leap second counts as the next second.
        days = datetime(year, month, day, tzinfo=timezone.utc).toordinal()
    except ValueError:
        return None
    total = (days - 719163) * 86400 + hour * 3600 + minute * 60 + second
    total += Fraction(m.group(7) or 0)
    zone = m.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        total -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return total


def _fix_range(query):
    """Brings `start`/`end` (and buckets) within the server's cross-parameter rules."""
    now = Fraction(datetime.now(timezone.utc).timestamp())
    start, end = _seconds(query.get("start")), _seconds(query.get("end"))
    if ("start" in query and start is None) or ("end" in query and end is None):
        return
    end_s = end if end is not None else now
    start_s = start if start is not None else end_s - DEFAULT_RANGE_SECONDS
    if end_s <= start_s:
        if start is not None and end is not None and start != end:
            query["start"], query["end"] = query["end"], query["start"]
            start_s, end_s = end_s, start_s
        else:
            del query["start"]
            start_s = end_s - DEFAULT_RANGE_SECONDS
    if "aggregates" in query and "bucket" not in query:
        del query["aggregates"]
    bucket = query.get("bucket")
    if isinstance(bucket, str) and bucket[:-1].isdigit():
        width = int(bucket[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(bucket[-1], 1)
        if int(end_s - start_s) // width > MAX_BUCKETS:
            query["bucket"] = f"{math.ceil((end_s - start_s) / MAX_BUCKETS)}s"


def _whole(value):
    """A JSON integer as Python reads it: `5` or `5.0` (JSON Schema's integers), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def _register_footprint(r, addressing):
    """The registers (and bits) a register uses: {(table, address)} or {(table, address, bit)}."""
    if not isinstance(r, dict) or _whole(r.get("address")) is None:
        return None
    data_type = r.get("data_type", r.get("type"))
    if not isinstance(data_type, str):
        return None
    data_type = data_type.strip().lower()
    address = _whole(r["address"])
    table = r.get("table")
    if isinstance(table, str):
        table = TABLES.get(table.strip().lower().replace("-", "_").replace(" ", "_"))
    if addressing == "one_based":
        address -= 1
    elif addressing == "modicon":
        prefix, offset = (address // 10_000, address % 10_000) if address <= 49_999 else (
            address // 100_000, address % 100_000)
        table, address = MODICON_PREFIX.get(prefix), offset - 1
    if table is None:
        return None
    if data_type in STRINGS:
        length = _whole(r.get("length"))
        if length is not None and address + length > TABLE_SIZE:
            r["length"] = length = TABLE_SIZE - address
        width = length or 1
    else:
        width = WIDTHS.get(data_type, 1)
    bit = _whole(r.get("bit"))
    if data_type in BOOLS and bit is not None:
        return {(table, address, bit)}, {(table, address)}
    return {(table, address + k) for k in range(width)}, set()


def _fix_device(body):
    if not isinstance(body, dict):
        return
    body["enabled"] = False
    addressing = body.get("addressing")
    addressing = addressing.strip().lower().replace("-", "_") if isinstance(addressing, str) else "wire"
    addressing = {"zero_based": "wire", "0": "wire", "1": "one_based", "reference": "modicon"}.get(
        addressing, addressing)
    registers = body.get("registers")
    if not isinstance(registers, list):
        return
    names, whole, bits, bit_registers, kept = set(), set(), set(), set(), []
    for r in registers:
        if isinstance(r, dict):
            r.pop("scale_factor", None)
            lo, hi = r.get("min"), r.get("max")
            if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo > hi:
                r["min"], r["max"] = hi, lo
        footprint = _register_footprint(r, addressing)
        name = r.get("name") if isinstance(r, dict) else None
        if footprint is None or name in names:
            continue
        used, bit_register = footprint
        if bit_register:
            if used & bits or bit_register & whole:
                continue
            bits |= used
            bit_registers |= bit_register
        else:
            if used & whole or used & bit_registers:
                continue
            whole |= used
        names.add(name)
        kept.append(r)
    body["registers"] = kept


@schemathesis.hook
def map_case(ctx, case):
    if not _positive(case):
        return case
    path, method = case.operation.path, case.method.upper()
    if (path.startswith("/api/register_readings/") or path == "/api/audit") and isinstance(
        case.query, dict
    ):
        _fix_range(case.query)
    elif path in ("/api/devices", "/api/devices/{device_id}") and method in ("POST", "PUT"):
        _fix_device(case.body)
        params = case.path_parameters
        if method == "PUT" and NAMES and isinstance(params, dict) and random.random() < 0.8:
            # Generated ids rarely name a device: most replacements should reach one this
            # run created, so that PUT is exercised beyond 404.
            if str(params.get("device_id")) not in NAMES:
                params["device_id"] = random.choice(list(NAMES))
        if method == "POST" and isinstance(case.body, dict) and isinstance(case.body.get("name"), str):
            case.body["name"] += f"-{next(CREATED)}"
    elif path == "/api/devices/{device_id}/register_map":
        case.body = VALID_CSV_MAP
    elif path == "/api/discover" and method == "POST" and isinstance(case.body, dict):
        case.body["target"] = f"127.0.0.1:{_closed_port()}"
        for field in SERIAL_FIELDS:
            case.body.pop(field, None)
        # A refused connection ends a unit's probe at once; a few units keep it so.
        if isinstance(case.body.get("units"), list):
            case.body["units"] = case.body["units"][:4] or [1]
    return case


@schemathesis.hook
def after_call(ctx, case, response):
    if case.operation.path == "/api/devices" and case.method.upper() == "POST" and response.status_code == 201:
        created = response.json()
        NAMES[str(created["id"])] = created["name"]


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if not _positive(case) or case.operation.path != "/api/devices/{device_id}":
        return
    if case.method.upper() != "PUT" or not isinstance(case.body, dict):
        return
    key = str((case.path_parameters or {}).get("device_id"))
    name = NAMES.get(key, key if key in NAMES.values() else None)
    if name is not None:
        case.body["name"] = name
