# CI's Python base (scripts/container-images): Debian bookworm's python3 in a venv, `python` and `pip` on
# PATH as in the official python image. It trusts the CI machine's extra CA certificates, copied into the
# build context, so that pip inside a build verifies TLS there. CI only; a site builds on python:3.11-slim.
FROM callrouter-ci/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*
COPY *.crt /usr/local/share/ca-certificates/
RUN update-ca-certificates && python3 -m venv /opt/python && /opt/python/bin/pip install --quiet --upgrade pip
ENV PATH=/opt/python/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1
