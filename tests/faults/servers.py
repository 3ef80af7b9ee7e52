"""Servers that misbehave on purpose: one that accepts and never answers, one that answers
one byte at a time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class SlowServer:
    """A TCP server on 127.0.0.1 that sends `payload` one byte every `interval` seconds
    to each client (nothing at all when `payload` is empty), and never closes first."""

    payload: bytes = b""
    interval: float = 2.0
    connections: int = 0
    port: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _serve(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(client,), daemon=True).start()

    def _trickle(self, client: socket.socket) -> None:
        with client:
            for byte in self.payload:
                if self._stop.wait(self.interval):
                    return
                try:
                    client.sendall(bytes([byte]))
                except OSError:
                    return
            self._stop.wait()


@contextmanager
def slow_server(payload: bytes = b"", interval: float = 2.0) -> Iterator[SlowServer]:
    """Run a `SlowServer` for the length of the block."""
    server = SlowServer(payload, interval)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    server.port = listener.getsockname()[1]
    thread = threading.Thread(target=server._serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server._stop.set()
        listener.close()
        time.sleep(0)  # let the accept loop see the closed socket
