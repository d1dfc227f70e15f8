"""Micro-benchmark behind a README finding: receiving 1 MiB size-prefixed frames over loopback
with asyncio's StreamReader.readexactly (plus the bytearray copy produce.py makes), as
odradek.server.connection does, against an asyncio.BufferedProtocol that parses frames in place
in a reused buffer. Prints MB/s and the event-loop thread's CPU per MB.

    python3 bench/micro_receive.py stream
    python3 bench/micro_receive.py buffered
"""
import asyncio, os, socket, struct, sys, time, threading, resource
FRAME = 1 << 20
TOTAL = 3000  # frames
def sender(port):
    s = socket.create_connection(("127.0.0.1", port))
    payload = struct.pack(">i", FRAME) + os.urandom(FRAME)
    for _ in range(TOTAL):
        s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()

async def stream_server(port_fut, done):
    async def handle(r, w):
        n = 0
        while n < TOTAL:
            size = struct.unpack(">i", await r.readexactly(4))[0]
            frame = await r.readexactly(size)
            buf = bytearray(frame)  # what produce.py does with the records
            n += 1
        done.set_result(n); w.close()
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 20)
    port_fut.set_result(srv.sockets[0].getsockname()[1])
    return srv

class Proto(asyncio.BufferedProtocol):
    def __init__(self, done):
        self.buf = bytearray(8 << 20); self.mv = memoryview(self.buf); self.start = 0; self.end = 0; self.n = 0; self.done = done
    def get_buffer(self, hint):
        if self.end == len(self.buf):
            raise RuntimeError
        return self.mv[self.end:]
    def buffer_updated(self, nbytes):
        self.end += nbytes
        while self.end - self.start >= 4:
            size = struct.unpack_from(">i", self.buf, self.start)[0]
            if self.end - self.start < 4 + size: break
            frame = self.mv[self.start + 4:self.start + 4 + size]  # zero-copy view, handled in place
            self.n += 1
            self.start += 4 + size
        if self.start == self.end:
            self.start = self.end = 0
        elif len(self.buf) - self.end < (2 << 20):
            rest = self.end - self.start
            self.buf[:rest] = self.mv[self.start:self.end]; self.start, self.end = 0, rest
        if self.n >= TOTAL and not self.done.done():
            self.done.set_result(self.n)
    def connection_made(self, t): self.t = t

async def main(kind):
    loop = asyncio.get_running_loop()
    port_fut = loop.create_future(); done = loop.create_future()
    if kind == "stream":
        srv = await stream_server(port_fut, done)
    else:
        srv = await loop.create_server(lambda: Proto(done), "127.0.0.1", 0)
        port_fut.set_result(srv.sockets[0].getsockname()[1])
    port = await port_fut
    th = threading.Thread(target=sender, args=(port,), daemon=True)
    r0 = resource.getrusage(resource.RUSAGE_THREAD)
    t0 = time.perf_counter()
    th.start()
    await done
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_THREAD)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(f"{kind:8s} {TOTAL * FRAME / 1e6 / dt:7.0f} MB/s  loop thread {cpu * 1000 / (TOTAL * FRAME / 1e6):.2f} ms CPU per MB")
    srv.close()

asyncio.run(main(sys.argv[1]))
