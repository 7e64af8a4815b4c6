"""Where Apache Kafka comes from: a Java 17+ runtime and a classpath of Kafka's jars.

One code path for both sources: `make kafka`'s cache (.cache/kafka/libs, from kafka/pom.xml) or a standard
distribution (--kafka-home / KAFKA_HOME), whose libs/ folder is just another classpath.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

LIBS_ENV = "ELASTICC_STREAM_KAFKA_LIBS"
MIN_JAVA = 17  # Kafka 4.x brokers require Java 17
# A checkout's cache; engine/broker/kafka_home.py -> the repository root is three levels up.
CACHE_LIBS = Path(__file__).resolve().parents[2] / ".cache" / "kafka" / "libs"
HOW_TO_GET = "run `make kafka` in the elasticc-stream checkout, or set KAFKA_HOME to an Apache Kafka distribution"

# Small heap and fast start: the broker shares 2 cores with the test suite. Serial GC and the C1 compiler only
# start in a fraction of the time of the defaults (G1, C2) and are ample for a local broker.
JVM_FLAGS = ["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
             "-Xshare:auto", "-Djava.awt.headless=true"]
SERVER_CLASS = "kafka.Kafka"
STORAGE_CLASS = "kafka.tools.StorageTool"  # what bin/kafka-storage.sh runs in Kafka 4.x


@dataclass(frozen=True)
class KafkaRuntime:
    java: Path
    libs: Path

    @property
    def classpath(self) -> str:
        return str(self.libs / "*")

    def command(self, main_class: str, *args: str, log_config: Path | None = None) -> list[str]:
        logging = [f"-Dlog4j2.configurationFile={log_config}"] if log_config else []
        return [str(self.java), *JVM_FLAGS, *logging, "-cp", self.classpath, main_class, *args]


def find_runtime(kafka_home: Path | str | None = None) -> KafkaRuntime:
    return KafkaRuntime(java=find_java(), libs=find_libs(kafka_home))


def find_libs(kafka_home: Path | str | None = None) -> Path:
    """Kafka's jars: KAFKA_HOME/libs when a distribution is named, else $ELASTICC_STREAM_KAFKA_LIBS or the cache."""
    if kafka_home:
        home = Path(kafka_home)
        libs = home / "libs"
        if not _has_server(libs):
            raise UserError(f"{home} is not an Apache Kafka distribution: no libs/kafka_2.13-*.jar in it "
                            "(unpack kafka_2.13-4.x.tgz and name its folder)")
        return libs
    override = os.environ.get(LIBS_ENV)
    libs = Path(override) if override else CACHE_LIBS
    if not _has_server(libs):
        raise UserError(f"no Apache Kafka found (no kafka_2.13-*.jar in {libs}): {HOW_TO_GET}")
    return libs


def _has_server(libs: Path) -> bool:
    return libs.is_dir() and any(libs.glob("kafka_2.13-*.jar"))


def find_java() -> Path:
    """A Java 17+ `java`: $JAVA_HOME/bin/java when set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    if candidate is None or not candidate.is_file():
        found = shutil.which("java")
        if not found:
            raise UserError(f"Apache Kafka needs Java {MIN_JAVA} or newer and no `java` was found "
                            "(install a JDK, e.g. apt-get install openjdk-17-jre-headless, or set JAVA_HOME)")
        candidate = Path(found)
    major = java_major(candidate)
    if major < MIN_JAVA:
        raise UserError(f"Apache Kafka 4 needs Java {MIN_JAVA} or newer; {candidate} is Java {major} "
                        "(set JAVA_HOME to a newer JDK)")
    return candidate


def java_major(java: Path) -> int:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {java} -version: {exc}") from exc
    return parse_java_major(out.stderr + out.stdout)


def parse_java_major(text: str) -> int:
    """The major version in `java -version` output: "1.8.0_392" is 8, "17.0.15" is 17, "25" is 25."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise UserError(f"cannot tell the Java version from: {text.strip().splitlines()[:1]}")
    first = int(match.group(1))
    return int(match.group(2) or 0) if first == 1 else first
