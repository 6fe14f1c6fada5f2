"""Read TensorFlow v2 checkpoints (tensor bundles) without TensorFlow.

A checkpoint ``<prefix>`` is a pair of files:

* ``<prefix>.index``: a LevelDB-style SSTable mapping each variable name to a
  ``BundleEntryProto`` (dtype, shape, shard, byte offset, byte size, masked
  crc32c); the empty key holds a ``BundleHeaderProto`` (number of shards).
* ``<prefix>.data-SSSSS-of-NNNNN``: the tensors as raw little-endian bytes.

Only what TensorFlow writes for plain variables is supported: uncompressed
SSTable blocks and numeric dtypes. The SSTable block checksums are not checked
(the model store already verifies every file by sha256); tensor sizes always are,
and tensor crc32c on request.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from restora.errors import ModelError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48  # two BlockHandles padded to 40 bytes + 8-byte magic
_BLOCK_TRAILER_LEN = 5  # 1 compression-type byte + 4-byte crc, not counted in a handle's size

#: TensorFlow ``DataType`` enum values → numpy little-endian dtypes.
DTYPES = {
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 4: np.dtype("u1"),
    5: np.dtype("<i2"), 6: np.dtype("i1"), 9: np.dtype("<i8"), 10: np.dtype("?"),
    19: np.dtype("<f2"),
}


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``buf[pos:]``; return ``(value, next_pos)``."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ModelError("truncated varint in checkpoint index")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def parse_proto(buf: bytes) -> dict[int, list[int | bytes]]:
    """Split a protobuf message into ``{field_number: [values]}``.

    Varint and fixed-width fields become ints, length-delimited ones bytes
    (nested messages are parsed again by the caller). Groups are not supported.
    """
    fields: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(buf):
        tag, pos = read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 5:
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            value = bytes(buf[pos:pos + length])
            pos += length
        else:
            raise ModelError(f"unsupported protobuf wire type {wire} in checkpoint index")
        fields.setdefault(number, []).append(value)
    if pos != len(buf):
        raise ModelError("truncated protobuf in checkpoint index")
    return fields


def _block_entries(table: bytes, handle: tuple[int, int]) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` pairs of the SSTable block at ``handle = (offset, size)``."""
    offset, size = handle
    if offset + size + _BLOCK_TRAILER_LEN > len(table):
        raise ModelError("checkpoint index block lies outside the file")
    if table[offset + size] != 0:
        # Type byte 1 = snappy; TensorFlow writes bundle indexes uncompressed.
        raise ModelError("compressed checkpoint index blocks are not supported")
    block = table[offset:offset + size]
    n_restarts = struct.unpack_from("<I", block, size - 4)[0]
    end = size - 4 - 4 * n_restarts  # entries stop where the restart array starts
    entries, key, pos = [], b"", 0
    while pos < end:
        shared, pos = read_varint(block, pos)
        unshared, pos = read_varint(block, pos)
        vlen, pos = read_varint(block, pos)
        # Keys are prefix-compressed against the previous key (reset at restart points).
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + vlen]))
        pos += vlen
    return entries


def _handle(buf: bytes, pos: int) -> tuple[tuple[int, int], int]:
    """Decode a BlockHandle (offset, size varints) at ``pos``; return it and the next position."""
    offset, pos = read_varint(buf, pos)
    size, pos = read_varint(buf, pos)
    return (offset, size), pos


def read_index(index_path: Path) -> dict[str, bytes]:
    """All ``name → serialized BundleEntryProto`` pairs of an ``.index`` SSTable (header under ``""``)."""
    table = Path(index_path).read_bytes()
    if len(table) < _FOOTER_LEN or struct.unpack_from("<Q", table, len(table) - 8)[0] != _TABLE_MAGIC:
        raise ModelError(f"{index_path} is not a TensorFlow checkpoint index (bad footer magic)")
    footer = table[-_FOOTER_LEN:]
    _metaindex, pos = _handle(footer, 0)  # the metaindex (filter blocks) is empty in bundles
    index, _ = _handle(footer, pos)
    out: dict[str, bytes] = {}
    for _last_key, handle_bytes in _block_entries(table, index):
        data_handle, _ = _handle(handle_bytes, 0)
        for key, value in _block_entries(table, data_handle):
            out[key.decode("utf-8")] = value
    return out


def _shape(shape_proto: bytes) -> tuple[int, ...]:
    """Dims of a ``TensorShapeProto`` (field 2 = repeated Dim, whose field 1 is the size)."""
    dims = parse_proto(shape_proto).get(2, [])
    return tuple(int(parse_proto(d).get(1, [0])[0]) for d in dims)


_CRC_TABLE: list[int] = []


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``; pure Python, about 10 MB/s."""
    if not _CRC_TABLE:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            _CRC_TABLE.append(c)
    crc, table = 0xFFFFFFFF, _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """LevelDB/TensorFlow crc masking: rotate right by 15 bits and add a constant (mod 2**32)."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_checkpoint(prefix: Path, verify_crc: bool = False) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint ``prefix`` (``prefix.index`` + data shards) by variable name.

    Arrays have the stored shape and dtype (e.g. float32 conv kernels in TF HWIO
    layout). Raises ModelError on a malformed file, an unsupported dtype, a size
    that does not match dtype × shape, or (with ``verify_crc``) a crc mismatch.
    """
    prefix = Path(prefix)
    entries = read_index(prefix.with_name(prefix.name + ".index"))
    header = parse_proto(entries.pop("", b""))
    n_shards = int(header.get(1, [1])[0])
    shards: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for name, raw in entries.items():
        entry = parse_proto(raw)
        if 7 in entry:
            raise ModelError(f"checkpoint tensor {name} is stored in slices, which is not supported")
        code = int(entry.get(1, [0])[0])
        if code not in DTYPES:
            raise ModelError(f"checkpoint tensor {name} has unsupported TensorFlow dtype {code}")
        dtype, shape = DTYPES[code], _shape(entry.get(2, [b""])[0])
        shard = int(entry.get(3, [0])[0])
        offset, size = int(entry.get(4, [0])[0]), int(entry.get(5, [0])[0])
        if shard not in shards:
            shards[shard] = prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{n_shards:05d}").read_bytes()
        data = shards[shard][offset:offset + size]
        expected = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if size != expected or len(data) != size:
            raise ModelError(f"checkpoint tensor {name}: {len(data)} bytes stored, "
                             f"{expected} expected for {dtype} {shape}")
        if verify_crc and 6 in entry and mask_crc(crc32c(data)) != entry[6][0]:
            raise ModelError(f"checkpoint tensor {name}: crc32c mismatch")
        out[name] = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    return out
