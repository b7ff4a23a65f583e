"""Minimal safetensors reader/writer (no dependency on the `safetensors` package).

File layout (https://github.com/huggingface/safetensors):
  * 8 bytes: little-endian u64 N, the length of the JSON header in bytes;
  * N bytes: UTF-8 JSON object
        {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
         "__metadata__": {"<key>": "<string value>", ...}}
    padded at the end with spaces (0x20) so that the data section starts at an
    8-byte aligned file offset (8 + N is a multiple of 8);
  * the data section: raw little-endian, C-contiguous (row-major) tensor bytes;
    data_offsets are relative to the start of the data section, [begin, end).

`write()` lays tensors out in the order given, back to back with no padding:
the format forbids holes in the data section (the reference writer and Signet's
reader both follow that rule).  `read()` checks the header strictly and
raises ValueError on anything malformed.

Only numpy is needed; torch tensors are accepted by `write()` (converted with
.detach().cpu().numpy()).
"""

import json
import struct

import numpy as np

# safetensors dtype string <-> numpy dtype (always little-endian on disk)
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NP_TO_ST = {v.str.lstrip("<>|="): k for k, v in DTYPES.items()}


def _st_dtype(arr):
    key = arr.dtype.newbyteorder("<").str.lstrip("<>|=")
    if key not in _NP_TO_ST:
        raise ValueError("unsupported dtype %s" % arr.dtype)
    return _NP_TO_ST[key]


def _to_numpy(t):
    if hasattr(t, "detach"):  # torch.Tensor
        t = t.detach().cpu().contiguous().numpy()
    return np.asarray(t)


def serialize(tensors, metadata=None):
    """Return the safetensors bytes for an (ordered) dict name -> array."""
    header = {}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        arr = _to_numpy(t)
        st = _st_dtype(arr)
        arr = np.asarray(arr, dtype=DTYPES[st])  # keeps 0-d shapes; tobytes("C") copies
        raw = arr.tobytes(order="C")
        header[name] = {
            "dtype": st,
            "shape": [int(d) for d in arr.shape],
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError("metadata must map str -> str (%r: %r)" % (k, v))
        header["__metadata__"] = dict(metadata)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-(8 + len(hjson))) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks)


def write(path, tensors, metadata=None):
    data = serialize(tensors, metadata)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def deserialize(buf):
    """Parse safetensors bytes -> (dict name -> numpy array, metadata dict)."""
    buf = memoryview(buf)
    if len(buf) < 8:
        raise ValueError("safetensors: file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise ValueError("safetensors: header length %d exceeds file size %d" % (n, len(buf)))
    try:
        header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError("safetensors: bad JSON header: %s" % e)
    if not isinstance(header, dict):
        raise ValueError("safetensors: header is not a JSON object")
    data = buf[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        try:
            dt = DTYPES[info["dtype"]]
            shape = tuple(int(d) for d in info["shape"])
            b, e = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("safetensors: bad entry for %r: %r" % (name, info))
        if any(d < 0 for d in shape):
            raise ValueError("safetensors: negative dim in %r" % name)
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= b <= e <= len(data)):
            raise ValueError("safetensors: offsets %r of %r out of range" % ([b, e], name))
        if e - b != count * dt.itemsize:
            raise ValueError("safetensors: %r has %d bytes, shape %r needs %d"
                             % (name, e - b, shape, count * dt.itemsize))
        arr = np.frombuffer(data[b:e], dtype=dt).reshape(shape)
        tensors[name] = arr.astype(dt.newbyteorder("="), copy=True)
    return tensors, metadata


def read(path):
    with open(path, "rb") as f:
        return deserialize(f.read())
