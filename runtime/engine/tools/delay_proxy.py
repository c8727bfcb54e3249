#!/usr/bin/env python3
"""A TCP proxy that delays what it forwards, each way, by a fixed time: a network between
a production node and its PostgreSQL server on a machine that has none (a container has
no `tc netem`). Used by nodes_bench.sh (DELAY_MS=...). Order is kept: every chunk waits
the same time. Not a benchmark of its own; its CPU is the benchmark's noise, so pace the
load (`--rate`) when using it.

    delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS
"""
import asyncio
import sys


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            loop.call_later(delay, writer.write, data)
    except (ConnectionError, OSError):
        pass
    # Close after what was read has been written.
    await asyncio.sleep(delay)
    try:
        writer.close()
    except (ConnectionError, OSError):
        pass


async def main():
    listen, target, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000

    async def serve(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w, delay), pipe(server_r, client_w, delay))

    server = await asyncio.start_server(serve, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
