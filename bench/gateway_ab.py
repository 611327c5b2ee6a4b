"""A/B of gateway builds: which of two (or more) gateway executables forwards calls for less CPU.

  gateway_ab.py BACKEND_SERVER ROUNDS NAME=GATEWAY [NAME=GATEWAY ...]

Starts the gRPC C++ backend (`BACKEND_SERVER`, built by scripts/bench-gateway.sh) and every
gateway at once, all checking the same EdDSA token, then runs h2load (16 x 16, 150 000
EmptyCalls with the token) against each gateway in turn, reversing the order every round, so
that each build sees the host's drift as often as the other. Prints each round, then per build
the median rate and the median CPU per call of the gateway and of the backend (from /proc).
Environment: GATEWAY_ENV_<NAME>="KEY=VALUE ..." adds environment variables to one build (for
example LOG_LEVEL=info to include access logging). Ports 20380 and up.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from catalog_tokens import TokenMinter  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
BACKEND_PORT = 20380


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_for_port(port, process):
    for _ in range(100):
        if process.poll() is not None:
            raise SystemExit(f"a server on port {port} exited at start")
        if subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def main():
    backend_server, rounds, builds = sys.argv[1], int(sys.argv[2]), [a.split("=", 1) for a in sys.argv[3:]]
    if not builds:
        raise SystemExit(__doc__)
    work = tempfile.mkdtemp(prefix="gateway-ab-")
    minter = TokenMinter(kid="ab")
    token = minter.token("ab", "viewer", subject="ab", lifetime=3600, token_id="ab")
    config = os.path.join(work, "auth.conf")
    with open(config, "w") as f:
        f.write(f"route grpc.testing.* 127.0.0.1:{BACKEND_PORT}\nauth keys {minter.public_keys}\n")
    with open(os.path.join(work, "empty.bin"), "wb") as f:
        f.write(b"\0\0\0\0\0")
    processes = []
    try:
        backend = subprocess.Popen([backend_server, str(BACKEND_PORT)], stderr=subprocess.DEVNULL)
        processes.append(backend)
        wait_for_port(BACKEND_PORT, backend)
        gateways = []
        for index, (name, binary) in enumerate(builds):
            env = dict(os.environ, LOG_LEVEL="warning")
            for pair in os.environ.get(f"GATEWAY_ENV_{name}", "").split():
                key, value = pair.split("=", 1)
                env[key] = value
            port = BACKEND_PORT + 1 + index
            process = subprocess.Popen([binary, "--config", config, "--port", str(port)], env=env,
                                       stderr=subprocess.DEVNULL)
            processes.append(process)
            wait_for_port(port, process)
            gateways.append((name, port, process))
        results = {name: [] for name, _ in builds}
        for round_index in range(rounds):
            for name, port, process in gateways if round_index % 2 == 0 else gateways[::-1]:
                command = ["h2load", "-n", "150000", "-c", "16", "-m", "16", "-t", "1",
                           "-d", os.path.join(work, "empty.bin"), "-H", "content-type: application/grpc",
                           "-H", "te: trailers", "-H", f"authorization: Bearer {token}",
                           f"http://127.0.0.1:{port}/grpc.testing.TestService/EmptyCall"]
                gateway_before, backend_before = cpu_seconds(process.pid), cpu_seconds(backend.pid)
                started = time.monotonic()
                output = subprocess.run(command, capture_output=True, text=True).stdout
                wall = time.monotonic() - started
                calls = int(re.search(r"(\d+) succeeded", output).group(1))
                gateway_us = (cpu_seconds(process.pid) - gateway_before) / max(calls, 1) * 1e6
                backend_us = (cpu_seconds(backend.pid) - backend_before) / max(calls, 1) * 1e6
                results[name].append((calls / wall, gateway_us, backend_us))
                print(f"round {round_index + 1} {name:12} {calls / wall:8.0f} req/s  gateway {gateway_us:5.1f} µs/call"
                      f"  backend {backend_us:5.1f} µs/call", flush=True)
        print("median over the rounds:")
        for name, rows in results.items():
            print(f"  {name:12} {statistics.median(r[0] for r in rows):8.0f} req/s  gateway "
                  f"{statistics.median(r[1] for r in rows):5.1f} µs/call  backend "
                  f"{statistics.median(r[2] for r in rows):5.1f} µs/call")
    finally:
        for process in processes:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
