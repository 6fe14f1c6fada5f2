"""TF tensor-bundle reader: bundles written by a minimal writer of our own (no TensorFlow needed)."""

import struct
from pathlib import Path

import numpy as np
import pytest

from restora.errors import ModelError
from restora.models import fetch, store
from restora.models.tfckpt import DTYPES, crc32c, mask_crc, read_checkpoint

_TF_CODE = {dt: code for code, dt in DTYPES.items()}


def varint(n: int) -> bytes:
    """Base-128 varint encoding of a non-negative int."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def entry_proto(arr: np.ndarray, shard: int, offset: int, crc: int | None) -> bytes:
    """A BundleEntryProto: dtype, shape, shard, offset, size, masked crc32c (fixed32)."""
    shape = b"".join(field_bytes(2, field_varint(1, d)) for d in arr.shape)
    out = field_varint(1, _TF_CODE[arr.dtype]) + field_bytes(2, shape)
    if shard:
        out += field_varint(3, shard)
    if offset:  # proto3 leaves zero scalars out, as TensorFlow does
        out += field_varint(4, offset)
    out += field_varint(5, arr.nbytes)
    if crc is not None:
        out += varint(6 << 3 | 5) + struct.pack("<I", crc)
    return out


def block(entries: list[tuple[bytes, bytes]], restart_every: int = 2) -> bytes:
    """An SSTable block: prefix-compressed entries, restart array, count (no trailer)."""
    out, restarts, prev = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_every:
            while shared < min(len(key), len(prev)) and key[shared] == prev[shared]:
                shared += 1
        else:
            restarts.append(len(out))
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        prev = key
    restarts = restarts or [0]
    return bytes(out) + b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))


def write_bundle(prefix: Path, tensors: dict[str, np.ndarray], n_shards: int = 1,
                 corrupt_size: str = "", bad_crc: str = "") -> None:
    """Write ``prefix.index`` + data shards holding ``tensors`` (round-robin over the shards)."""
    shards = [bytearray() for _ in range(n_shards)]
    entries = [(b"", field_varint(1, n_shards) + field_bytes(3, field_varint(1, 1)))]
    for i, name in enumerate(sorted(tensors)):
        arr = np.asarray(tensors[name])  # ascontiguousarray would turn a scalar into shape (1,)
        data = arr.tobytes()
        shard = i % n_shards
        crc = mask_crc(crc32c(data)) ^ (1 if name == bad_crc else 0)
        proto = entry_proto(arr, shard, len(shards[shard]), crc)
        if name == corrupt_size:
            proto = proto.replace(field_varint(5, arr.nbytes), field_varint(5, arr.nbytes - 1))
        entries.append((name.encode(), proto))
        shards[shard] += data
    for s, data in enumerate(shards):
        prefix.with_name(f"{prefix.name}.data-{s:05d}-of-{n_shards:05d}").write_bytes(bytes(data))
    table = bytearray()

    def put(blk: bytes) -> bytes:
        handle = varint(len(table)) + varint(len(blk))
        table.extend(blk + b"\x00" + b"\x00" * 4)  # type 0 (uncompressed) + a crc we do not check
        return handle

    data_handle = put(block(entries))
    meta_handle = put(block([]))
    index_handle = put(block([(entries[-1][0], data_handle)]))
    footer = (meta_handle + index_handle).ljust(40, b"\x00") + struct.pack("<Q", 0xDB4775248B80FB57)
    prefix.with_name(prefix.name + ".index").write_bytes(bytes(table) + footer)


def sample_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "conv2d/kernel": rng.standard_normal((5, 5, 2, 3)).astype(np.float32),
        "conv2d/bias": rng.standard_normal(3).astype(np.float32),
        "conv2d_1/kernel": rng.standard_normal((2, 2, 3, 1)).astype(np.float32),
        "batch_normalization/gamma": np.arange(4, dtype=np.float32),
        "global_step": np.array(123456789012, dtype=np.int64),
        "counts": np.arange(6, dtype=np.int64).reshape(2, 3),
        "empty": np.zeros((0, 4), np.float32),
    }


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name, arr in want.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape, name
        np.testing.assert_array_equal(got[name], arr)


def test_crc32c_known_vector():
    # The standard CRC-32C check value (RFC 3720, iSCSI).
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


@pytest.mark.parametrize("n_shards", [1, 2])
def test_round_trip(tmp_path, n_shards):
    tensors = sample_tensors()
    write_bundle(tmp_path / "model", tensors, n_shards=n_shards)
    assert_same(read_checkpoint(tmp_path / "model", verify_crc=True), tensors)


def test_many_keys_with_shared_prefixes(tmp_path):
    # Long runs of near-identical names exercise the prefix compression between restarts.
    tensors = {f"unet/layer_{i:03d}/kernel": np.full((i % 3 + 1,), i, np.float32) for i in range(40)}
    write_bundle(tmp_path / "m", tensors)
    assert_same(read_checkpoint(tmp_path / "m"), tensors)


def test_bad_magic_is_refused(tmp_path):
    write_bundle(tmp_path / "model", sample_tensors())
    index = tmp_path / "model.index"
    index.write_bytes(index.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelError, match="magic"):
        read_checkpoint(tmp_path / "model")


def test_size_mismatch_is_refused(tmp_path):
    write_bundle(tmp_path / "model", sample_tensors(), corrupt_size="conv2d/bias")
    with pytest.raises(ModelError, match="conv2d/bias"):
        read_checkpoint(tmp_path / "model")


def test_crc_mismatch_found_only_when_asked(tmp_path):
    write_bundle(tmp_path / "model", sample_tensors(), bad_crc="counts")
    assert "counts" in read_checkpoint(tmp_path / "model")
    with pytest.raises(ModelError, match="crc32c"):
        read_checkpoint(tmp_path / "model", verify_crc=True)


def test_real_spleeter_checkpoint_layout():
    if fetch.status("spleeter-2stems") != fetch.INSTALLED:
        pytest.skip("spleeter-2stems not installed (restora models fetch spleeter-2stems)")
    ck = read_checkpoint(store.model_root() / "spleeter-2stems" / "model")
    floats = {k: v for k, v in ck.items() if v.dtype == np.float32}
    assert len(floats) == 148 and sum(v.size for v in floats.values()) == 19_653_518
    assert ck["global_step"].dtype == np.int64
    assert ck["conv2d/kernel"].shape == (5, 5, 2, 16)
    assert ck["conv2d_6/kernel"].shape == (4, 4, 1, 2)
    assert ck["conv2d_transpose/kernel"].shape == (5, 5, 256, 512)
    assert ck["conv2d_transpose_11/kernel"].shape == (5, 5, 1, 32)
