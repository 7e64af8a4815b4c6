"""`elasticc-stream broker start|stop|status`: the local Kafka-protocol broker for demos and tests."""

from __future__ import annotations

import argparse
import json
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "broker", help="start, stop or inspect a local Kafka-protocol broker",
        description="A local broker for demos and tests: the embedded Tansu broker (memory only) by default, or "
                    "Apache Kafka (--kafka: from `make kafka`'s classpath, or the distribution named by "
                    "--kafka-home / KAFKA_HOME) as one KRaft node or a 3-node cluster, its data kept in --dir. "
                    "Every other command works against any cluster by address, this one is only a convenience.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="start a broker in the background",
                               description="Start a broker on 127.0.0.1:PORT, wait until it answers, print its "
                                           "bootstrap address on stdout.")
    start.add_argument("--port", type=int, default=9092, help="listening port (default 9092; 0 picks a free one)")
    _add_dir(start)
    start.add_argument("--kafka-home", default=os.environ.get("KAFKA_HOME"),
                       help="run Apache Kafka from this distribution (bin/ + libs/) instead of the embedded "
                            "broker (default: $KAFKA_HOME when set)")
    start.add_argument("--kafka", action="store_true",
                       help="run Apache Kafka (Java 17+): from --kafka-home/KAFKA_HOME, else `make kafka`'s jars")
    start.add_argument("--nodes", type=int, default=1, choices=(1, 3),
                       help="Kafka nodes (default 1); 3: a replicated cluster on ports PORT, PORT+1, PORT+2 "
                            "(free ones with --port 0), replication factor 3, min.insync.replicas 2")
    start.add_argument("--embedded", action="store_true", help="use the embedded broker even if KAFKA_HOME is set")
    start.set_defaults(run=_start)

    node = actions.add_parser("node", help="stop, kill, freeze, thaw or restart one node of a local Kafka cluster",
                              description="Rehearse failures on the cluster started from --dir: stop (SIGTERM), "
                                          "kill (SIGKILL), freeze (SIGSTOP), thaw (SIGCONT) or restart node N "
                                          "(1-based, as `broker status` lists them).")
    node.add_argument("node_action", choices=("stop", "kill", "freeze", "thaw", "restart"), metavar="ACTION",
                      help="stop | kill | freeze | thaw | restart")
    node.add_argument("node_id", type=int, metavar="N", help="node number")
    _add_dir(node)
    node.add_argument("--kafka-home", default=os.environ.get("KAFKA_HOME"),
                      help="the distribution to restart the node from (default: $KAFKA_HOME, else `make kafka`'s)")
    node.set_defaults(run=_node)

    stop = actions.add_parser("stop", help="stop the broker started from --dir (not an error if none runs)")
    _add_dir(stop)
    stop.set_defaults(run=_stop)

    status = actions.add_parser("status", help="running or not, address, pid, topics and message counts")
    _add_dir(status)
    status.add_argument("--exact", action="store_true",
                        help="count messages by reading every one (default: offsets, corrected for the "
                             "embedded broker's undercounting high watermark)")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(run=_status)


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", help="state folder holding broker.pid and broker.log "
                                 "(default: ~/.local/state/elasticc-stream/broker)")


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _start(args: argparse.Namespace) -> int:
    from elasticc_stream.engine.broker.process import MEMORY_ONLY_NOTE, start_broker

    if args.port < 0 or args.port > 65535:
        from elasticc_stream.engine.errors import UserError

        raise UserError(f"--port {args.port}: not a port number")
    kafka_home = None if args.embedded else args.kafka_home
    kafka = not args.embedded and (args.kafka or bool(kafka_home))
    info = start_broker(args.port, args.dir, kafka_home=kafka_home, kafka=kafka, nodes=args.nodes)
    if info.kind == "kafka":
        from elasticc_stream.engine.broker.kafka_cluster import KEEPS_DATA_NOTE

        shape = "one KRaft node" if len(info.nodes) == 1 else f"{len(info.nodes)}-node KRaft cluster"
        pids = ", ".join(str(n["pid"]) for n in info.nodes)
        _err(f"started Apache Kafka ({shape}) on {info.address} (pid {pids}); log: {info.log_path}")
        _err(f"note: {KEEPS_DATA_NOTE.format(dir=info.state_dir)}")
    else:
        _err(f"started embedded Tansu broker on {info.address} (pid {info.pid}); log: {info.log_path}")
        _err(f"note: {MEMORY_ONLY_NOTE}")
    _err(f"stop it with: elasticc-stream broker stop --dir {info.state_dir}")
    print(info.address, flush=True)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from elasticc_stream.engine.broker.process import stop_broker

    info = stop_broker(args.dir)
    if info is None:
        _err("no broker running")
    else:
        _err(f"stopped broker on {info.address} (pid {info.pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    from elasticc_stream.engine.broker.process import broker_status
    from elasticc_stream.engine.broker.state import StateDir, default_state_dir

    status = broker_status(args.dir)
    info = status.info
    result: dict = {"running": status.running, "state_dir": str(StateDir(args.dir or default_state_dir()).path)}
    if info is not None:
        result.update(address=info.address, pid=info.pid, kind=info.kind, log=info.log_path)
    if status.running and info is not None:
        from elasticc_stream.engine.broker.inspect import list_topics

        topics = list_topics(info.address, exact=args.exact, tansu=info.kind == "tansu")
        result["topics"] = [{"name": t.name, "partitions": t.partitions, "messages": t.messages,
                             "replicas": [{"partition": p, "leader": leader, "replicas": list(reps), "isr": list(isr)}
                                          for p, leader, reps, isr in t.replicas]} for t in topics]
        result["counts"] = "read" if args.exact else "offsets"
    if info is not None and info.nodes:
        from elasticc_stream.engine.broker.state import process_alive

        result["nodes"] = [{**n, "up": process_alive(n["pid"])} for n in info.nodes]
    if args.json:
        print(json.dumps(result))
        return 0 if status.running else 1
    if not status.running:
        print("broker: not running" + (f" (stale pid file for pid {info.pid} removed on next start)"
                                       if status.stale and info else ""))
        return 1
    pids = ", ".join(str(n["pid"]) for n in info.nodes) if info.nodes else str(info.pid)
    print(f"broker: running, {info.kind}, {info.address}, pid {pids}")
    print(f"log: {info.log_path}")
    for n in result.get("nodes", []):
        print(f"node {n['id']}: {'up' if n['up'] else 'down'}, pid {n['pid']}, port {n['port']}")
    if not result["topics"]:
        print("topics: none")
    else:
        width = max(len(t["name"]) for t in result["topics"])
        print(f"{'topic':<{width}}  partitions  messages")
        for t in result["topics"]:
            print(f"{t['name']:<{width}}  {t['partitions']:>10}  {t['messages']:>8}")
        if info.kind == "kafka":
            for t in result["topics"]:
                for r in t["replicas"]:
                    isr = ",".join(str(i) for i in r["isr"])
                    print(f"  {t['name']} partition {r['partition']}: leader {r['leader']}, in sync {isr or '-'}")
    return 0


def _node(args: argparse.Namespace) -> int:
    from elasticc_stream.engine.broker.kafka_cluster import node_action
    from elasticc_stream.engine.broker.state import default_state_dir

    done = node_action(args.dir or default_state_dir(), args.node_action, args.node_id, args.kafka_home)
    past = {"stop": "stopped", "kill": "killed", "freeze": "froze", "thaw": "thawed", "restart": "restarted"}
    _err(f"{past[args.node_action]} node {args.node_id} (pid {done['pid']}, port {done['port']})")
    return 0
