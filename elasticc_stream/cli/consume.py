"""`elasticc-stream consume`: read an alert stream, decode every message exactly, print, save.

Standard output carries only alerts (one line each, or JSON Lines with --json); everything else (the group
id, warnings, decode errors, the live count and the end summary) goes to standard error, so that
`consume --json > alerts.jsonl` or `| jq` sees nothing but alerts.
"""

from __future__ import annotations

import argparse
import sys

from elasticc_stream.cli.common import (
    add_kafka_properties,
    add_registry_options,
    add_size_caps,
    discard_stdout,
    registry_from_args,
)
from elasticc_stream.cli.consume_status import KafkaErrors, Status, err

JSON_HELP = """\
--json writes one object per alert and line: {"topic", "partition", "offset", "timestamp_ms",
"latency_s", "schema" (label), "fingerprint", "alert" (the decoded record)}. Values are exact: floats are
written as the shortest text that reads back to the same double; bytes (cutouts) are standard base64 text
(padded); NaN and infinities, which JSON cannot hold, are the strings "NaN", "Infinity", "-Infinity"."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "consume",
        help="read an alert stream from Kafka, decode every message, print or save the alerts",
        description="Consume a Kafka topic of alerts (schemaless Avro, Avro containers, gzipped; the writer "
                    "schema from --schema, from the message key, or the shipped ELAsTiCC schemas; Rubin's "
                    "Confluent-framed Avro by schema id: --schema, lsst-alert-packet's schemas, then "
                    "--schema-registry), print one "
                    "line per alert and a summary. Offsets are committed: a second run with the same --group "
                    "continues where the first stopped.",
        epilog=JSON_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-c", "--config", metavar="FILE",
                   help="read KAFKA_IPPORT / KAFKA_TOPIC (.conf) or bootstrap / topic / [kafka] (.toml); "
                        "flags override it")
    p.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap server(s)")
    p.add_argument("--topic", metavar="T", help="topic to read")
    p.add_argument("--group", metavar="G",
                   help="consumer group id (default: a unique elasticc-stream-USER-HOST-XXXXXX, printed); "
                        "reuse one to resume where it stopped")
    p.add_argument("--schema", metavar="AVSC",
                   help="writer schema of schemaless messages (default: the message key when it holds a "
                        "schema, else the shipped ELAsTiCC schemas, each accepted only if it decodes exactly; "
                        "for Confluent-framed messages, tried before the schema of their id)")
    add_registry_options(p)
    p.add_argument("--max", type=int, metavar="N", dest="max_alerts", help="stop after N alerts")
    p.add_argument("--timeout", type=float, metavar="S", help="stop after S seconds without a message")
    p.add_argument("--json", action="store_true", help="JSON Lines on standard output (see below)")
    p.add_argument("--save", metavar="DIR",
                   help="also write each alert to DIR as an Avro file with its schema embedded "
                        "(alert_src<diaSourceId>.avro, ZTF <objectId>_<candid>.avro; never overwrites a different "
                        "alert; one that cannot be written is reported with its offset and the run goes on)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="decode (and --save) in N worker processes while this one reads, prints in the stream's "
                        "order and commits (default: one per CPU, at most 4; 0 decodes here); not with "
                        "--dump-schema or a schema registry")
    p.add_argument("--from", dest="start", choices=("earliest", "latest"), default="earliest",
                   help="where a group without committed offsets starts (default: earliest)")
    add_kafka_properties(p, "the consumer")
    p.add_argument("--offsets", action="store_true",
                   help="print the group's committed offset and lag per partition, then exit (needs --group)")
    p.add_argument("--dump-schema", metavar="FILE",
                   help="write the first writer schema seen (from the key, the container or --schema) to FILE")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the broker's first answer (default: 10)")
    add_size_caps(p)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from elasticc_stream.engine.consume.group import placeholder_warning
    from elasticc_stream.engine.errors import UserError
    from elasticc_stream.engine.kafka_config import parse_properties, redact

    # With -v, librdkafka's own lines reach stderr through the one handler main.py attaches for every command.
    bootstrap, topic, props = args.bootstrap, args.topic, {}
    if args.config:
        from elasticc_stream.engine.config.settings import load_kafka_settings

        # Same rule as replay -c: a key that a flag replaces is not read from the file at all.
        given = {name for name, value in (("bootstrap", bootstrap), ("topic", topic)) if value}
        conf_bootstrap, conf_topic, props = load_kafka_settings(args.config, overridden=given)
        bootstrap = bootstrap or conf_bootstrap
        topic = topic or conf_topic
    if not bootstrap:
        raise UserError("no Kafka address: give --bootstrap HOST:PORT (or KAFKA_IPPORT / bootstrap in -c FILE)")
    if not topic:
        raise UserError("no topic: give --topic T (or KAFKA_TOPIC / topic in -c FILE)")
    props = {**props, **parse_properties(args.properties)}
    registry, props = registry_from_args(args, props)  # -X schema.registry.* go to the registry client
    if args.group:
        warning = placeholder_warning(args.group)
        if warning:
            err(f"warning: {warning}")
    if props:
        err("kafka properties: " + ", ".join(f"{k}={v}" for k, v in redact(props).items()))
    if args.offsets:
        return _offsets(args, bootstrap, topic, props)
    if args.connect_timeout <= 0:
        raise UserError("--connect-timeout must be positive")
    return _consume(args, bootstrap, topic, props, registry)


def _offsets(args: argparse.Namespace, bootstrap: str, topic: str, props: dict) -> int:
    import json

    from elasticc_stream.engine.consume.offsets import WATERMARK_NOTE, group_offsets
    from elasticc_stream.engine.errors import UserError

    if not args.group:
        raise UserError("--offsets needs --group G (the default group id is new on every run)")
    report = group_offsets(bootstrap, topic, args.group, props, timeout=args.connect_timeout)
    from elasticc_stream.engine.broker.identify import is_tansu

    # Only Tansu's watermarks undercount; Apache Kafka's lag is exact and gets no note.
    note = WATERMARK_NOTE if is_tansu(bootstrap, props, timeout=args.connect_timeout) else None
    if args.json:
        rows = [vars(p) for p in report.partitions]
        print(json.dumps({"topic": topic, "group": args.group, "partitions": rows,
                          "total_lag": report.total_lag, "note": note}))
        return 0
    print(f"group {args.group} on topic {topic} at {bootstrap}")
    print(f"{'partition':>9} {'committed':>10} {'low':>10} {'high':>10} {'lag':>10}")
    for p in report.partitions:
        committed = "-" if p.committed is None else str(p.committed)
        print(f"{p.partition:>9} {committed:>10} {p.low:>10} {p.high:>10} {p.lag:>10}")
    # The committed column holds offsets: a count of partitions does not belong in it.
    print(f"{'total':>9} {'':>10} {'':>10} {'':>10} {report.total_lag:>10}"
          f"   ({report.committed_partitions} of {len(report.partitions)} partitions committed)")
    if note:
        print(f"note: {note}")
    return 0


def _consume(args: argparse.Namespace, bootstrap: str, topic: str, props: dict, registry: object) -> int:
    import signal

    from elasticc_stream.engine.consume.events import AlertReceived, AlertsRendered, ConsumeFinished, DecodeFailed
    from elasticc_stream.engine.consume.jsonl import json_line
    from elasticc_stream.engine.consume.stream import AlertStream, ConsumeOptions
    from elasticc_stream.engine.errors import UserError

    schema = None
    if args.schema:
        from elasticc_stream.engine.decoder import load_schema_file

        schema = load_schema_file(args.schema)
    saver = None
    if args.save:
        from elasticc_stream.engine.consume.save import AlertSaver

        saver = AlertSaver(args.save)
    status = Status(enabled=sys.stderr.isatty(), interleaved=sys.stdout.isatty() and sys.stderr.isatty())
    write_alert = json_line if args.json else _human_line
    workers = _workers(args, registry)
    stream = AlertStream(
        ConsumeOptions(bootstrap, topic, group=args.group, schema=schema, max_alerts=args.max_alerts,
                       timeout=args.timeout, start=args.start, kafka=props,
                       connect_timeout=args.connect_timeout, registry=registry,
                       workers=workers, render=write_alert, save_dir=args.save if workers else None),
        on_kafka_error=KafkaErrors(status),
        on_connected=lambda: announce(),
    )

    def announce() -> None:
        # Only once the broker answered: before an error, a group id is noise.
        if registry is not None:
            status.line(f"schema registry: {registry.shown} "
                        "(for framed messages of an id lsst-alert-packet does not ship)")
        status.line(f"group id: {stream.group_id}"
                    + ("" if args.group else "  (pass --group with it to continue from here later)"))
    out = sys.stdout
    dumped = args.dump_schema is None
    interrupted = False

    def write(text: str) -> bool:
        """False once the reader has gone (`| head -3`): what was not written stays uncommitted."""
        if status.interleaved:
            status.clear()
        try:
            out.write(text)
            out.flush()  # a pipe (| jq, | tee) sees each alert as it arrives, not a block later
        except BrokenPipeError:
            discard_stdout()
            status.line(f"output closed: stopped after {status.alerts} alerts")
            return False
        status.count(alerts=1)
        return True

    def not_saved(event, reason: str) -> None:
        # Reported with its offset; the next alerts are still saved. Not committed either: the group's next run
        # reads it (and what follows in its partition) again.
        status.line(f"not saved: {event.topic}[{event.partition}] offset {event.offset}: {reason}")
        stream.hold(event.topic, event.partition, event.offset)

    def on_sigint(signum, frame) -> None:
        nonlocal interrupted
        interrupted = True
        stream.stop()
        # A second Ctrl-C is not gentle any more.
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    events = stream.events()
    try:
        for event in events:
            if type(event) is AlertReceived:
                if saver is not None:
                    try:
                        saver.save(event.alert)
                    except UserError as exc:
                        not_saved(event, str(exc))
                if not dumped:
                    _dump_schema(args.dump_schema, event.alert, status)
                    dumped = True
                if not write(write_alert(event)):
                    return 0
            elif type(event) is AlertsRendered:  # decoded (and saved) by the workers
                for line, saved in zip(event.lines, event.saved or (None,) * len(event.lines), strict=True):
                    if saver is not None and saved is not None:
                        if saved[0] == "failed":
                            not_saved(event, saved[1])
                        saver.count(saved[0])
                    if not write(line):
                        return 0
            elif type(event) is DecodeFailed:
                status.line(f"decode error: {event.topic}[{event.partition}] offset {event.offset}: "
                            f"{event.reason}")
                status.count(errors=1)
            elif type(event) is ConsumeFinished:
                out.flush()
                status.clear()
                _summary(event, stream, saver, interrupted, args, status)
                if not dumped:
                    status.line(f"no alert received: schema not written to {args.dump_schema}")
    finally:
        events.close()  # commits what was handled (and written), whichever way the loop ended
        signal.signal(signal.SIGINT, previous)
        status.clear()
    return 130 if interrupted else 0  # 128 + SIGINT, as for every other command stopped by Ctrl-C


def _workers(args: argparse.Namespace, registry: object) -> int:
    """How many processes decode (and save) the alerts (0: this one). Not with --dump-schema, which needs the
    first decoded alert here, nor with a registry client, which is not shared with workers."""
    import os

    from elasticc_stream.engine.errors import UserError

    eligible = not args.dump_schema and registry is None
    if args.workers is not None:
        if args.workers < 0:
            raise UserError(f"--workers must be 0 or more, not {args.workers}")
        if args.workers and not eligible:
            raise UserError("--workers cannot be combined with --dump-schema or a schema registry")
        return args.workers
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, cpus) if eligible and cpus > 1 else 0


def _human_line(event) -> str:
    alert = event.alert
    where = f"{event.topic}[{event.partition}]@{event.offset}"
    if alert.family.current is not None:
        s = alert.family.summary(alert.record)
        fields = " ".join(f"{name}={_num(value) if what == 'flux' else value}"
                          for what, (name, value) in zip(s.family.order, s.pairs(), strict=True))
        return f"{fields}  {where}\n"
    return f"alert ({len(alert.record)} fields, schema {alert.schema_label} {alert.fingerprint})  {where}\n"


def _num(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _dump_schema(path: str, alert, status: Status) -> None:
    import json
    import os

    from elasticc_stream.engine.errors import UserError

    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(alert.schema, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write schema to {path}: {exc.strerror or exc}") from None
    status.line(f"schema ({alert.schema_label}, fingerprint {alert.fingerprint}) written to {path}")


def _summary(event, stream, saver, interrupted: bool, args: argparse.Namespace, status: Status) -> None:
    if interrupted:
        reason = "interrupted"
    elif stream.stop_reason == "max":
        reason = f"--max {args.max_alerts} reached"
    elif stream.stop_reason == "timeout":
        reason = f"no message for {args.timeout:g} s"
    else:
        reason = stream.stop_reason or "stopped"
    errors = f"{event.errors} decode error{'s' if event.errors != 1 else ''}"
    status.line(f"summary: {event.alerts} alert{'s' if event.alerts != 1 else ''}, {errors} in "
                f"{event.seconds:.1f} s ({reason}); group {stream.group_id}")
    if event.redelivered:
        status.line(f"  {event.redelivered} messages delivered again by the broker (after a stall or a "
                    "rebalance) were skipped: each offset is counted once")
    if event.offsets:
        status.line("  next offsets: " + " ".join(f"{k}={v}" for k, v in event.offsets.items()))
    if event.alerts:
        status.line(f"  rate: {event.rate:.1f} alerts/s")
    if event.latency_max is not None:
        # Messages already in the topic when this consumer joined waited there: their figure is age, not the
        # stream's latency.
        backlog, alerts = getattr(stream, "backlog_alerts", 0), max(1, event.alerts)
        if backlog >= alerts:
            what = "age (Kafka timestamp to receipt; all were in the topic before this consumer joined)"
        elif backlog:
            what = (f"latency and age (Kafka timestamp to receipt; {backlog} of {event.alerts} were in the topic "
                    "before this consumer joined: for them it is age)")
        else:
            what = "latency (Kafka timestamp to receipt)"
        status.line(f"  {what}: p50 {_secs(event.latency_p50)}, "
                    f"p99 {_secs(event.latency_p99)}, max {_secs(event.latency_max)}")
    if saver is not None:
        status.line(f"  saved: {saver.written} file{'s' if saver.written != 1 else ''} in {saver.directory}"
                    + (f" ({saver.skipped} already there)" if saver.skipped else "")
                    + (f"; {saver.failed} not saved (reported above)" if saver.failed else ""))


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"
