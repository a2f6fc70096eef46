# The call router. Build from the repository root:  docker build -t callrouter .
# PYTHON_IMAGE: any image with Python 3.11+ as `python` and `pip` on PATH (CI builds on its own, see
# scripts/container-images; a site uses the official image).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
WORKDIR /app
COPY pyproject.toml README.md LICENSE THIRD-PARTY.md ./
COPY router/ router/
COPY asterisk_sim/ asterisk_sim/
COPY prompts/manifest.yaml prompts/manifest.yaml
RUN pip install --no-cache-dir . && useradd --system --create-home callrouter && mkdir -p /var/lib/callrouter \
    && chown callrouter /var/lib/callrouter
COPY schedule.yaml /etc/callrouter/schedule.yaml
ENV CALLROUTER_SCHEDULE=/etc/callrouter/schedule.yaml \
    CALLROUTER_PROMPTS=/app/prompts/manifest.yaml \
    CALLROUTER_DATA=/var/lib/callrouter
USER callrouter
VOLUME ["/var/lib/callrouter"]
HEALTHCHECK --interval=30s --timeout=5s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8089/readyz')"]
ENTRYPOINT ["callrouter"]
CMD ["run"]
