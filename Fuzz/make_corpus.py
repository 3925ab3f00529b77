#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (Fuzz/corpus/<target>/): small valid inputs of each format,
so libFuzzer starts past the magic numbers. Standard library only; rerun to regenerate."""
import gzip, json, os, random, struct, zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = random.Random(1)

def put(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)

def npy(shape, descr, payload, version=1):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join(f"{d}, " for d in shape))
    start = 10 if version == 1 else 12
    header += " " * ((64 - (start + len(header) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header.encode("latin1") + payload

frame = bytes(rng.randrange(256) for _ in range(64 * 64))
put("fuzz-npy", "tnhw-uint8.npy", npy((2, 1, 64, 64), "|u1", frame * 2))
put("fuzz-npy", "nthwc-uint8-v2.npy", npy((1, 1, 64, 64, 1), "|u1", frame, version=2))
put("fuzz-npy", "float32-small.npy", npy((2, 3), "<f4", struct.pack("<6f", 0, 0.25, 0.5, 0.75, 1, 0.1)))

def safetensors(tensors, metadata, dtype="F32"):
    header, body = {"__metadata__": metadata}, b""
    for name, (shape, values) in tensors.items():
        raw = struct.pack(f"<{len(values)}f", *values) if dtype == "F32" else struct.pack(f"<{len(values)}e", *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body

meta = {"backbone": "dcgan64", "model": "hafsvg", "channels": "1", "nf": "4", "g_dim": "8", "rnn_size": "8", "z_dim": "4",
        "groups": "2", "n_past": "3", "n_future": "2", "aligner_levels": "0,1", "aligner_value": "encoder"}
put("fuzz-safetensors", "two-tensors-f32.safetensors", safetensors({"a.weight": ([2, 3], [0.5] * 6), "b.bias": ([4], [1, 2, 3, 4])}, meta))
put("fuzz-safetensors", "one-tensor-f16.safetensors", safetensors({"x": ([3], [1, -2, 0.333])}, {"format": "svgnet-checkpoint-1", "step": "3"}, "F16"))

def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload

digits = bytes(rng.randrange(256) for _ in range(2 * 28 * 28))
put("fuzz-idx", "images-plain", idx(2051, (2, 28, 28), digits))
put("fuzz-idx", "images-gzip", gzip.compress(idx(2051, (2, 28, 28), digits), mtime=0))
put("fuzz-gzip", "text.gz", gzip.compress(b"svgnet " * 40, mtime=0))
put("fuzz-gzip", "two-members.gz", gzip.compress(b"first", mtime=0) + gzip.compress(b"second", mtime=0))

def png(width, height, color_type, pixels_per_row):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + pixels_per_row(y) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

put("fuzz-png", "gray-64.png", png(64, 64, 0, lambda y: bytes((x * 4 + y) % 256 for x in range(64))))
put("fuzz-png", "rgb-8.png", png(8, 8, 2, lambda y: bytes((x * 30 + y * 7 + c * 50) % 256 for x in range(8) for c in range(3))))
put("fuzz-png", "rgba-4.png", png(4, 4, 6, lambda y: bytes((x + y + c) * 20 % 256 for x in range(4) for c in range(4))))


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF

def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out

def field(number, payload):  # length-delimited
    return varint(number << 3 | 2) + varint(len(payload)) + payload

def example(frames):
    entries = b""
    for i, frame in enumerate(frames):
        feature = field(1, field(1, frame))                       # Feature.bytes_list.value
        entries += field(1, field(1, f"{i}/image_aux1/encoded".encode()) + field(2, feature))
    return field(1, entries)                                      # Example.features

def record(data):
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked(crc32c(length))) + data + struct.pack("<I", masked(crc32c(data)))

# Two frames of 64×64×3 (a real BAIR record has 30; the converter refuses fewer, after decoding them).
tiny = example([bytes(rng.randrange(256) for _ in range(64 * 64 * 3)) for _ in range(2)])
put("fuzz-tfrecord", "two-frame-example.tfrecords", record(tiny))
put("fuzz-tfrecord", "example-bytes", tiny)
put("fuzz-tfrecord", "two-small-records.tfrecords", record(b"\x0a\x00") + record(b""))
