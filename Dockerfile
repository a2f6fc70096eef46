# The call router. Build from the repository root:  docker build -t callrouter .
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
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
ENTRYPOINT ["callrouter", "run"]
