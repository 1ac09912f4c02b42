"""Real servers for the tests: a free loopback port, and ``darkvoyage serve`` started, waited for
and stopped (its log in a file: a pipe nobody reads fills up after a few hundred access lines,
a fuzzer's worth, and then blocks the server's event loop on its next log line)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

EXE = str(Path(sys.executable).parent / "darkvoyage")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def darkvoyage_server(args: list[str], env: dict, log_path: Path, ready_s: float = 120.0):
    """``darkvoyage serve --port P *args`` until it answers ``/readyz``; yields (base URL, port)
    and stops it (its whole process group) after."""
    import httpx
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([EXE, "serve", "--port", str(port), *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + ready_s
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(Path(log_path).read_text()[-3000:])
                if time.time() > deadline:
                    raise RuntimeError(f"server did not get ready in {ready_s:g} s")
                time.sleep(0.5)
            yield base, port
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
