#!/usr/bin/python3
"""gen_image.py DIR — writes small, real PNG, JPEG and GIF files into DIR.

They are the seed corpus of tests/fuzz/fuzz_image.c (build.sh runs this at
test time, so no binary image is checked in) and the inputs of
tests/unit/test_image.c, which also decodes each one fully with stb_image
(trusted, our own files) to prove they are real images. Standard library
only: PNG through zlib, GIF with a hand-rolled LZW stream that never grows
its code width, JPEG as a baseline greyscale frame of flat blocks with
one-code Huffman tables (every 8x8 block is "DC diff 0, EOB").

Each file name says what the emoji check must answer:
  ok_*        accepted
  bad_<why>_* refused for that reason
"""
import os
import struct
import sys
import zlib


def png(w, h):
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)  # RGBA, 8 bit
    # filter byte 0 and RGBA pixels in 16x16 tiles (they compress well)
    raw = b"".join(b"\x00" + bytes(v for x in range(w) for v in (x // 16 * 16 & 255, y // 16 * 16 & 255, 128, 255))
                   for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def gif(w, h, frames):
    """A GIF89a of `frames` full-size frames (animated when > 1), 4 colours."""
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", w, h, 0x80 | 0x01, 0, 0)  # GCT of 4 entries
    out += bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    if frames > 1:  # NETSCAPE2.0 looping extension
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for f in range(frames):
        out += b"\x21\xf9\x04\x04\x0a\x00\x00\x00"  # graphic control: 0.1 s
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0)
        out += b"\x02"  # LZW minimum code size 2: clear = 4, end = 5
        # codes of 3 bits, LSB first; a clear code after every two pixels
        # keeps the table below 8 entries, so the width never grows
        codes = []
        pixels = [(x + y + f) % 4 for y in range(h) for x in range(w)]
        for i in range(0, len(pixels), 2):
            codes.append(4)
            codes.extend(pixels[i:i + 2])
        codes.append(5)
        acc = nbits = 0
        data = bytearray()
        for c in codes:
            acc |= c << nbits
            nbits += 3
            while nbits >= 8:
                data.append(acc & 255)
                acc >>= 8
                nbits -= 8
        if nbits:
            data.append(acc & 255)
        for i in range(0, len(data), 255):
            part = data[i:i + 255]
            out += bytes([len(part)]) + part
        out += b"\x00"
    out += b"\x3b"
    return bytes(out)


def jpeg(w, h, app_segments=True):
    """Baseline greyscale JPEG, every block flat mid-grey."""
    def seg(marker, payload):
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload

    out = b"\xff\xd8"
    if app_segments:
        out += seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        out += seg(0xFE, b"made by tests/fuzz/gen_image.py")
    out += seg(0xDB, b"\x00" + bytes([1] * 64))  # quantisation table 0: all 1
    out += seg(0xC0, struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00")
    # one-code Huffman tables: DC class 0 and AC class 0, symbol 0 as "0"
    counts = bytes([1] + [0] * 15)
    out += seg(0xC4, b"\x00" + counts + b"\x00" + b"\x10" + counts + b"\x00")
    out += seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    blocks = ((w + 7) // 8) * ((h + 7) // 8)
    nbits = 2 * blocks  # per block: DC "0" (diff 0), AC "0" (EOB)
    data = bytearray(b"\x00" * (nbits // 8))
    if nbits % 8:  # pad the last byte with 1 bits (T.81 F.1.2.3)
        data.append((1 << (8 - nbits % 8)) - 1)
    return out + bytes(data) + b"\xff\xd9"


FILES = {
    "ok_png_32.png": lambda: png(32, 32),
    "ok_png_128.png": lambda: png(128, 128),
    "ok_png_256.png": lambda: png(256, 256),
    "ok_jpeg_32.jpg": lambda: jpeg(32, 32),
    "ok_jpeg_64.jpeg": lambda: jpeg(64, 64, app_segments=False),
    "ok_gif_48.gif": lambda: gif(48, 48, 1),
    "ok_gif_animated_64.gif": lambda: gif(64, 64, 3),
    "bad_small_png_16.png": lambda: png(16, 16),
    "bad_large_png_300.png": lambda: png(300, 300),
    "bad_square_png_64x32.png": lambda: png(64, 32),
    "bad_square_jpeg_64x40.jpg": lambda: jpeg(64, 40),
    "bad_square_gif_40x32.gif": lambda: gif(40, 32, 2),
    "bad_small_gif_8.gif": lambda: gif(8, 8, 1),
    "bad_large_jpeg_512.jpg": lambda: jpeg(512, 512),
}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_image.py DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, make in FILES.items():
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(make())


if __name__ == "__main__":
    main()
