"""The `tmk` command: TMK+PDQF hashes of video files as `.tmk` files, and the scores of two.

    takedown-scan tmk hash VIDEO... --out DIR     one DIR/NAME.tmk per video (the reference's format)
    takedown-scan tmk compare A B                 level-1 and level-2 scores of two videos or .tmk files, as JSON

The `.tmk` files are byte-compatible with the reference tools (`tmk-hash-video`,
`tmk-compare-two-tmks`), so a platform's own bank and a registry's values travel both ways.
A video that cannot be hashed, or a malformed `.tmk` file, is a one-line error and exit 2.
"""
import json
import os
import sys
from typing import List, Optional

from pipelines.config import OneLineParser, UsageError, run_command
from transforms.media.hashing import one_blas_thread
from transforms.media.videos import VideoSettings, hash_video
from transforms.reasons import MediaError
from transforms.signals import tmk

TMK_ONLY = VideoSettings(pdq_frames=False, tmk_interpolation="BICUBIC")  # the reference's scaling


def parser() -> OneLineParser:
    p = OneLineParser(prog="takedown-scan tmk", description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    hashing = commands.add_parser("hash", help="Write NAME.tmk for each video.")
    hashing.add_argument("videos", nargs="+", metavar="VIDEO")
    hashing.add_argument("--out", required=True, help="The folder for the .tmk files.")
    compare = commands.add_parser("compare", help="Score two videos or .tmk files.")
    compare.add_argument("a", metavar="A")
    compare.add_argument("b", metavar="B")
    return p


def features_of(path: str) -> tmk.TmkFeatures:
    """A .tmk file's features, or a video's (hashed here)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        if data.startswith(b"TMK1"):
            return tmk.from_bytes(data)
        features = hash_video(data, TMK_ONLY).tmk
    except tmk.TmkFormatError as e:
        raise UsageError(f"{path}: not a TMK+PDQF file ({e.reason}: {e})") from None
    except MediaError as e:
        raise UsageError(f"{path}: cannot be hashed ({e.reason}: {e.detail})") from None
    if features is None:
        raise UsageError(f"{path}: no frame could be decoded")
    return features


def command(argv: List[str]) -> None:
    args = parser().parse_args(argv)
    one_blas_thread()
    if args.command == "hash":
        os.makedirs(args.out, exist_ok=True)
        for path in args.videos:
            target = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0] + ".tmk")
            features = features_of(path)
            with open(target, "wb") as f:
                f.write(features.to_bytes())
            print(f"takedown-scan: {path}: {features.frame_count} frames -> {target}", file=sys.stderr)
    else:
        a, b = features_of(args.a), features_of(args.b)
        level1, level2 = tmk.level1(a, b), tmk.level2(a, b)
        match = level1 >= tmk.LEVEL1_THRESHOLD and level2 >= tmk.LEVEL2_THRESHOLD
        print(json.dumps({"level1": round(level1, 6), "level2": round(level2, 6), "match": match}))


def main(argv: Optional[List[str]] = None) -> int:
    return run_command(lambda: command(list(sys.argv[1:] if argv is None else argv)))
