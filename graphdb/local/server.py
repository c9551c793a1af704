"""Provision and run a local Neo4j Community server without Docker or OS packages.

The distribution comes from Maven (``graphdb.local.distribution``); each server is a detached JVM
with a generated config, started from the distribution's class archive once there is one.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from graphdb.local.distribution import (
    ServerError,
    class_archive_path,
    class_archive_works,
    ensure_distribution,
    java_executable,
)

log = logging.getLogger(__name__)

NEO4J_VERSION = "5.26.30"
BROWSER_VERSION = "5.24.0"
MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
TX_LOG_ROTATION_SIZE = "1M"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"
# Without these opens Netty and vector-index population misbehave on JDK 17.
JVM_OPENS = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
)


@dataclass(frozen=True)
class ServerConfig:
    """Where and how the local server runs.

    ``cache_dir`` holds the fetched jars (shared by all checkouts); ``state_dir`` holds this
    server's config, data, logs, pid file and generated password.
    """

    cache_dir: Path
    state_dir: Path
    bolt_port: int = 7687
    http_port: int = 7474
    listen_address: str = "127.0.0.1"
    heap: str = "1g"
    pagecache: str = "512m"
    auth: bool = True
    version: str = NEO4J_VERSION
    browser_version: str = BROWSER_VERSION
    # Seconds between Neo4j's checkpoints: an erased record leaves the transaction logs at the
    # first checkpoint after the erasure (docs/privacy.md).
    checkpoint_interval_s: int = 60
    extra_settings: dict[str, str] = field(default_factory=dict)
    class_archive: bool = True  # start from the distribution's class archive (made once)

    @property
    def distribution_dir(self) -> Path:
        return self.cache_dir / f"neo4j-community-{self.version}"

    @property
    def lib_dir(self) -> Path:
        return self.distribution_dir / "lib"

    @property
    def conf_dir(self) -> Path:
        return self.state_dir / "conf"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "neo4j.pid"

    @property
    def password_file(self) -> Path:
        return self.state_dir / "neo4j-password"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "console.log"

    @property
    def bolt_uri(self) -> str:
        return f"bolt://{self.listen_address}:{self.bolt_port}"

    @property
    def browser_url(self) -> str:
        return f"http://{self.listen_address}:{self.http_port}/browser/"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    bolt_uri: str
    browser_url: str
    bolt_open: bool


def render_config(config: ServerConfig) -> str:
    """The neo4j.conf text for this server."""
    settings = {
        "server.default_listen_address": config.listen_address,
        "server.default_advertised_address": config.listen_address,
        "server.bolt.listen_address": f"{config.listen_address}:{config.bolt_port}",
        "server.bolt.advertised_address": f"{config.listen_address}:{config.bolt_port}",
        "server.http.listen_address": f"{config.listen_address}:{config.http_port}",
        "server.http.advertised_address": f"{config.listen_address}:{config.http_port}",
        "server.https.enabled": "false",
        "server.directories.data": str(config.data_dir),
        "server.directories.logs": str(config.logs_dir),
        "server.directories.plugins": str(config.state_dir / "plugins"),
        "server.directories.run": str(config.state_dir / "run"),
        "server.directories.import": str(config.state_dir / "import"),
        "server.memory.heap.initial_size": config.heap,
        "server.memory.heap.max_size": config.heap,
        "server.memory.pagecache.size": config.pagecache,
        "dbms.usage_report.enabled": "false",
        "dbms.security.auth_enabled": "true" if config.auth else "false",
        # Erasure within a bound (graphdb.txlog, docs/privacy.md): small log files, of which a
        # checkpoint keeps only the current one, and a checkpoint every minute. An erasure
        # pads the log past the rotation size, so the file holding it goes at that checkpoint.
        # ("keep_none" reads as "1 entries" on 5.26 and was measured to prune nothing.)
        "db.tx_log.rotation.size": TX_LOG_ROTATION_SIZE,
        "db.tx_log.rotation.retention_policy": "1 files",
        "db.checkpoint.interval.time": f"{config.checkpoint_interval_s}s",
        # Neo4j otherwise waits a fixed 5 s for idle Bolt threads on every stop, which a
        # restart around an offline import (and every test server) pays in full.
        "internal.server.bolt.thread_pool_shutdown_wait_time": "1s",
        # How long a read carrying a client's bookmark (X-Graph-Bookmark) may wait for the
        # server to catch up: a single server never lags, so this only bounds what a forged
        # bookmark of a future transaction could hold a request for (Neo4j's default: 30 s).
        "db.transaction.bookmark_ready_timeout": "5s",
    }
    settings.update(config.extra_settings)
    lines = ["# Written by `interest-graph neo4j start`; edits are overwritten."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def prepare_state(config: ServerConfig) -> None:
    for sub in ("conf", "data", "logs", "plugins", "run", "import"):
        (config.state_dir / sub).mkdir(parents=True, exist_ok=True)
    (config.conf_dir / "neo4j.conf").write_text(render_config(config))


def read_password(config: ServerConfig) -> str | None:
    """The generated password of the ``neo4j`` user, if auth is on and one was made."""
    if config.password_file.exists():
        return config.password_file.read_text().strip()
    return None


def run_admin_tool(config: ServerConfig, *args: str, heap: str = "1g") -> float:
    """Runs ``neo4j-admin ARGS`` against the local state (server stopped); returns seconds."""
    ensure_distribution(config)
    prepare_state(config)
    env = {**os.environ, "NEO4J_HOME": str(config.state_dir), "NEO4J_CONF": str(config.conf_dir)}
    cmd = [java_executable(), f"-Xmx{heap}", "-cp", f"{config.lib_dir}/*", ADMIN_CLASS, *args]
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        raise ServerError(f"neo4j-admin {' '.join(args[:2])} failed:\n{output}")
    return time.perf_counter() - started


def ensure_password(config: ServerConfig) -> None:
    """Generate and set the initial password before the very first start (or restore)."""
    if not config.auth or config.password_file.exists():
        return
    if (config.data_dir / "databases").exists():
        raise ServerError(
            f"auth is on but {config.password_file} is missing and the database already "
            "exists; restore the password file or reset the data folder"
        )
    # Letters and digits only: a leading "-" would be read as an option by the admin tool.
    alphabet = string.ascii_letters + string.digits
    password = "".join(secrets.choice(alphabet) for _ in range(24))
    env = {**os.environ, "NEO4J_HOME": str(config.state_dir), "NEO4J_CONF": str(config.conf_dir)}
    cmd = [
        java_executable(),
        "-cp",
        f"{config.lib_dir}/*",
        ADMIN_CLASS,
        "dbms",
        "set-initial-password",
        password,
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServerError(f"setting the initial password failed:\n{result.stderr[-2000:]}")
    # Write the secret readable only by this user: umask-independent.
    fd = os.open(config.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")


def _read_pid(config: ServerConfig) -> int | None:
    try:
        pid = int(config.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def log_tail(config: ServerConfig, lines: int = 40) -> str:
    """The last lines of the server's console and debug logs, for error messages."""
    chunks = []
    for path in (config.console_log, config.logs_dir / "debug.log"):
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            chunks.append(f"--- {path} ---\n" + "\n".join(text))
    return "\n".join(chunks) or "(no log output)"


