# One image for the Dataflow Flex Template launcher and for the workers (README, "Dataflow"):
# Beam's Python SDK image with takedown-scan installed, and Google's Flex Template launcher.
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/takedown-scan:TAG .
FROM apache/beam_python3.11_sdk:2.77.0

# The launcher binary of Google's Flex Template base image for Python 3.11.
COPY --from=gcr.io/dataflow-templates-base/python311-template-launcher-base:latest \
    /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

WORKDIR /template
COPY setup.py README.md ./
COPY pipelines ./pipelines
COPY transforms ./transforms
COPY configs ./configs
RUN pip install --no-cache-dir -e ".[dataflow]"

# What the launcher runs; with these set, the scan submits the job and returns without waiting.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/pipelines/scan.py
ENV FLEX_TEMPLATE_PYTHON_SETUP_FILE=/template/setup.py
# The workers start through Beam's SDK harness boot, as in the SDK image.
ENTRYPOINT ["/opt/apache/beam/boot"]
