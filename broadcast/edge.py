"""Run deploy/nginx/urok-edge.conf as a private nginx: for tests, benchmarks, single hosts.

The shipped configuration is rendered with a different origin, port and cache directory into a
directory of its own, wrapped in a minimal main configuration, and nginx runs in the foreground
as a child process that :meth:`NginxEdge.stop` ends.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

logger = logging.getLogger(__name__)

EDGE_CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "urok-edge.conf"
NGINX = "/usr/sbin/nginx"

_MAIN = """\
daemon off;
master_process on;
worker_processes {workers};
{user}
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
worker_rlimit_nofile 65536;
http {{
    access_log {access_log};
    client_body_temp_path {root}/client_temp;
    proxy_temp_path {root}/proxy_temp;
    fastcgi_temp_path {root}/fastcgi_temp;
    uwsgi_temp_path {root}/uwsgi_temp;
    scgi_temp_path {root}/scgi_temp;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    include {root}/urok-edge.conf;
}}
"""


def render(origin: str, port: int, cache_dir: Path, text: str | None = None) -> str:
    """The shipped edge configuration with the three marked values replaced."""
    conf = text if text is not None else EDGE_CONF.read_text()
    conf, n1 = re.subn(r"proxy_cache_path \S+", f"proxy_cache_path {cache_dir}", conf, count=1)
    conf, n2 = re.subn(r"server \S+;  # urok: origin", f"server {origin};  # urok: origin", conf)
    conf, n3 = re.subn(r"listen \d+", f"listen 127.0.0.1:{port}", conf, count=1)
    if (n1, n2, n3) != (1, 1, 1):
        raise ValueError("urok-edge.conf lost one of its marked lines")
    return conf


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class NginxEdge:
    """A private nginx running the edge configuration; ``stop()`` is idempotent."""

    def __init__(
        self, root: Path, origin: str, port: int, workers: int = 1, access_log: bool = False
    ) -> None:
        self.root = root
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        root.mkdir(parents=True, exist_ok=True)
        (root / "urok-edge.conf").write_text(render(origin, port, root / "cache"))
        log = f"{root}/access.log" if access_log else "off"
        user = "user root;" if _is_root() else ""
        main = _MAIN.format(root=root, workers=workers, access_log=log, user=user)
        (root / "nginx.conf").write_text(main)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("nginx") or NGINX
        self._proc = subprocess.Popen(
            [binary, "-p", str(self.root), "-c", str(self.root / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start: {self.error_log()}")
            time.sleep(0.05)

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text() if path.exists() else ""

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the master), for CPU accounting."""
        if self._proc is None:
            return []
        master = str(self._proc.pid)
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == master:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _is_root() -> bool:
    return os.geteuid() == 0