def start(config: ServerConfig, timeout_s: float = 180.0) -> ServerStatus:
    """Start the server (fetching it first if needed) and wait until Bolt answers."""
    existing = _read_pid(config)
    if existing is not None:
        wait_until_ready(config, existing, timeout_s)
        return status(config)
    if _port_open(config.listen_address, config.bolt_port):
        raise ServerError(f"port {config.bolt_port} is already in use by another process")
    ensure_distribution(config)
    prepare_state(config)
    ensure_password(config)
    proc = _launch(config, _class_archive_options(config))
    config.pid_file.write_text(f"{proc.pid}\n")
    wait_until_ready(config, proc.pid, timeout_s)
    return status(config)


def _launch(config: ServerConfig, jvm_options: list[str]) -> subprocess.Popen[bytes]:
    # The heap goes on the command line: neo4j.conf's heap settings are read by Neo4j's
    # launcher script, which is not used here, so the JVM would otherwise size its own heap.
    # Other flags that launcher adds (-Djdk.nio.maxCachedBufferSize=1024,
    # -XX:+DisableExplicitGC, -XX:+TrustFinalNonStaticFields, ...) made vector-index writes
    # 7-13 % slower here (docs/bench-notes.md, "Incremental refresh"), so they are left out.
    cmd = [
        java_executable(), f"-Xms{config.heap}", f"-Xmx{config.heap}", "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError", *JVM_OPENS, *jvm_options,
        "-cp", f"{config.state_dir}/plugins/*:{config.lib_dir}/*", MAIN_CLASS,
        f"--home-dir={config.state_dir}", f"--config-dir={config.conf_dir}",
        "--console-mode",
    ]  # fmt: skip
    with open(config.console_log, "ab") as log:
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=config.state_dir,
        )  # fmt: skip


