"""The bench's load client: a separate gevent process driven by JSON commands, one per line on stdin.

geventhttpclient keeps a pool of keep-alive connections per target and parses responses in C, so one
greenlet per simulated client costs little; every answer reports this process' own CPU time so the
bench can show the client is not the bottleneck. Every command is bounded in requests and seconds.

Commands (each answered by one JSON line on stdout):
  {"op": "loop", "targets": [T, ...], "concurrency": C, "requests": N, "seconds": S}
      C greenlets; each iteration sends one request to every target (first target alternating),
      until N iterations or S seconds. Returns per-iteration latencies, so targets can be paired.
  {"op": "paced", "targets": [T, ...], "requests": N, "rate": R, "seconds": S, "collect": "id"}
      open loop: a request every 1/R s, to each target in turn; collects the JSON field `collect`.
  {"op": "hold", "name": H, "target": T, "requests": N, "seconds": S}
      starts N requests at once in the background and answers when all are sent.
  {"op": "hold_wait", "name": H}   waits for a hold to finish and returns its results.
  {"op": "quit"}
A target T is {"host", "port", "method", "path", "headers": {}, "keys": [auth header values], "body": str | null}.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from gevent.fileobject import FileObjectPosix  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402

BLOCK_SIZE = 64 * 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Target:
    def __init__(self, spec: dict, *, concurrency: int, timeout: float):
        self.method = spec.get("method", "GET")
        self.path = spec["path"]
        headers = spec.get("headers") or {}
        # Several API keys: requests take them in turn, so load spreads over users like real traffic.
        self.header_sets = [{**headers, "Authorization": key} for key in spec.get("keys") or []] or [headers]
        self.sent = 0
        body = spec.get("body")
        self.body = body.encode() if isinstance(body, str) else body
        self.client = HTTPClient(
            spec["host"],
            spec["port"],
            concurrency=concurrency,
            connection_timeout=min(timeout, 30),
            network_timeout=timeout,
            block_size=BLOCK_SIZE,
        )

    def send(self, collect: str | None = None) -> tuple[float, int | str, object]:
        """(latency in ms, status or error name, the collected field) of one request, body read in full."""
        headers = self.header_sets[self.sent % len(self.header_sets)]
        self.sent += 1
        started = time.perf_counter()
        try:
            response = self.client.request(self.method, self.path, body=self.body, headers=headers)
            body = response.read()
            status = response.status_code
        except Exception as error:
            return (time.perf_counter() - started) * 1000, type(error).__name__, None
        elapsed = (time.perf_counter() - started) * 1000
        value = None
        if collect and status < 300:
            value = json.loads(body).get(collect)
        return elapsed, status, value

    def close(self) -> None:
        self.client.close()


def _timeout(command: dict) -> float:
    return float(command.get("timeout", max(30.0, float(command.get("seconds", 30)))))


def op_loop(command: dict) -> dict:
    concurrency = int(command["concurrency"])
    targets = [Target(spec, concurrency=concurrency, timeout=_timeout(command)) for spec in command["targets"]]
    budget = int(command["requests"])
    deadline = time.monotonic() + float(command["seconds"])
    iterations: list[list] = []
    state = {"left": budget}

    def client() -> None:
        while state["left"] > 0 and time.monotonic() < deadline:
            state["left"] -= 1
            number = budget - state["left"]
            order = list(range(len(targets)))
            if number % 2:
                order.reverse()  # alternate which target goes first, so neither always sees a warm path
            row: list = [None] * len(targets)
            for index in order:
                latency, status, _ = targets[index].send()
                row[index] = [round(latency, 3), status]
            iterations.append(row)

    cpu, wall = _cpu(), time.perf_counter()
    gevent.joinall([gevent.spawn(client) for _ in range(concurrency)])
    result = {"iterations": iterations, "wall": time.perf_counter() - wall, "client_cpu": _cpu() - cpu}
    for target in targets:
        target.close()
    return result


def op_paced(command: dict) -> dict:
    requests, rate = int(command["requests"]), float(command["rate"])
    concurrency = int(command.get("concurrency", 64))
    specs = command.get("targets") or [command["target"]]
    targets = [Target(spec, concurrency=concurrency, timeout=_timeout(command)) for spec in specs]
    deadline = time.monotonic() + float(command["seconds"])
    results: list = []

    def one(number: int) -> None:
        index = number % len(targets)
        sent = time.time()
        latency, status, value = targets[index].send(command.get("collect"))
        results.append({"target": index, "sent": sent, "latency": round(latency, 3), "status": status, "value": value})

    cpu, wall = _cpu(), time.perf_counter()
    greenlets = []
    start = time.monotonic()
    for number in range(requests):
        if time.monotonic() >= deadline:
            break
        gevent.sleep(max(0.0, start + number / rate - time.monotonic()))
        greenlets.append(gevent.spawn(one, number))
    gevent.joinall(greenlets, timeout=max(1.0, deadline - time.monotonic()) + _timeout(command))
    for target in targets:
        target.close()
    return {"results": results, "wall": time.perf_counter() - wall, "client_cpu": _cpu() - cpu}


_holds: dict[str, dict] = {}


def op_hold(command: dict) -> dict:
    requests = int(command["requests"])
    target = Target(command["target"], concurrency=requests, timeout=_timeout(command))
    results: list = []

    def one() -> None:
        latency, status, _ = target.send()
        results.append([round(latency, 3), status])

    cpu = _cpu()
    greenlets = []
    for _ in range(requests):
        greenlets.append(gevent.spawn(one))
        if len(greenlets) % 50 == 0:
            gevent.sleep(0)  # let the spawned ones connect and send
    gevent.sleep(0)
    _holds[command["name"]] = {"greenlets": greenlets, "results": results, "target": target, "cpu": cpu}
    return {"spawned": len(greenlets)}


def op_hold_wait(command: dict) -> dict:
    hold = _holds.pop(command["name"])
    gevent.joinall(hold["greenlets"], timeout=float(command.get("seconds", 600)))
    hold["target"].close()
    return {"results": hold["results"], "client_cpu": _cpu() - hold["cpu"]}


OPS = {"loop": op_loop, "paced": op_paced, "hold": op_hold, "hold_wait": op_hold_wait}


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 65536):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    stdin = FileObjectPosix(sys.stdin.fileno(), "rb")  # cooperative: held requests run while we wait here
    while True:
        line = stdin.readline()
        if not line:
            return
        command = json.loads(line)
        if command["op"] == "quit":
            return
        try:
            answer = OPS[command["op"]](command)
        except Exception as error:
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
