"""Installs the `pipelines` and `transforms` packages and the `takedown-scan` console script.

Also what Dataflow's --setup_file ships to the workers.
"""
from setuptools import find_packages, setup

setup(
    name="takedown-scan",
    version="0.1.0",
    description="Find copies of registry-listed images and videos in stored media (Apache Beam).",
    python_requires=">=3.10",
    packages=find_packages(include=["pipelines", "pipelines.*", "transforms", "transforms.*"]),
    package_data={"pipelines": ["sample/**/*"]},
    install_requires=[
        "apache-beam[gcp,aws]==2.77.0",
        "pdqhash==0.2.8",
        "Pillow>=11",
        "av>=18",  # VideoFrame.rotation, VideoStream.set_display_rotation
        "pyarrow>=16",
        "numpy>=2.0",
        "numba>=0.60",
        "PyYAML>=6",
        "threadpoolctl>=3.1",  # one BLAS thread while hashing (see transforms/media/hashing.py)
        "bottle>=0.13",  # the review desk's routes (transforms/reports/desk.py): one file, no dependencies
    ],
    extras_require={
        # Where a Dataflow job is launched with --setup_file: Beam packages the project with `python -m build`.
        "dataflow": ["build>=1"],
        "test": ["pytest>=8", "duckdb>=1.0", "moto[server]>=5", "gcp-storage-emulator>=2024.8", "build>=1",
                 "playwright>=1.40"],  # drives Debian's chromium through the review desk (tests/test_desk.py)
    },
    entry_points={"console_scripts": ["takedown-scan=pipelines.cli:run"]},
)
