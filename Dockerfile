# urok server image. The same steps as scripts/setup, in a container:
#   docker build -t urok .  &&  docker run -p 8080:8080 -p 7882:7882/udp urok
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# npm only for the browser libraries under web/ (hls.js); nothing is built
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/urok
COPY pyproject.toml README.md ./
COPY sfu sfu
COPY signaling signaling
COPY broadcast broadcast
COPY recordings recordings
COPY bench bench
RUN pip install -e .  # editable: web/ and the packages stay side by side in /srv/urok
COPY web web
RUN if [ -f web/package.json ]; then cd web && npm ci --omit=dev --no-audit --no-fund; fi

RUN useradd --system --home /srv/urok urok && mkdir -p /data && chown urok /data
USER urok

ENV UROK_HOST=0.0.0.0 UROK_PORT=8080 UROK_DATA_DIR=/data \
    UROK_UDP_PORT_MIN=7882 UROK_UDP_PORT_MAX=7882
EXPOSE 8080/tcp 7882/udp
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz'); sys.exit(0)"
CMD ["urok", "serve", "--no-demo"]
