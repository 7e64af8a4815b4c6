"""`elasticc-stream tui`: watch a replay and the stream live in a terminal UI."""

from __future__ import annotations

import argparse

from elasticc_stream.cli.common import (
    add_kafka_properties,
    add_registry_options,
    add_size_caps,
    registry_from_args,
    run_app,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tui",
        help="watch the stream live: replay progress, arriving alerts, decoded alerts and light curves",
        description=(
            "A terminal UI. With -c it can run the replay itself (--start starts it at once, otherwise press s); "
            "it always consumes the topic to show what arrives. Keys: 1 Replay, 2 Stream, Enter opens an alert, "
            "? lists every key, q quits."
        ),
    )
    p.add_argument("-c", "--config", metavar="FILE",
                   help="replay configuration: the reference .conf file or our .toml")
    p.add_argument("--start", action="store_true", help="start the replay as soon as the app opens")
    p.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka address (overrides the configuration's)")
    p.add_argument("--topic", metavar="T", help="topic to watch (overrides the configuration's)")
    p.add_argument("--from", dest="start_from", choices=("earliest", "latest"), default="earliest",
                   help="where the app's new consumer group starts reading (default: earliest)")
    add_kafka_properties(p, "the producer and the consumer")
    add_registry_options(p)
    add_size_caps(p)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from elasticc_stream.engine.errors import UserError
    from elasticc_stream.engine.kafka_config import parse_properties

    registry, extra = registry_from_args(args, parse_properties(args.properties))
    config = None
    if args.config:
        from elasticc_stream.engine.replay.config import load_replay_config

        config = load_replay_config(args.config, {"bootstrap": args.bootstrap, "topic": args.topic,
                                                  "kafka": extra or None})
    elif args.start:
        raise UserError("--start needs a replay configuration: pass -c FILE.conf or -c FILE.toml")
    bootstrap = args.bootstrap or (config.bootstrap if config else None)
    topic = args.topic or (config.topic if config else None)
    if not bootstrap or not topic:
        raise UserError("nothing to watch: pass -c FILE, or --bootstrap HOST:PORT and --topic T")
    if config is None:
        from elasticc_stream.engine.config.values import check_bootstrap, check_topic

        check_bootstrap(bootstrap, "command line", "--bootstrap")
        check_topic(topic, "command line", "--topic")
    kafka = {**(config.kafka if config else {}), **extra}

    from elasticc_stream.tui.app import ElasticcStreamApp

    app = ElasticcStreamApp(config, bootstrap, topic, kafka, start=args.start, consume_from=args.start_from,
                            registry=registry)
    return run_app(app)
