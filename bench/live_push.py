"""Live push: 200 WebSocket clients on one incident, Redis channel layer, daphne serving
/ws/ as in production. For each round this process posts a comment through the real
action (PostgreSQL, broadcast on commit through Redis) and every client records when
the HTML carrying that comment arrives.

Latency = client receipt - the action's commit (an on_commit callback registered before
the action's own, so it runs first). Goal (issue 2): p99 <= 250 ms on this 2-core machine.

    python bench/live_push.py [--clients 200] [--rounds 30]
"""

import argparse
import asyncio
import os
import resource
import time

import websockets
from _harness import machine, session_cookie, setup_django, start_daphne, stop, summary

PORT = 8302


async def client(url, cookie, received, ready, counts, idx):
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{PORT}"}
    async with websockets.connect(url, additional_headers=headers, max_size=2**22) as ws:
        ready.release()
        async for message in ws:
            now = time.time()
            text = message if isinstance(message, str) else message.decode()
            for marker in received:
                if marker in text and idx not in received[marker]:
                    received[marker][idx] = now
            counts[idx] += 1


async def run(args, incident, actor, cookie):
    from asgiref.sync import sync_to_async
    from django.db import transaction

    from alertum.core.models import Door
    from incidents import actions

    url = f"ws://127.0.0.1:{PORT}/ws/incidents/{incident.pk}/?after={incident.last_seq}"
    received: dict[str, dict[int, float]] = {}
    counts = [0] * args.clients
    ready = asyncio.Semaphore(0)
    connect_started = time.perf_counter()
    tasks = [asyncio.create_task(client(url, cookie, received, ready, counts, i)) for i in range(args.clients)]
    for _ in range(args.clients):
        await asyncio.wait_for(ready.acquire(), 60)
    print(f"{args.clients} clients connected in {time.perf_counter() - connect_started:.1f}s")
    await asyncio.sleep(1)

    def post(marker):
        stamp = {}
        with transaction.atomic():
            transaction.on_commit(lambda: stamp.setdefault("t", time.time()))
            actions.add_comment(incident.pk, f"{marker} rollback progress", actor=actor, source=Door.API)
        return stamp["t"]

    latencies, missing = [], 0
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    for round_no in range(args.rounds):
        marker = f"bench-round-{round_no}-x"
        received[marker] = {}
        committed = await sync_to_async(post, thread_sensitive=False)(marker)
        deadline = time.monotonic() + 5
        while len(received[marker]) < args.clients and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        got = received.pop(marker)
        missing += args.clients - len(got)
        latencies.extend((t - committed) * 1000 for t in got.values())
        await asyncio.sleep(args.gap)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, missing, cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between rounds")
    args = parser.parse_args()

    setup_django(fresh=True)
    from alertum.core.models import Door, Membership, Role, Service, Team, User
    from incidents import actions

    team = Team.objects.create(name="Payments", slug="payments")
    actor = User.objects.create_user("bench", password="x" * 20, time_zone="Europe/Amsterdam")
    Membership.objects.create(user=actor, team=team, role=Role.RESPONDER)
    service = Service.objects.create(name="Checkout", slug="checkout", owner_team=team, tier=1)
    incident = actions.declare_incident(title="Checkout down", team=team, actor=actor, source=Door.API,
                                        services=[service], impact="outage")
    server = start_daphne(PORT)
    try:
        latencies, missing, client_cpu = asyncio.run(run(args, incident, actor, session_cookie(actor)))
        daphne_cpu = _proc_cpu(server.pid)
    finally:
        stop(server)
    print(f"machine: {machine()}")
    print(f"channel layer: channels-redis ({os.environ['REDIS_URL']}); database: PostgreSQL; server: one daphne")
    print(f"rounds: {args.rounds}, clients: {args.clients}, deliveries expected: {args.rounds * args.clients}, "
          f"missing after 5 s: {missing}")
    print(f"commit -> client receipt: {summary(latencies)}  (goal p99 <= 250 ms)")
    print(f"CPU: daphne {daphne_cpu:.1f}s, this load generator + actions {client_cpu:.1f}s")


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
