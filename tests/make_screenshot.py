"""Regenerate the README's picture of the review page (docs/review-page.png) from the bundled
sample: `python -m tests.make_screenshot`. Scans the sample, writes the page with `takedown-scan
report --html`, and has Debian's headless chromium take the screenshot.
"""
import os
import subprocess
import sys
import tempfile

from pipelines import report, scan
from pipelines.scan import SAMPLE
from tests.conftest import REPO
from tests.test_report import CHROMIUM, CHROMIUM_FLAGS

TARGET = os.path.join(REPO, "docs", "review-page.png")


def main() -> int:
    if CHROMIUM is None:
        print("Debian's chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        output = os.path.join(folder, "reports")
        argv = [f"--media={os.path.join(SAMPLE, 'media')}", f"--registry={os.path.join(SAMPLE, 'registry')}",
                f"--output={output}"]
        if scan.main(argv) != 0:
            return 2
        page = os.path.join(folder, "review.html")
        if report.main([output, f"--html={page}"]) != 0:
            return 2
        os.makedirs(os.path.dirname(TARGET), exist_ok=True)
        subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={os.path.join(folder, 'profile')}",
                        "--window-size=1280,720", "--hide-scrollbars", f"--screenshot={TARGET}", f"file://{page}"],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
