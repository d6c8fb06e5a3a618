"""Video hashing on clips made by the tests: keyframes, sampling, rotation, limits, bad files."""
import numpy as np
import pytest

from tests.media import clip_frames, encode_clip, faststart, pdq_of_rgb, two_streams, with_bars
from transforms.reasons import MediaError
from transforms.signals.pdq import PDQ
from transforms.media.videos import VideoSettings, hash_video

FRAMES = clip_frames(31, seconds=3.0, fps=10)
CLIP = encode_clip(FRAMES, gop=10)  # a keyframe every second


def times(hashes, variant="original"):
    return [h.time_s for h in hashes if h.variant == variant]


def test_keyframes_only():
    hashes = hash_video(CLIP, VideoSettings(sample_seconds=0)).frames
    assert times(hashes) == [0.0, 1.0, 2.0]
    for h in hashes:
        frame = FRAMES[int(round(h.time_s * 10))]
        assert PDQ.distance(h.pdq, pdq_of_rgb(np.asarray(frame)).pdq) <= 12 and h.quality >= 50


def test_sampling_adds_frames_between_sparse_keyframes():
    sparse = encode_clip(FRAMES)  # one keyframe, at the start
    assert times(hash_video(sparse, VideoSettings(sample_seconds=0)).frames) == [0.0]
    assert times(hash_video(sparse, VideoSettings(sample_seconds=0.5)).frames) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


@pytest.mark.parametrize("fmt, codec", [("matroska", "libx264"), ("webm", "libvpx-vp9"), ("avi", "mpeg4"), ("mov", "libx264")])
def test_other_containers(fmt, codec):
    hashes = hash_video(encode_clip(FRAMES[:10], fmt=fmt, codec=codec), VideoSettings(sample_seconds=0)).frames
    assert times(hashes)[0] == 0.0 and all(h.quality >= 50 for h in hashes)


def test_rotation_metadata_is_applied():
    upright = np.asarray(FRAMES[0])
    stored = [f.rotate(-90, expand=True) for f in FRAMES[:10]]  # turned clockwise on disk
    hashes = hash_video(encode_clip(stored, rotation=90), VideoSettings(sample_seconds=0)).frames
    assert PDQ.distance(hashes[0].pdq, pdq_of_rgb(upright).pdq) <= 12


def test_barred_frames_get_a_trimmed_variant():
    barred = encode_clip([with_bars(f, 320, 320) for f in FRAMES], gop=10)
    hashes = hash_video(barred, VideoSettings(sample_seconds=0)).frames
    assert times(hashes, "trimmed") == [0.0, 1.0, 2.0]
    trimmed = [h for h in hashes if h.variant == "trimmed"][0]
    assert PDQ.distance(trimmed.pdq, pdq_of_rgb(np.asarray(FRAMES[0])).pdq) <= 16


def test_long_videos_are_refused():
    with pytest.raises(MediaError, match="too_long"):
        hash_video(CLIP, VideoSettings(max_seconds=2.0)).frames
    with pytest.raises(MediaError, match="too_long"):
        hash_video(CLIP, VideoSettings(sample_seconds=0.1, max_frames=5)).frames


def audio_only() -> bytes:
    import io

    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for _ in range(4):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize(
    "data, reason",
    [
        (CLIP[: len(CLIP) // 2], "truncated"),
        (CLIP[:32] + bytes(4000), "corrupt"),
        (b"\x1a\x45\xdf\xa3" + bytes(200), "corrupt"),
        (audio_only(), "no_video_stream"),
    ],
)
def test_bad_videos_fail_with_a_reason(data, reason):
    with pytest.raises(MediaError) as caught:
        hash_video(data, VideoSettings()).frames
    assert caught.value.reason == reason, caught.value.detail


def test_every_video_stream_is_hashed():
    hidden = clip_frames(99, seconds=1.0)
    data = two_streams(FRAMES[:10], hidden)
    found = hash_video(data, VideoSettings(sample_seconds=0.5)).frames
    reference = pdq_of_rgb(np.asarray(hidden[0])).pdq
    assert min(PDQ.distance(h.pdq, reference) for h in found) <= 12  # the picture shown in stream 1 only


def test_a_video_cut_short_with_its_index_in_front_is_hashed_as_partial(tmp_path):
    whole = faststart(clip_frames(5, seconds=4.0), tmp_path / "clip.mp4")
    assert whole[4:8] == b"ftyp" and b"moov" in whole[:4096]
    complete = hash_video(whole, VideoSettings())
    cut = hash_video(whole[: len(whole) * 7 // 10], VideoSettings())
    assert not complete.partial and cut.partial
    assert 0 < len({h.time_s for h in cut.frames}) < len({h.time_s for h in complete.frames})
