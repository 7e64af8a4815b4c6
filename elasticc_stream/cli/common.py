"""Pieces several subcommands share: the `-X` option, the size caps, a quiet stop on a closed pipe, running a
Textual app."""

from __future__ import annotations

import argparse
import os
import sys


def add_kafka_properties(p: argparse.ArgumentParser, what: str = "the Kafka clients") -> None:
    p.add_argument("-X", dest="properties", action="append", default=[], metavar="PROPERTY=VALUE",
                   help=f"librdkafka property for {what}, repeatable, as kcat takes them (e.g. "
                        "-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=U "
                        "-X sasl.password=P); secret values are never printed")


def add_size_caps(p: argparse.ArgumentParser, *, member: bool = False) -> None:
    p.add_argument("--max-alert-mb", type=_megabytes, metavar="MB",
                   help="cap on what one compressed alert (gzip, Avro container blocks) may inflate to; an alert "
                        "over it is reported and skipped (default 16, or $ELASTICC_STREAM_MAX_ALERT_MB)")
    if member:
        p.add_argument("--max-member-mb", type=_megabytes, metavar="MB",
                       help="cap on one archive member; a bigger member is reported and not written "
                            "(default 64, or $ELASTICC_STREAM_MAX_MEMBER_MB)")


def apply_size_caps(args: argparse.Namespace) -> None:
    """Make --max-alert-mb / --max-member-mb (or the environment) the caps of this run; UserError if bad."""
    from elasticc_stream.engine import limits
    from elasticc_stream.engine.errors import UserError

    for env in (limits.ALERT_ENV, limits.MEMBER_ENV):
        text = os.environ.get(env)
        if text is not None:
            try:
                _megabytes(text)
            except argparse.ArgumentTypeError as exc:
                raise UserError(f"{env} in the environment: {exc}") from None
    limits.configure(alert_mb=getattr(args, "max_alert_mb", None), member_mb=getattr(args, "max_member_mb", None))


def _megabytes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of MB: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 MB, not {text}")
    return value


def discard_stdout() -> None:
    """After a BrokenPipeError (`| head` left): point stdout at /dev/null so Python's exit flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def run_app(app) -> int:
    """Run a Textual app to its end and turn how it ended into an exit code."""
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code)


READ_REGISTRY = ("Confluent-compatible schema registry (Confluent, Apicurio's /apis/ccompat/v7, Karapace) for "
                 "Confluent-framed messages whose schema id is not one that lsst-alert-packet ships")


def add_registry_options(p: argparse.ArgumentParser, what: str = READ_REGISTRY) -> None:
    p.add_argument("--schema-registry", metavar="URL",
                   help=f"{what}; credentials in the URL are never printed")
    p.add_argument("--registry-property", dest="registry_properties", action="append", default=[],
                   metavar="NAME=VALUE",
                   help="registry client property, repeatable, as confluent-kafka's SchemaRegistryClient names "
                        "them (basic.auth.user.info=USER:PASS, ssl.ca.location=FILE, bearer.auth.*, timeout); "
                        "-X schema.registry.NAME=VALUE is the same")


def registry_from_args(args: argparse.Namespace, kafka: dict[str, str] | None = None):
    """The Registry that --schema-registry names (None without it), and the librdkafka properties left when
    the `schema.registry.` ones are taken out of `kafka`."""
    from elasticc_stream.engine.kafka_config import parse_properties
    from elasticc_stream.engine.wire.registry import split_kafka_properties

    kafka, from_x = split_kafka_properties(kafka or {})
    props = {**from_x, **parse_properties(getattr(args, "registry_properties", None))}
    url = getattr(args, "schema_registry", None) or props.get("url")
    props.pop("url", None)
    if not url:
        if props:
            from elasticc_stream.engine.errors import UserError

            raise UserError("registry properties given without --schema-registry URL")
        return None, kafka
    from elasticc_stream.engine.wire.registry import Registry

    return Registry(url, props), kafka