def _class_archive_options(config: ServerConfig) -> list[str]:
    """Options that map the server's classes from the distribution's archive, which the
    first start makes; without one (turned off, or making it failed) the JVM loads the jars."""
    if not config.class_archive:
        return []
    archive = class_archive_path(config)
    failed = archive.with_suffix(".failed")
    if not archive.exists() and not failed.exists():
        try:
            _make_class_archive(config, archive)
        except (ServerError, OSError, subprocess.SubprocessError) as exc:
            log.warning("starting without a class archive: %s", exc)
            failed.write_text(f"{exc}\n")  # not tried again on every start
    return [f"-XX:SharedArchiveFile={archive}"] if archive.exists() else []


def _make_class_archive(config: ServerConfig, archive: Path) -> None:
    """Start and stop a scratch server that writes the classes it loaded to ``archive``.

    The JVM writes the archive as it exits; it is checked, then renamed into place, so a
    half-written archive (which can crash a JVM that maps it) is never used.
    """
    log.info("making the class archive %s (once per distribution and Java build)", archive)
    with tempfile.TemporaryDirectory(prefix="class-archive-", dir=archive.parent) as folder:
        scratch = replace(
            config, state_dir=Path(folder) / "state", bolt_port=_free_port(),
            http_port=_free_port(), auth=False, heap="512m", pagecache="64m", extra_settings={},
        )  # fmt: skip
        written = Path(folder) / "classes.jsa"
        prepare_state(scratch)
        proc = _launch(scratch, [f"-XX:ArchiveClassesAtExit={written}"])
        try:
            wait_until_ready(scratch, proc.pid, 300.0)
        finally:
            proc.terminate()
            proc.wait(timeout=300)
        if not written.exists() or not class_archive_works(written, f"{config.lib_dir}/*"):
            raise ServerError("the JVM wrote no usable class archive")
        os.replace(written, archive)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(config: ServerConfig, pid: int, timeout_s: float) -> None:
    """Block until Bolt accepts connections; fail fast with the log tail if the JVM dies."""
    from graphdb.driver import ping  # local import: keeps `neo4j status` free of the driver

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process_alive(pid):
            raise ServerError(f"Neo4j exited during start-up.\n{log_tail(config)}")
        if _port_open(config.listen_address, config.bolt_port) and ping(
            config.bolt_uri, "neo4j", read_password(config) if config.auth else None
        ):
            return
        time.sleep(0.2)  # a start takes seconds; polling finer trims the wait after it
    raise ServerError(f"Neo4j did not answer on Bolt within {timeout_s:.0f}s.\n{log_tail(config)}")


def process_alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a child of ours that exited is reaped here)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        waited = 0  # not our child: fall back to a signal probe
    if waited == pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(config: ServerConfig, timeout_s: float = 60.0) -> bool:
    """Stop the server cleanly (SIGTERM, then SIGKILL after ``timeout_s``)."""
    pid = request_stop(config)
    if pid is None:
        return False
    wait_stopped(config, pid, timeout_s)
    return True


def request_stop(config: ServerConfig) -> int | None:
    """Ask the server to shut down and return at once; the pid to wait for, if it ran."""
    pid = _read_pid(config)
    if pid is None:
        config.pid_file.unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    return pid


def wait_stopped(config: ServerConfig, pid: int, timeout_s: float = 60.0) -> None:
    """Wait for a requested shutdown (its checkpoint); SIGKILL after ``timeout_s``."""
    wait_or_kill(pid, timeout_s)
    config.pid_file.unlink(missing_ok=True)


def wait_or_kill(pid: int, timeout_s: float) -> None:
    """Wait for a process asked to stop to exit; SIGKILL it after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.2)
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)


def status(config: ServerConfig) -> ServerStatus:
    pid = _read_pid(config)
    return ServerStatus(
        running=pid is not None,
        pid=pid,
        bolt_uri=config.bolt_uri,
        browser_url=config.browser_url,
        bolt_open=_port_open(config.listen_address, config.bolt_port),
    )
