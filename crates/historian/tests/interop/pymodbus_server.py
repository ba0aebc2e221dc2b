"""A Modbus TCP server built with pymodbus (pinned by the test that runs it), serving
values computed here with Python's own arithmetic and struct packing, so the collector's
decoding is checked against a peer that shares no code with it.

Usage: pymodbus_server.py PORT. Wire address i of each table holds:
  coils:              i % 3 == 0
  discrete inputs:    i % 2 == 1
  holding registers:  (i * 7 + 3) % 65536            for i in 0..100
  input registers:    1000 + i                       for i in 0..100
  input 100..101:     float32 123.456, big-endian words (ABCD)
  input 102..103:     float32 -0.5, word-swapped (CDAB)
  input 104..107:     float64 6.02214076e23, big-endian (ABCD)
  input 108..109:     int32 -123456, big-endian (ABCD)
  holding 200..203:   the string "pymodbus" (first character in the high byte)
  holding 210:        bits 0, 3 and 15 set (0x8009)
"""

import asyncio
import struct
import sys

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import StartAsyncTcpServer


def words(fmt, value):
    raw = struct.pack(fmt, value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def main():
    port = int(sys.argv[1])
    size = 300
    coils = [i % 3 == 0 for i in range(size)]
    discrete = [i % 2 == 1 for i in range(size)]
    holding = [(i * 7 + 3) % 65536 for i in range(size)]
    inputs = [1000 + i for i in range(size)]
    inputs[100:102] = words(">f", 123.456)
    cdab = words(">f", -0.5)
    inputs[102:104] = [cdab[1], cdab[0]]
    inputs[104:108] = words(">d", 6.02214076e23)
    inputs[108:110] = words(">i", -123456)
    text = b"pymodbus"
    holding[200:204] = [int.from_bytes(text[i : i + 2], "big") for i in range(0, 8, 2)]
    holding[210] = 0x8009
    # pymodbus' data blocks are addressed one above the wire address (its Modicon
    # heritage), so each block starts at 1 for wire address 0 to hold element 0.
    device = ModbusDeviceContext(
        co=ModbusSequentialDataBlock(1, coils),
        di=ModbusSequentialDataBlock(1, discrete),
        hr=ModbusSequentialDataBlock(1, holding),
        ir=ModbusSequentialDataBlock(1, inputs),
    )
    context = ModbusServerContext(devices=device, single=True)
    print(f"pymodbus server on 127.0.0.1:{port}", flush=True)
    asyncio.run(StartAsyncTcpServer(context=context, address=("127.0.0.1", port)))


if __name__ == "__main__":
    main()
