"""Small files that cost a decoder far more than their size or their claims say (issue 23): a
progressive JPEG whose AC scan repeats, an MP4 of many tiny frames packed into a fraction of a
second, a GIF of very many frames, an MKV of two giant MJPEG frames. Made in memory."""
import io
import struct
from fractions import Fraction

import numpy as np
from PIL import Image

from tests.media import encode


def _segments(jpeg: bytes):
    """(marker, start, end) of each marker segment of a JPEG, a scan's entropy-coded data included."""
    offset, out = 2, []
    while offset < len(jpeg):
        assert jpeg[offset] == 0xFF, offset
        marker = jpeg[offset + 1]
        if marker == 0xD9:
            out.append((marker, offset, offset + 2))
            break
        length = int.from_bytes(jpeg[offset + 2:offset + 4], "big")
        end = offset + 2 + length
        if marker == 0xDA:  # the scan's data runs to the next marker that is not stuffing or a restart
            while not (jpeg[end] == 0xFF and jpeg[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        out.append((marker, offset, end))
        offset = end
    return out


def repeated_scan_jpeg(scans: int, side: int = 2048) -> bytes:
    """A progressive JPEG of a smooth picture (its AC scans are a few hundred bytes) whose first AC
    scan is repeated until it has `scans` scans: every scan costs a pass over all its blocks."""
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    grey = Image.fromarray(np.add.outer(ramp, ramp).astype(np.uint8) // 2).convert("RGB")
    jpeg = encode(grey, "JPEG", quality=90, progressive=True)
    segments = _segments(jpeg)
    sos = [(s, e) for marker, s, e in segments if marker == 0xDA]
    first_ac = jpeg[sos[1][0]:sos[1][1]]
    end = segments[-1][1]
    return jpeg[:end] + first_ac * (scans - len(sos)) + jpeg[end:]


def frame_flood_mp4(frames: int, side: int = 16, gop: int = 600) -> bytes:
    """An MPEG-4 part 2 video of `frames` tiny frames a microsecond apart (the packets' times
    rewritten after encoding): it says it lasts a fraction of a second."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.time_base = Fraction(1, 1_000_000)  # the container's: each packet a microsecond long
        pixels = np.random.default_rng(3).integers(0, 255, (side, side, 3), dtype=np.uint8)
        written = 0

        def mux(packets):
            nonlocal written
            for packet in packets:
                packet.time_base = Fraction(1, 1_000_000)
                packet.pts = packet.dts = written
                packet.duration = 1
                container.mux(packet)
                written += 1

        for number in range(frames):
            mux(stream.encode(av.VideoFrame.from_ndarray(np.roll(pixels, number, axis=0), format="rgb24")))
        mux(stream.encode())
    return out.getvalue()


def gif_of_frames(frames: int) -> bytes:
    """A GIF of `frames` one-pixel frames: 23 bytes a frame."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff")
    frame = b"\x21\xf9\x04\x00\x01\x00\x00\x00" + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return bytes(out + frame * frames + b"\x3b")


def giant_mjpeg_mkv(side: int, frames: int = 2) -> bytes:
    """A Matroska file of `frames` MJPEG frames of side x side pixels (a flat grey: a few MB)."""
    import av

    picture = encode(Image.new("L", (side, side), 128).convert("RGB"), "JPEG", quality=50)
    out = io.BytesIO()
    with av.open(out, "w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width = stream.height = side
        stream.pix_fmt = "yuvj420p"
        for number in range(frames):
            packet = av.Packet(picture)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, number, number, Fraction(1, 1)
            container.mux(packet)
    return out.getvalue()
