"""`elasticc-stream replay`: the reference simulator's stream, printed with the reference's own lines."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

# Plain dataclasses: cheap to import, unlike the runner (confluent-kafka, fastavro).
from elasticc_stream.cli.common import add_kafka_properties, add_registry_options
from elasticc_stream.engine.replay import events as ev

MAX_LISTED_FAILURES = 50


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay", help="replay prepared alerts into Kafka as a timed stream (fink_simulator -c FILE.conf)",
        description="Send prepared ELAsTiCC alerts to a Kafka topic, earliest first, NALERTS_PER_OBS per "
                    "observation, TIME_INTERVAL seconds apart. Reads the reference simulator's .conf file "
                    "(or our .toml); flags override the file. Each message is one schemaless Avro alert "
                    "(Confluent-framed with --framing confluent), keyed by its writer schema unless --key says "
                    "otherwise.")
    p.add_argument("-c", "--config", metavar="FILE", help="configuration: reference .conf or our .toml")
    p.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka address (KAFKA_IPPORT)")
    p.add_argument("--topic", help="topic (KAFKA_TOPIC)")
    p.add_argument("--data", metavar="DIR", help="prepared alert folder (FINK_DATA_SIM)")
    p.add_argument("--per-obs", type=str, metavar="N", help="alerts per observation (NALERTS_PER_OBS)")
    p.add_argument("--observations", type=str, metavar="N",
                   help="observations to send, -1 for every alert (NOBSERVATIONS)")
    p.add_argument("--interval", type=str, metavar="SECONDS",
                   help="seconds between observation starts, 0 for no wait (TIME_INTERVAL)")
    p.add_argument("--display-field", metavar="PATH",
                   help="field printed for each observation's range, e.g. diaSource,midPointTai (Rubin: "
                        "diaSource,midpointMjdTai) or None (DISPLAY_FIELD)")
    p.add_argument("--schema", metavar="AVSC", help="encode every alert with this schema (EXTERNAL_SCHEMA)")
    p.add_argument("--partitions", type=str, metavar="N", help="partitions of a topic created here (NPARTITIONS)")
    p.add_argument("--key", choices=("schema", "object", "none"),
                   help="message key. schema (default): the writer schema as JSON, Fink's convention: fink-client's "
                        "AlertConsumer and consume decode with it. object: the diaObjectId in ASCII; fink-client "
                        "then needs schema_path, consume finds the schema itself. none: no key; readers need the "
                        "schema (fink-client schema_path, consume --schema or its shipped schemas). Whatever the "
                        "key, the partition is a stable hash of the diaObjectId (Kafka's murmur2, as a Java "
                        "producer keyed by it would pick), so each object's alerts stay in order")
    p.add_argument("--framing", choices=("none", "confluent"),
                   help="confluent: write Rubin's wire format (byte 0, 4-byte schema id, schemaless Avro); the id "
                        "from --schema-id, else --schema-registry (looked up or registered under TOPIC-value), "
                        "else the schema itself (Rubin lsst.vX_Y schemas); default none")
    p.add_argument("--schema-id", metavar="N", help="Confluent schema id to frame every message with")
    add_kafka_properties(p, "the producer")
    add_registry_options(p, "with --framing confluent: the registry where each writer schema's id is looked up "
                            "(or registered) under the subject TOPIC-value")
    p.add_argument("--by-visit", action="store_true", default=None,
                   help="one observation per exposure (alerts sharing midPointTai)")
    p.add_argument("--speed", type=str, metavar="F",
                   help="space observations by their real time gaps divided by F (1 = as it happened)")
    p.add_argument("--resume", action="store_true", default=None,
                   help="continue an interrupted replay from its checkpoint, sending nothing twice")
    p.add_argument("--from-scratch", action="store_true", default=None,
                   help="with --resume: set the checkpoint aside and send every alert again (e.g. the topic "
                        "was lost)")
    p.add_argument("--checkpoint", metavar="FILE", help="checkpoint file (default: beside the prepared index)")
    p.add_argument("--broker-timeout", metavar="SECONDS",
                   help="stop when the broker leaves alerts unconfirmed this long (default 30); a silence "
                        "of 10 s is reported as it happens")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import threading

    from elasticc_stream.engine.kafka_config import parse_properties
    from elasticc_stream.engine.replay import open_replay
    from elasticc_stream.engine.replay.config import load_replay_config
    from elasticc_stream.engine.wire.registry import split_kafka_properties

    kafka, registry_props = split_kafka_properties(parse_properties(args.properties))
    registry_props.update(parse_properties(args.registry_properties))
    overrides = {
        "bootstrap": args.bootstrap, "topic": args.topic, "data": args.data, "per_obs": args.per_obs,
        "observations": args.observations, "interval": args.interval, "display_field": args.display_field,
        "schema": args.schema, "partitions": args.partitions, "key": args.key, "by_visit": args.by_visit,
        "speed": args.speed, "resume": args.resume, "checkpoint": args.checkpoint,
        "kafka": kafka or None, "framing": args.framing, "schema_id": args.schema_id,
        "schema_registry": args.schema_registry or registry_props.pop("url", None), "registry": registry_props or None,
        "from_scratch": args.from_scratch, "broker_timeout": args.broker_timeout,
    }
    if args.config:
        _line(sys.stdout, f"Reading custom configuration file from {args.config}")
    config = load_replay_config(args.config, overrides)
    printer = ReplayPrinter()
    replayer = open_replay(config, printer)
    outcome: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["finished"] = replayer.run()
        except BaseException as exc:  # handed to the main thread, which reports it
            outcome["error"] = exc
        finally:
            done.set()

    # The replay runs in a worker so that Ctrl-C lands here and becomes a clean stop (flush, then report).
    worker = threading.Thread(target=work, name="replay", daemon=True)
    worker.start()
    # Waiting on an Event, not Thread.join: a Ctrl-C inside join() can leave the thread looking finished.
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        replayer.stop()
        _line(sys.stderr, "Stopping after the alerts already handed over are delivered (Ctrl-C again to quit now)")
        while not done.wait(0.2):
            pass
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    finished = outcome["finished"]
    assert isinstance(finished, ev.ReplayFinished)
    if finished.failed:
        return 1
    return 130 if finished.interrupted else 0


def _line(stream: TextIO, text: str) -> None:
    print(text, file=stream, flush=True)


class ReplayPrinter:
    """Turns replay events into the reference simulator's lines (stdout) and problems (stderr)."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, resume_hint: bool = True) -> None:
        self.out = out
        self.err = err
        # A replay into a throw-away broker (the demo's) cannot be resumed: say nothing about --resume there.
        self.resume_hint = resume_hint
        self.to_send = 0
        self.last_done = 0
        self.abandoned: set[str] = set()

    def __call__(self, event: object) -> None:
        out = self.out or sys.stdout
        err = self.err or sys.stderr
        if isinstance(event, ev.ReplayPlanned):
            self.to_send = event.to_send
            for note in event.notes:
                _line(out, note)
            _line(out, f"Kafka: {event.bootstrap}, topic {event.topic}")
            _line(out, f"Total alert available ({event.path}): {event.available}")
            _line(out, f"Total alert to be sent: {event.to_send}")
        elif isinstance(event, ev.ReplayStarted):
            _line(out, f"t0: {event.t0}")
        elif isinstance(event, ev.ObservationStarted):
            _line(out, f"Observation start: t0 + : {event.offset_s:.2f} seconds")
        elif isinstance(event, ev.ObservationDelivered):
            self.last_done = event.number
            if event.first is None and event.last is None:
                _line(out, f"{event.count} alerts sent")
            else:
                _line(out, f"{event.count} alerts sent ({event.first} to {event.last})")
            _line(out, f"Observation {event.number} done...")
        elif isinstance(event, ev.AlertFailed):
            if event.reason.startswith("abandoned"):
                # Given up with the broker (one line already said why): --resume sends them; no list of names.
                self.abandoned.add(event.file)
            else:
                _line(err, f"Not delivered: {event.file}: {event.reason}")
        elif isinstance(event, ev.Note):
            _line(out, event.text)
        elif isinstance(event, ev.ReplayFinished):
            self._summary(event, out, err)

    def _summary(self, event: ev.ReplayFinished, out: TextIO, err: TextIO) -> None:
        rate = event.delivered / event.seconds if event.seconds > 0 else 0.0
        _line(out, f"Summary: {event.sent} sent, {event.delivered} delivered, "
                   f"{event.failed} failed in {event.seconds:.2f} s "
                   f"({rate:.1f} alerts/s)")
        files = [f for f in event.failed_files if f not in self.abandoned]
        if len(files) < event.failed:
            _line(err, f"{event.failed - len(files)} alerts were handed over but not confirmed by the broker; "
                       "--resume checks the topic for them and sends those it does not hold")
        if files:
            _line(err, f"{len(files)} alerts were not delivered:")
            for name in files[:MAX_LISTED_FAILURES]:
                _line(err, f"  {name}")
            if len(files) > MAX_LISTED_FAILURES:
                _line(err, f"  ... and {len(files) - MAX_LISTED_FAILURES} more")
        if event.interrupted:
            hint = "; run again with --resume to continue" if self.resume_hint else ""
            _line(out, f"Interrupted after observation {self.last_done}: {event.delivered} of "
                       f"{self.to_send} alerts delivered in this run{hint}")
