"""Runs one load client and reports the CPU each party used per call, next to its rate.

  cpu_per_call.py OUT LABEL [--server PID] [--postmaster PID] -- COMMAND...

COMMAND is h2load or pgbench; its standard output goes to OUT.txt and the call count is read
from it. OUT.json gets one object: the label, calls, wall seconds, calls per second and CPU
microseconds per call of the client (COMMAND and its children, from rusage), of the server
process (from /proc/PID/stat) and of PostgreSQL: every live process of the cluster plus what the
postmaster has reaped from backends that exited during the run (pgbench's own backends end with
it). The machine's busy CPU over the run (from /proc/stat) is recorded too, so the cores a run
kept busy can be compared with the cores there are.
"""

import json
import os
import re
import resource
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def process_seconds(pid, children=False):
    """User plus system seconds of a process (and, with children, of its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    own = int(fields[11]) + int(fields[12])
    reaped = int(fields[13]) + int(fields[14]) if children else 0
    return (own + reaped) / TICKS


def postgres_seconds(postmaster):
    """CPU of the cluster: the postmaster's children (live ones, and the ones it has reaped)."""
    if postmaster is None:
        return 0.0
    total = process_seconds(postmaster, children=True)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(postmaster):
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def busy_seconds():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS


def calls_in(output):
    h2load = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", output)
    if h2load:
        return int(h2load.group(2))
    pgbench = re.search(r"number of transactions actually processed: (\d+)", output)
    if pgbench:
        return int(pgbench.group(1))
    raise SystemExit("cpu_per_call.py: no call count in the client's output:\n" + output)


def main():
    args = sys.argv[1:]
    split = args.index("--")
    options, command = args[:split], args[split + 1:]
    out, label = options[0], options[1]
    server = int(options[options.index("--server") + 1]) if "--server" in options else None
    postmaster = int(options[options.index("--postmaster") + 1]) if "--postmaster" in options else None

    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = process_seconds(server) if server else 0.0
    postgres_before = postgres_seconds(postmaster)
    busy_before = busy_seconds()
    started = time.monotonic()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - started
    time.sleep(0.2)  # lets the postmaster reap the backends of a pgbench that just ended
    busy = busy_seconds() - busy_before
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out + ".txt", "w") as f:
        f.write(result.stdout)
    if result.returncode != 0:
        sys.stderr.write(result.stdout)
        raise SystemExit(result.returncode)
    calls = calls_in(result.stdout)
    client = (client_after.ru_utime - client_before.ru_utime) + (client_after.ru_stime - client_before.ru_stime)
    per_call = lambda seconds: round(seconds / calls * 1e6, 1) if calls else None
    record = {
        "label": label,
        "calls": calls,
        "seconds": round(wall, 2),
        "rate": round(calls / wall, 1),
        "client_us": per_call(client),
        "server_us": per_call(process_seconds(server) - server_before) if server else None,
        "postgres_us": per_call(postgres_seconds(postmaster) - postgres_before) if postmaster else None,
        "busy_cores": round(busy / wall, 2),
    }
    with open(out + ".json", "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()
