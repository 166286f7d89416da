#!/usr/bin/env python3
"""An Atoll framework in Python, built from nothing but Atoll's .proto files and stock gRPC.

It subscribes to the scheduler's FrameworkService and runs N tasks in the offers it gets. Task i
hashes the output of `seq 1 COUNT` (COUNT = 1000 * (i + 1)) with sha256sum. The framework
acknowledges every status update, retries a task that fails or is lost, reads each finished
task's stdout back through LogService.TaskLogs, prints every task's digest and a combined digest
(the SHA-256 of the task digests, each followed by a newline, in task order), tears itself down
and exits 0.

The gRPC stubs are generated at start, with grpc_tools.protoc, into a temporary directory.

Exit codes: 0 done; 1 the run failed (a task failed too often, the scheduler refused a call or
ended the framework, the time limit passed); 2 bad arguments or stubs that would not compile.
"""

import argparse
import collections
import hashlib
import importlib
import logging
import re
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

import grpc

log = logging.getLogger("framework")

# The protos this framework calls; protoc also gets every file they import.
PROTOS = ["atoll/v1/frameworks.proto", "atoll/v1/logs.proto"]

# Task i's command: its number comes in COUNT, and FAIL_ON_PURPOSE=1 (--flaky) makes it fail.
COMMAND = (
    'if [ "$FAIL_ON_PURPOSE" = 1 ]; then echo "failing on purpose" >&2; exit 3; fi; '
    'seq 1 "$COUNT" | sha256sum | cut -d" " -f1'
)

# Unary calls give up after this long.
CALL_TIMEOUT_SECS = 30
# How often the framework subscribes again after losing its stream, before it gives up.
RESUBSCRIBE_ATTEMPTS = 8


class Fatal(Exception):
    """The run cannot go on."""


class CallFailed(Fatal):
    """The scheduler refused a call, or could not be reached for it."""

    def __init__(self, method, error):
        super().__init__(f"{method}: {error.code().name}: {error.details()}")
        self.code = error.code()


class Disconnected(Exception):
    """The subscription ended; subscribing again (with the framework id) may carry on."""


