"""What a local Neo4j needs once per machine: the jars, fetched with Maven, and a class archive.

The Community distribution is assembled from Maven artifacts (the DBMS, its HTTP/Bolt server
and Neo4j Browser) with ``mvn dependency:copy-dependencies`` into a cache folder shared by every
checkout.

A start spends seconds loading and verifying classes from some two hundred jars. The JVM can
map them from a class-data-sharing archive instead (AppCDS); ``graphdb.local.server`` makes one per
distribution and Java build by starting and stopping a scratch server once, and starts every
later server from it (docs/bench-notes.md: a start of the Gowalla graph went from 7.0 s to 4.3 s).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphdb.local.server import ServerConfig

POM_TEMPLATE = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>interest-graph</groupId>
  <artifactId>neo4j-distribution</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.neo4j</groupId><artifactId>neo4j</artifactId><version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.neo4j.client</groupId><artifactId>neo4j-browser</artifactId>
      <version>{browser_version}</version>
    </dependency>
    <!-- The importer's Parquet reader (hadoop-common) needs these at run time; the neo4j
         artifact leaves them out. Versions as hadoop-common 3.5.0 declares them. -->
    <dependency>
      <groupId>com.fasterxml.woodstox</groupId><artifactId>woodstox-core</artifactId>
      <version>5.4.0</version>
    </dependency>
    <dependency>
      <groupId>org.apache.commons</groupId><artifactId>commons-collections4</artifactId>
      <version>4.4</version>
    </dependency>
    <dependency>
      <groupId>org.apache.commons</groupId><artifactId>commons-configuration2</artifactId>
      <version>2.10.1</version>
    </dependency>
    <dependency>
      <groupId>org.apache.hadoop.thirdparty</groupId><artifactId>hadoop-shaded-guava</artifactId>
      <version>1.5.0</version>
    </dependency>
  </dependencies>
</project>
"""


class ServerError(RuntimeError):
    """Raised when the local Neo4j server cannot be fetched, started or stopped."""


def java_executable() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServerError(
            "a Java 17 or 21 runtime is needed to run Neo4j "
            "(apt-get install openjdk-17-jre-headless)"
        )
    return java


def _pom_text(config: ServerConfig) -> str:
    return POM_TEMPLATE.format(version=config.version, browser_version=config.browser_version)


def _marker_text(config: ServerConfig) -> str:
    return f"{config.version} {hashlib.sha256(_pom_text(config).encode()).hexdigest()}\n"


def ensure_distribution(config: ServerConfig) -> Path:
    """Fetch the Neo4j jars with Maven once; later calls return the cached folder.

    The cache is marked with a digest of the POM it was fetched with, so a cache made by an
    older checkout (with fewer artifacts) is fetched again rather than used as it is.
    """
    marker = config.distribution_dir / ".complete"
    if marker.exists() and marker.read_text() == _marker_text(config):
        return config.lib_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServerError(
            "Maven (mvn) is needed to fetch Neo4j; install it (apt-get install maven)"
        )
    config.distribution_dir.mkdir(parents=True, exist_ok=True)
    pom = config.distribution_dir / "pom.xml"
    pom.write_text(_pom_text(config))
    staging = config.distribution_dir / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        raise ServerError(f"fetching Neo4j {config.version} with Maven failed:\n{tail}")
    shutil.rmtree(config.lib_dir, ignore_errors=True)
    staging.rename(config.lib_dir)
    marker.write_text(_marker_text(config))
    return config.lib_dir


@functools.cache
def _java_build(java: str) -> str:
    """``java -version`` as the JVM reports it: an archive only fits the build that wrote it."""
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    return result.stderr.strip()


def class_archive_path(config: ServerConfig) -> Path:
    """Where the class archive for this distribution and this Java build lives."""
    key = f"{_java_build(java_executable())}\n{_marker_text(config)}"
    return config.distribution_dir / f"classes-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsa"


def class_archive_works(archive: Path, classpath: str) -> bool:
    """Whether a JVM starts with ``archive`` mapped; a damaged archive can crash the JVM, so
    one is only ever used after this check passed."""
    # ErrorFile: a crash report would otherwise land in the working directory.
    cmd = [
        java_executable(), "-Xshare:on", f"-XX:SharedArchiveFile={archive}",
        f"-XX:ErrorFile={os.devnull}", "-cp", classpath, "-version",
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0
