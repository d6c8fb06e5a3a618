"""Decode time (issue 23): files that cost a decoder far more than they claim stop before the
work is spent (JPEG scans counted, GIF frames counted no further than the limit, video packets
counted against the time they span, every frame's pixels checked), and whatever is left is held
by a CPU budget per object (media/costs.py)."""
import io

import pytest
from PIL import Image

from tests.media import clip_frames, encode, encode_clip, photo
from tests.time_bombs import frame_flood_mp4, giant_mjpeg_mkv, gif_of_frames, repeated_scan_jpeg
from transforms.media.costs import MAX_JPEG_SCANS, CostSettings, gif_frame_count
from transforms.media.hashing import HashSettings, hash_media
from transforms.reasons import MediaError
from transforms.storage.objects import MediaObject


def outcome(data: bytes, settings: HashSettings = HashSettings()):
    try:
        media = hash_media(MediaObject("file://x", "v", len(data)), data, settings)
    except MediaError as e:
        return e.reason, e.detail
    return "hashed", len(media.hashes["pdq"])


def test_a_jpeg_of_too_many_scans_is_refused_before_decoding():
    assert outcome(repeated_scan_jpeg(300)) == ("over_budget", "a JPEG of 300 scans > limit 100 (each decodes every block)")
    progressive = encode(photo(3), "JPEG", quality=90, progressive=True)
    assert progressive.count(b"\xff\xda") < MAX_JPEG_SCANS and outcome(progressive)[0] == "hashed"


def test_a_flood_of_tiny_video_frames_stops_at_the_frame_rate_limit():
    reason, detail = outcome(frame_flood_mp4(5000))
    assert reason == "over_budget" and detail.startswith("1001 packets in 0.001 s of video"), detail


def test_a_gif_of_a_million_frames_is_not_counted_to_the_end():
    assert outcome(gif_of_frames(1_000_000)) == ("too_long", "more than 20000 frames")


def test_gif_frames_are_counted_as_pillow_counts_them_up_to_the_limit():
    frames = [photo(seed, 64, 48).quantize(16 + seed) for seed in range(7)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=80, comment=b"hello", loop=0)
    data = buffer.getvalue()
    assert gif_frame_count(data, 100) == Image.open(io.BytesIO(data)).n_frames == 7
    assert gif_frame_count(data, 3) == 3
    junk_between = gif_of_frames(50)[:-1] + b"\x00" * 1000 + gif_of_frames(5)[19:]  # bytes Pillow skips
    assert gif_frame_count(junk_between, 10**6) == Image.open(io.BytesIO(junk_between)).n_frames == 55


def test_a_video_of_frames_over_the_pixel_limit_is_refused_before_decoding():
    assert outcome(giant_mjpeg_mkv(12000)) == ("too_many_pixels",
                                              "video stream 0: 12000 x 12000 = 144000000 pixels > limit 100000000")
    assert outcome(giant_mjpeg_mkv(12000), HashSettings(max_pixels=200_000_000))[0] == "hashed"


@pytest.mark.parametrize("kind", ["image", "video"])
def test_an_object_over_its_cpu_budget_fails_as_over_budget(kind):
    data = encode(photo(4, 2000, 1500), "PNG") if kind == "image" else encode_clip(clip_frames(4, seconds=2.0))
    tight = HashSettings(costs=CostSettings(base_s=0.001, per_megapixel_s=0.0, per_video_second_s=0.0))
    reason, detail = outcome(data, tight)
    assert reason == "over_budget" and "CPU s spent, over its budget of 0.0 s" in detail, detail
    assert outcome(data)[0] == "hashed"