def parse_args(argv):
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(
        description="An example Atoll framework: runs TASKS tasks that each hash a sequence of "
        "numbers, reads their output through the scheduler and prints a combined SHA-256.",
        epilog="Example, against `atoll dev` (gRPC on 127.0.0.1:7070): %(prog)s --tasks 6",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--scheduler",
        default="127.0.0.1:7070",
        help="the scheduler's gRPC address, HOST:PORT (http:// or https:// in front also do)",
    )
    parser.add_argument("--name", default="py-checksums", help="the framework's name")
    parser.add_argument("--role", default="analytics", help="the role whose share the framework draws on")
    parser.add_argument("--tasks", type=positive_int, default=6, help="how many tasks to run")
    parser.add_argument("--cpus", type=positive_float, default=0.1, help="CPUs per task")
    parser.add_argument("--ram-mb", type=positive_int, default=16, help="RAM per task, MiB")
    parser.add_argument("--disk-mb", type=positive_int, default=16, help="disk per task, MiB")
    parser.add_argument(
        "--max-attempts", type=positive_int, default=3, help="runs of a task, the first included, before the run fails"
    )
    parser.add_argument(
        "--flaky",
        type=int,
        default=0,
        metavar="K",
        help="make the first attempt of tasks 0..K-1 fail on purpose, to show retries",
    )
    parser.add_argument(
        "--failover-timeout", type=float, default=60.0, help="seconds the scheduler keeps the tasks after the stream ends"
    )
    parser.add_argument(
        "--refuse-seconds",
        type=float,
        default=30.0,
        help="how long declined offers (and what launches leave unused) stay away; reviving clears it",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds the whole run may take")
    parser.add_argument("--token", help="a bearer token, sent as `authorization: Bearer TOKEN` with every call")
    parser.add_argument("--ca-cert", help="a CA certificate (PEM) to check an https:// scheduler against")
    parser.add_argument(
        "--proto-dir",
        type=Path,
        default=here.parent.parent.parent / "proto",
        help="the directory holding atoll/v1/*.proto (the repository's proto/)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also log heartbeats and every task state")
    args = parser.parse_args(argv)
    if args.flaky < 0:
        parser.error("--flaky must be 0 or more")
    if args.ca_cert and not args.scheduler.startswith("https://"):
        parser.error("--ca-cert checks an https:// scheduler; give --scheduler https://HOST:PORT, or drop --ca-cert")
    if not (args.proto_dir / PROTOS[0]).is_file():
        parser.error(f"{args.proto_dir} holds no {PROTOS[0]}; give the repository's proto/ with --proto-dir")
    return args


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def import_closure(proto_dir, roots):
    """The files `roots` name and every file they import, transitively, found under proto_dir
    (imports that are not there, such as google/protobuf/*, come with grpc_tools)."""
    seen, todo = [], list(roots)
    while todo:
        name = todo.pop()
        if name in seen or not (proto_dir / name).is_file():
            continue
        seen.append(name)
        text = (proto_dir / name).read_text()
        todo.extend(re.findall(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', text, re.MULTILINE))
    return sorted(seen)


def generate_stubs(proto_dir, out_dir):
    """Compiles the protos into Python modules in out_dir and imports them: returns the message
    modules and the service modules, by short name (frameworks, logs, types)."""
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    command = [
        "grpc_tools.protoc",
        f"--proto_path={proto_dir}",
        f"--proto_path={well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *import_closure(proto_dir, PROTOS),
    ]
    if protoc.main(command) != 0:
        print(f"protoc could not compile the protos in {proto_dir} (its errors are above)", file=sys.stderr)
        raise SystemExit(2)
    # The generated modules import each other as `atoll.v1.NAME_pb2`: out_dir is their root.
    sys.path.insert(0, str(out_dir))
    importlib.invalidate_caches()
    messages = {name: importlib.import_module(f"atoll.v1.{name}_pb2") for name in ("frameworks", "logs", "types")}
    services = {name: importlib.import_module(f"atoll.v1.{name}_pb2_grpc") for name in ("frameworks", "logs")}
    return messages, services


def open_channel(address, ca_cert):
    """A channel to `address` (HOST:PORT, or a URL with http:// or https://)."""
    secure = address.startswith("https://")
    target = re.sub(r"^https?://", "", address).rstrip("/")
    options = []
    if target.split(":")[0] in ("127.0.0.1", "localhost", "[::1]"):
        # gRPC honours http_proxy; a scheduler on this machine is never behind one.
        options.append(("grpc.enable_http_proxy", 0))
    if not secure:
        return grpc.insecure_channel(target, options=options)
    root = Path(ca_cert).read_bytes() if ca_cert else None
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=root), options=options)


class HeartbeatWatch:
    """Cancels the subscription when the scheduler has sent nothing for five heartbeat intervals,
    so the framework notices a scheduler that went quiet and subscribes again."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stream = None
        self._last = time.monotonic()
        self._interval = None
        self.fired = False
        threading.Thread(target=self._run, daemon=True).start()

    def watch(self, stream):
        with self._lock:
            self._stream, self._last, self._interval, self.fired = stream, time.monotonic(), None, False

    def saw_event(self, heartbeat_interval=None):
        with self._lock:
            self._last = time.monotonic()
            if heartbeat_interval:
                self._interval = heartbeat_interval

    def _run(self):
        while True:
            time.sleep(0.5)
            with self._lock:
                quiet = time.monotonic() - self._last
                if self._stream is not None and self._interval and quiet > 5 * self._interval:
                    log.warning("no event for %.0f s (heartbeats every %g s): subscribing again", quiet, self._interval)
                    self.fired = True
                    self._stream.cancel()
                    self._stream = None


class Framework:
    def __init__(self, args, messages, services, channel):
        self.args = args
        self.pb = messages["frameworks"]
        self.logs_pb = messages["logs"]
        self.types = messages["types"]
        self.frameworks = services["frameworks"].FrameworkServiceStub(channel)
        self.logs = services["logs"].LogServiceStub(channel)
        self.metadata = [("authorization", f"Bearer {args.token}")] if args.token else []
        self.deadline = time.monotonic() + args.timeout
        self.watch = HeartbeatWatch()

        self.framework_id = ""
        self.stream_id = ""
        self.suppressed = False
        self.pending = collections.deque(range(args.tasks))  # task indices waiting for an offer
        self.attempts = [0] * args.tasks  # runs launched, per task index
        self.running = {}  # our task id -> task index, for the attempt of each task under way
        self.digests = {}  # task index -> the digest its stdout holds

    # --- calls ---------------------------------------------------------------------------------

    def call(self):
        """What every call after Subscribe names."""
        return self.pb.FrameworkCall(framework_id=self.framework_id, stream_id=self.stream_id)

    def unary(self, name, request):
        """Calls FrameworkService.NAME; raises CallFailed if that fails."""
        try:
            return getattr(self.frameworks, name)(request, metadata=self.metadata, timeout=CALL_TIMEOUT_SECS)
        except grpc.RpcError as error:
            raise CallFailed(name, error) from None

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Fatal(f"the run did not finish within {self.args.timeout:.0f} s")
        return left

    # --- the subscription ------------------------------------------------------------------------

    def run(self):
        """Subscribes, and subscribes again (failover) when the stream is lost, until every task
        has finished; then prints the result and tears the framework down."""
        losses = 0
        while True:
            try:
                self.subscribe_and_serve()
                break
            except Disconnected as lost:
                losses += 1
                if losses > RESUBSCRIBE_ATTEMPTS:
                    raise Fatal(f"lost the subscription {losses} times; the last: {lost}") from None
                pause = min(2**losses, 15)
                log.warning("%s; subscribing again in %d s", lost, pause)
                time.sleep(min(pause, self.remaining()))
        self.report()

    def subscribe_and_serve(self):
        info = self.pb.FrameworkInfo(
            name=self.args.name, role=self.args.role, failover_timeout_secs=self.args.failover_timeout
        )
        # A framework that comes back with nothing left to launch wants no offers.
        request = self.pb.FrameworkSubscribeRequest(
            info=info, framework_id=self.framework_id, suppressed=bool(self.framework_id) and not self.pending
        )
        stream = self.frameworks.Subscribe(request, metadata=self.metadata, timeout=self.remaining())
        self.suppressed = request.suppressed
        self.watch.watch(stream)
        try:
            for event in stream:
                self.watch.saw_event()
                kind = event.WhichOneof("event")
                handler = getattr(self, f"on_{kind}", None)
                if handler is None:
                    # An event of a newer proto than this framework was written for.
                    log.debug("ignoring an event of kind %s", kind)
                    continue
                handler(getattr(event, kind))
                if len(self.digests) == self.args.tasks:
                    # Done: end the framework while this subscription is still its own.
                    self.teardown()
                    stream.cancel()
                    return
        except grpc.RpcError as error:
            code = error.code()
            if code == grpc.StatusCode.CANCELLED and self.watch.fired:
                raise Disconnected("the scheduler went quiet") from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise Fatal(f"the run did not finish within {self.args.timeout:.0f} s") from None
            if code == grpc.StatusCode.UNAVAILABLE and self.framework_id:
                raise Disconnected(f"the subscription ended: {error.details()}") from None
            raise Fatal(f"Subscribe: {code.name}: {error.details()}") from None
        raise Disconnected("the scheduler ended the stream")

    def teardown(self):
        """Ends the framework (its tasks, its offers); best effort once the run has failed."""
        if self.framework_id:
            self.unary("Teardown", self.pb.TeardownRequest(call=self.call()))
            log.info("tore down framework %s", self.framework_id)
            self.framework_id = ""

    # --- events ----------------------------------------------------------------------------------

    def on_subscribed(self, subscribed):
        again = bool(self.framework_id)
        self.framework_id, self.stream_id = subscribed.framework_id, subscribed.stream_id
        self.watch.saw_event(subscribed.heartbeat_interval_secs)
        log.info(
            "subscribed as %s (%s, stream %s, heartbeats every %g s)",
            self.framework_id,
            "resubscribed" if subscribed.resubscribed else "new",
            self.stream_id,
            subscribed.heartbeat_interval_secs,
        )
        if again and self.running:
            # Updates may have been missed while disconnected: ask for the state of every task
            # under way (the answers come as updates without a uuid).
            request = self.pb.ReconcileRequest(call=self.call(), task_ids=sorted(self.running))
            self.unary("Reconcile", request)

    def on_offers(self, offers):
        need = (self.args.cpus, self.args.ram_mb, self.args.disk_mb)
        for offer in offers.offers:
            free = [offer.resources.cpu, offer.resources.ram_mb, offer.resources.disk_mb]
            chosen = []
            while self.pending and all(n <= f for n, f in zip(need, free)):
                chosen.append(self.pending.popleft())
                free = [f - n for n, f in zip(need, free)]
            if chosen:
                self.launch(offer, chosen)
            else:
                self.decline(offer)
        if not self.pending and not self.suppressed:
            self.unary("Suppress", self.call())
            self.suppressed = True
            log.info("every task is launched: suppressed offers")

    def launch(self, offer, indices):
        tasks = [self.task_info(index) for index in indices]
        request = self.pb.AcceptRequest(
            call=self.call(), offer_ids=[offer.id], tasks=tasks, refuse_seconds=self.args.refuse_seconds
        )
        try:
            response = self.unary("Accept", request)
        except CallFailed as refused:
            if refused.code != grpc.StatusCode.FAILED_PRECONDITION:
                raise  # tasks the scheduler finds invalid would be refused again in any offer
            # The offer was rescinded or timed out in the meantime: the tasks wait for another.
            log.warning("offer %s: %s", offer.id, refused)
            self.pending.extendleft(reversed(indices))
            return
        for index, task, atoll_id in zip(indices, tasks, response.atoll_task_ids):
            self.attempts[index] += 1
            self.running[task.task_id] = index
            log.info("launched %s on %s (atoll task %s)", task.task_id, offer.hostname, atoll_id)

    def task_info(self, index):
        attempt = self.attempts[index] + 1
        fail = index < self.args.flaky and attempt == 1
        return self.pb.TaskInfo(
            # Unique among the framework's tasks: a retry is a new task.
            task_id=f"sum-{index}.{attempt}",
            resources=self.types.Resources(cpu=self.args.cpus, ram_mb=self.args.ram_mb, disk_mb=self.args.disk_mb),
            command=COMMAND,
            environment={"COUNT": str(count(index)), "FAIL_ON_PURPOSE": "1" if fail else "0"},
        )

    def decline(self, offer):
        request = self.pb.DeclineRequest(
            call=self.call(), offer_ids=[offer.id], refuse_seconds=self.args.refuse_seconds
        )
        try:
            self.unary("Decline", request)
        except CallFailed as refused:
            log.warning("offer %s: %s", offer.id, refused)

    def on_update(self, update):
        state = self.types.TaskState.Name(update.state).removeprefix("TASK_STATE_")
        index = self.running.get(update.task_id)
        if index is None:
            # A duplicate (updates come at least once), an earlier attempt's, or an answer about
            # a task that ended already: nothing to do but acknowledge it.
            log.debug("update for %s (%s), not under way", update.task_id, state)
        elif state == "FINISHED":
            del self.running[update.task_id]
            self.digests[index] = self.read_digest(update)
            log.info("%s finished on %s (%d of %d)", update.task_id, update.hostname, len(self.digests), self.args.tasks)
        elif state in ("FAILED", "LOST", "KILLED"):
            # KILLED too: a framework's task is killed by preemption or draining, not by this one.
            del self.running[update.task_id]
            exit_code = f"exit code {update.exit_code}" if update.HasField("exit_code") else "no message"
            why = f"{update.task_id} {state} on {update.hostname or '?'}: {update.message or exit_code}"
            if self.attempts[index] >= self.args.max_attempts:
                raise Fatal(f"{why}; giving up after {self.attempts[index]} attempts")
            log.warning("%s; retrying", why)
            self.pending.append(index)
            if self.suppressed:
                self.unary("Revive", self.call())
                self.suppressed = False
        else:
            log.debug("%s %s on %s", update.task_id, state, update.hostname)
        # Acknowledge only after handling it: an update not acknowledged is sent again.
        if update.uuid:
            request = self.pb.AcknowledgeRequest(call=self.call(), task_id=update.task_id, uuid=update.uuid)
            self.unary("Acknowledge", request)

    def on_heartbeat(self, _heartbeat):
        log.debug("heartbeat")

    def on_rescind(self, rescind):
        # Offers are answered as they come, so none is held here to forget.
        log.info("offer %s rescinded: %s", rescind.offer_id, rescind.reason)

    def on_failure(self, failure):
        log.warning("agent %s (%s) was lost; its tasks come as LOST", failure.agent_id, failure.hostname)

    def on_error(self, error):
        # The last event: torn down by an operator, or replaced by a newer subscription. Either
        # way this instance has nothing left to tear down.
        self.framework_id = ""
        raise Fatal(f"the scheduler ended this framework's subscription: {error.message}")

    # --- results ---------------------------------------------------------------------------------

    def read_digest(self, update):
        """The digest a finished task printed, read from its stdout through the scheduler."""
        request = self.logs_pb.TaskLogsRequest(
            job=update.job, instance=update.instance, stream=self.logs_pb.LOG_STREAM_STDOUT
        )
        job = "/".join((update.job.cluster, update.job.role, update.job.environment, update.job.name))
        for attempt in range(1, 6):
            try:
                chunks = self.logs.TaskLogs(request, metadata=self.metadata, timeout=CALL_TIMEOUT_SECS)
                text = b"".join(chunk.data for chunk in chunks).decode(errors="replace").strip()
                break
            except grpc.RpcError as error:
                # UNAVAILABLE: the agent cannot be reached this moment.
                if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == 5:
                    raise Fatal(f"reading {job}/{update.instance}'s stdout: {error.code().name}: {error.details()}")
                time.sleep(attempt)
        if not re.fullmatch(r"[0-9a-f]{64}", text):
            raise Fatal(f"{update.task_id} ({job}/{update.instance}) printed {text!r}, not a SHA-256")
        return text

    def report(self):
        for index in range(self.args.tasks):
            print(f"task {index}: sha256(seq 1 {count(index)}) = {self.digests[index]}")
        combined = hashlib.sha256("".join(f"{self.digests[i]}\n" for i in range(self.args.tasks)).encode())
        print(f"combined: {combined.hexdigest()}", flush=True)


def count(index):
    return 1000 * (index + 1)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr
    )
    with tempfile.TemporaryDirectory(prefix="atoll-stubs-") as stubs:
        messages, services = generate_stubs(args.proto_dir.resolve(), Path(stubs))
        with open_channel(args.scheduler, args.ca_cert) as channel:
            framework = Framework(args, messages, services, channel)
            try:
                framework.run()
            except Fatal as failure:
                log.error("failed: %s", failure)
                try:
                    framework.teardown()
                except CallFailed as error:
                    log.error("%s", error)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
