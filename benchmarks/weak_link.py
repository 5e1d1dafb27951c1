"""A TCP proxy on 127.0.0.1 that behaves like a weak internet link (tc netem is not available).

    python benchmarks/weak_link.py --upstream 127.0.0.1:8000 [--port 0] [--rtt-ms 150]
        [--mbit 20] [--drop-mb 30] [--seed 1]        # standalone; prints "port N"

The model, per link (not per connection):
- Latency: `--rtt-ms` is the ROUND-TRIP time; every byte is delayed by half of it in each
  direction. A new connection also waits one RTT before its first byte moves on (the TCP
  handshake a client would wait for on a real link), so a request on a fresh connection costs
  2 RTT until its first response byte, as it does over a real 150 ms path.
- Bandwidth: `--mbit` is shared by all connections, one token bucket per direction (a full
  duplex link), so ten parallel downloads share 20 Mbit/s instead of getting 20 each. The bucket
  is a virtual clock ("the link is busy until t"), which serializes chunks across connections
  like one bottleneck queue; chunks are at most 16 KiB (6.5 ms at 20 Mbit/s).
- Drops: after a random number of bytes (exponential, mean `--drop-mb` MB, counted across all
  connections, downstream), the connection that carries the next chunk is reset (both sides
  aborted with RST), mid-response, as a flaky uplink or a NAT timeout does. Seeded, so two runs
  of the same client see drops at the same byte counts.
Counters (bytes each way, connections, drops) are read with `WeakLink.stats()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import threading
import time
from dataclasses import dataclass, field

CHUNK = 16 * 1024


@dataclass
class LinkStats:
    bytes_down: int = 0  # upstream -> client (what a mirror downloads)
    bytes_up: int = 0
    connections: int = 0
    drops: int = 0
    started: float = field(default_factory=time.monotonic)


class _Bucket:
    """The bottleneck: a virtual clock saying until when the link is busy."""

    def __init__(self, bytes_per_s: float) -> None:
        self.rate = bytes_per_s
        self.busy_until = 0.0

    async def send(self, n: int) -> None:
        now = time.monotonic()
        start = max(now, self.busy_until)
        self.busy_until = start + n / self.rate
        delay = self.busy_until - now
        if delay > 0:
            await asyncio.sleep(delay)


class WeakLink:
    """The proxy, running its own event loop in a background thread."""

    def __init__(self, upstream: tuple[str, int], rtt_ms: float = 150, mbit: float = 20,
                 drop_mb: float | None = 30, seed: int = 1, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.upstream = upstream
        self.one_way = rtt_ms / 2000
        self.rtt = rtt_ms / 1000
        self.rate = mbit * 1e6 / 8
        self.drop_bytes = drop_mb * 1e6 if drop_mb else None
        self.rng = random.Random(seed)
        self.host, self.port = host, port
        self._stats = LinkStats()
        self._lock = threading.Lock()
        self._next_drop = self._draw_drop()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None

    # --- control (called from other threads) -----------------------------------------------
    def start(self) -> int:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("weak link did not start")
        return self.port

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        if self._thread is not None:
            self._thread.join(5)

    def stats(self) -> LinkStats:
        with self._lock:
            return LinkStats(**vars(self._stats))

    def reset(self) -> None:
        """Zero the counters (the drop schedule continues; it is per link, not per run)."""
        with self._lock:
            self._stats = LinkStats()

    # --- the link ---------------------------------------------------------------------------
    def _draw_drop(self) -> float:
        if self.drop_bytes is None:
            return float("inf")
        return self.rng.expovariate(1 / self.drop_bytes)

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._down = _Bucket(self.rate)
        self._up = _Bucket(self.rate)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, self.port, backlog=256))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.get_running_loop().stop()

    def _count(self, down: bool, n: int) -> bool:
        """Counts n bytes; True when the link drops this connection now."""
        with self._lock:
            if down:
                self._stats.bytes_down += n
                self._next_drop -= n
                if self._next_drop <= 0:
                    self._stats.drops += 1
                    self._next_drop = self._draw_drop()
                    return True
            else:
                self._stats.bytes_up += n
        return False

    async def _handle(self, c_reader: asyncio.StreamReader,
                      c_writer: asyncio.StreamWriter) -> None:
        try:
            await self._proxy(c_reader, c_writer)
        except asyncio.CancelledError:
            # Shutting down: asyncio's stream callback would report a cancelled task as an error.
            c_writer.transport.abort()

    async def _proxy(self, c_reader: asyncio.StreamReader,
                     c_writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self._stats.connections += 1
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.transport.abort()
            return
        handshake_done = time.monotonic() + self.rtt
        cut = asyncio.Event()
        pipes = [
            asyncio.ensure_future(self._pipe(c_reader, u_writer, self._up, False, handshake_done,
                                             cut)),
            asyncio.ensure_future(self._pipe(u_reader, c_writer, self._down, True, handshake_done,
                                             cut)),
        ]
        cut_wait = asyncio.ensure_future(cut.wait())
        done, _ = await asyncio.wait([*pipes, cut_wait], return_when=asyncio.FIRST_COMPLETED)
        if cut_wait in done:
            # A drop: RST both ends at once, whatever is still in flight is lost.
            c_writer.transport.abort()
            u_writer.transport.abort()
        else:
            # One side closed normally: let the other direction finish its in-flight bytes.
            await asyncio.wait([*pipes, cut_wait], timeout=self.rtt * 2 + 1,
                               return_when=asyncio.ALL_COMPLETED)
            if cut.is_set():
                c_writer.transport.abort()
                u_writer.transport.abort()
        for task in [*pipes, cut_wait]:
            task.cancel()
        for w in (c_writer, u_writer):
            with contextlib.suppress(Exception):
                w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    bucket: _Bucket, down: bool, not_before: float, cut: asyncio.Event) -> None:
        """Moves bytes one way: bottleneck (bucket), then propagation delay, then delivery."""
        # Bounded so that a client that stops reading makes the upstream stop sending.
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(maxsize=64)

        async def deliver() -> None:
            while True:
                item = await queue.get()
                if item is None:
                    with contextlib.suppress(OSError, RuntimeError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                at, data = item
                wait = at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        delivery = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    await queue.put(None)
                    break
                await bucket.send(len(data))
                if self._count(down, len(data)):
                    cut.set()
                    return
                at = max(time.monotonic(), not_before) + self.one_way
                await queue.put((at, data))
            await delivery
        except (ConnectionError, OSError):
            cut.set()
        finally:
            delivery.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description="Weak-link TCP proxy.")
    parser.add_argument("--upstream", required=True, help="HOST:PORT")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rtt-ms", type=float, default=150)
    parser.add_argument("--mbit", type=float, default=20)
    parser.add_argument("--drop-mb", type=float, default=30, help="0 = never drop")
    parser.add_argument("--seed", type=int, default=1)
    opts = parser.parse_args()
    host, _, port = opts.upstream.rpartition(":")
    link = WeakLink((host, int(port)), opts.rtt_ms, opts.mbit, opts.drop_mb or None, opts.seed,
                    port=opts.port)
    print(f"port {link.start()}", flush=True)
    try:
        while True:
            time.sleep(10)
            s = link.stats()
            print(f"down {s.bytes_down / 1e6:.1f} MB, up {s.bytes_up / 1e3:.0f} kB, "
                  f"{s.connections} connections, {s.drops} drops", flush=True)
    except KeyboardInterrupt:
        link.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
