"""Weaviate, for real: the embedded server, its binary, and the one client per process.

Embedded mode (``WEAVIATE_URL`` unset) runs the pinned Weaviate server from the path the
weaviate-client embedded mode looks in: ``<binary_dir>/weaviate-v<version>-<sha256("v<version>")>``.
``memos-integrations weaviate install`` puts the binary there: the official release download where
it is reachable, otherwise a build of ``weaviate-server`` from the Go module proxy.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import grpc
import httpx
import weaviate
from weaviate import WeaviateClient
from weaviate.classes.init import AdditionalConfig, GrpcConfig, Timeout
from weaviate.embedded import EmbeddedOptions, EmbeddedV4
from weaviate.exceptions import WeaviateRetryError
from weaviate.retry import _Retry as _ClientRetry

from memos_integrations.config import WEAVIATE_VERSION, Settings
from memos_integrations.errors import WeaviateInstallError, WeaviateUnavailableError

RELEASE_URL = "https://github.com/weaviate/weaviate/releases/download/v{v}/weaviate-v{v}-{system}-{machine}.tar.gz"
GO_PACKAGE = "github.com/weaviate/weaviate/cmd/weaviate-server"


def binary_path(binary_dir: Path, version: str = WEAVIATE_VERSION) -> Path:
    """The exact file weaviate-client's embedded mode runs (and downloads when missing)."""
    tag = f"v{version}"
    return Path(binary_dir) / f"weaviate-{tag}-{hashlib.sha256(tag.encode()).hexdigest()}"


def runtime_dir(binary_dir: Path, version: str = WEAVIATE_VERSION) -> Path:
    """Working directory of the server process.

    The Chinese tokenizer (gse) opens its dictionary at a path relative to its Go module
    (``github.com/go-ego/gse@<v>/data/dict/zh``); a ``-trimpath`` build resolves it against the
    working directory, so the install step copies the dictionary here.
    """
    return Path(binary_dir) / f"weaviate-v{version}-runtime"


def server_environment(data_dir: Path, backup_dir: Path | None = None) -> dict[str, str]:
    """Environment of the embedded server: Chinese tokenizer on, no vectorizer modules, loopback."""
    return {
        "PERSISTENCE_DATA_PATH": str(data_dir),
        "ENABLE_MODULES": "backup-filesystem",
        "BACKUP_FILESYSTEM_PATH": str(backup_dir or data_dir.parent / "backups"),
        "DEFAULT_VECTORIZER_MODULE": "none",
        "ENABLE_TOKENIZER_GSE_CH": "true",
        "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
        "DISABLE_TELEMETRY": "true",
        "LOG_LEVEL": os.environ.get("MEMOS_WEAVIATE_LOG_LEVEL", "warning"),
        # Without this the node may advertise an IPv6 address and fail to bind its raft RPC port.
        "CLUSTER_ADVERTISE_ADDR": "127.0.0.1",
        "CLUSTER_IN_LOCALHOST": "true",
        "LIMIT_RESOURCES": "true",
        "PERSISTENCE_LSM_ACCESS_STRATEGY": "pread",
        "QUERY_DEFAULTS_LIMIT": "25",
    }


# --------------------------------------------------------------------------------------------
# install


def install_binary(
    settings: Settings,
    *,
    version: str = WEAVIATE_VERSION,
    method: str = "auto",
    log: Callable[[str], None] = print,
    download_timeout: float = 20.0,
) -> Path:
    """Make the pinned server binary available to embedded mode (idempotent).

    ``method``: ``auto`` (download, then Go build), ``download`` or ``go``.
    """
    target = binary_path(settings.weaviate_binary_dir, version)
    if target.exists() and os.access(target, os.X_OK):
        log(f"Weaviate {version} is already installed at {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    started = time.monotonic()
    if method in ("auto", "download"):
        try:
            _download(target, version, log, download_timeout)
            log(f"Installed Weaviate {version} (official release) in {time.monotonic() - started:.1f}s: {target}")
            return target
        except Exception as exc:  # noqa: BLE001 - any failure falls through to the Go build
            errors.append(f"download: {exc}")
            log(f"Official download not reachable ({exc}); building from the Go module proxy instead.")
    if method in ("auto", "go"):
        try:
            _go_build(target, version, log)
            log(f"Built Weaviate {version} with Go in {time.monotonic() - started:.1f}s: {target}")
            return target
        except WeaviateInstallError as exc:
            errors.append(f"go build: {exc}")
    raise WeaviateInstallError(
        "Could not install the Weaviate server binary. "
        + "; ".join(errors)
        + ". Install a Go toolchain (https://go.dev/doc/install, or `apt-get install golang`) and run "
        "`memos-integrations weaviate install` again, or point WEAVIATE_URL at a running Weaviate server."
    )


def _download(target: Path, version: str, log: Callable[[str], None], timeout: float) -> None:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    url = RELEASE_URL.format(v=version, system=platform.system(), machine=machine)
    log(f"Downloading {url}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "weaviate.tgz"
        with urllib.request.urlopen(url, timeout=timeout) as response, archive.open("wb") as out:
            shutil.copyfileobj(response, out)
        with tarfile.open(archive) as tar:
            tar.extract("weaviate", path=tmp, filter="data")
        _place(Path(tmp) / "weaviate", target)


def _go_build(target: Path, version: str, log: Callable[[str], None]) -> None:
    go = shutil.which("go")
    if go is None:
        raise WeaviateInstallError("no Go toolchain on PATH")
    with tempfile.TemporaryDirectory() as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"}
        cmd = [go, "install", "-v", "-trimpath", "-ldflags", "-s -w", f"{GO_PACKAGE}@v{version}"]
        log("Running: " + " ".join(cmd) + "  (a cold build takes a few minutes)")
        returncode, tail = _run_with_progress(cmd, env, log)
        if returncode != 0:
            raise WeaviateInstallError(f"`go install` failed: {tail[-2000:]}")
        log("Copying the Chinese tokenizer dictionary next to the binary")
        _copy_gse_dictionary(go, version, target.parent, env)
        _place(Path(gobin) / "weaviate-server", target)


def _run_with_progress(cmd: list[str], env: dict[str, str], log: Callable[[str], None],
                       every: float = 15.0) -> tuple[int, str]:
    """Run ``go install -v`` and report, every ``every`` seconds, the elapsed time and what it is
    doing (modules downloaded, packages compiled, the latest one). Returns (exit code, output tail)."""
    started = time.monotonic()
    state: dict[str, Any] = {"downloaded": 0, "compiled": 0, "latest": "starting"}
    tail: list[str] = []
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.strip()
            tail.append(line)
            del tail[:-40]
            if line.startswith("go: downloading "):
                state["downloaded"] += 1
                state["latest"] = "downloading " + line.removeprefix("go: downloading ")
            elif line and not line.startswith("go: ") and " " not in line:
                state["compiled"] += 1
                state["latest"] = "compiling " + line

    reader = threading.Thread(target=read, name="go-build-output", daemon=True)
    reader.start()
    while True:
        try:
            proc.wait(timeout=every)
            break
        except subprocess.TimeoutExpired:
            log(f"  [{time.monotonic() - started:4.0f}s] {state['downloaded']} modules downloaded, "
                f"{state['compiled']} packages compiled; now {state['latest']}")
    reader.join(timeout=5)
    if proc.stderr is not None:
        proc.stderr.close()
    log(f"  [{time.monotonic() - started:4.0f}s] go install finished ({state['compiled']} packages compiled)")
    return proc.returncode, "\n".join(tail)


def _copy_gse_dictionary(go: str, version: str, binary_dir: Path, env: dict[str, str]) -> None:
    """Copy the Chinese dictionary of the gse module the server was built with next to it."""
    modcache = subprocess.run([go, "env", "GOMODCACHE"], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()
    gomod = Path(modcache) / f"github.com/weaviate/weaviate@v{version}" / "go.mod"
    gse_version = next(
        (line.split()[1] for line in gomod.read_text().splitlines() if line.strip().startswith("github.com/go-ego/gse ")),
        None,
    )
    if gse_version is None:
        raise WeaviateInstallError(f"cannot find the gse version in {gomod}")
    relative = Path(f"github.com/go-ego/gse@{gse_version}") / "data" / "dict" / "zh"
    source = Path(modcache) / relative
    if not source.is_dir():
        subprocess.run([go, "mod", "download", f"github.com/go-ego/gse@{gse_version}"], env=env,
                       capture_output=True, check=True, cwd=binary_dir)
    destination = runtime_dir(binary_dir, version) / relative
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination)
    for path in destination.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _place(source: Path, target: Path) -> None:
    staging = target.with_suffix(".tmp")
    shutil.copyfile(source, staging)
    staging.chmod(0o755)
    staging.replace(target)


# --------------------------------------------------------------------------------------------
# run


def _free_port(avoid: set[int] | None = None) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not avoid or (port not in avoid and port + 1 not in avoid):
            return port


def _free_run(length: int) -> int:
    """The first of ``length`` consecutive free loopback ports."""
    for _ in range(50):
        start = _free_port()
        sockets = []
        try:
            for port in range(start, start + length):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return start
    raise WeaviateUnavailableError(f"no run of {length} free ports found on 127.0.0.1")


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None


#: libc's prctl, resolved before any fork (the child may not import or take locks).
_PRCTL: Final = _load_prctl()
_PR_SET_PDEATHSIG: Final = 1


def _die_with_parent() -> None:
    """In the Weaviate child (Linux): get SIGTERM when the process that started it dies, even by
    kill -9, so a killed server never leaves an orphaned Weaviate holding the data dir."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


class _Embedded(EmbeddedV4):
    """weaviate-client's embedded runner: same binary path and ports, our environment, a working
    directory that holds the Chinese dictionary, and a configurable start-up wait."""

    startup_timeout: float = 60.0

    def start(self) -> None:
        """Start the server; a port still held for a moment (a server killed just before, or a
        client's ephemeral port) is retried a few times before giving up."""
        for attempt in range(5):
            try:
                self._start_once()
                return
            except WeaviateUnavailableError as exc:
                if attempt == 4 or "address already in use" not in str(exc):
                    raise
                time.sleep(1.0 + attempt)

    def _start_once(self) -> None:
        if self.is_listening():
            raise WeaviateUnavailableError(
                f"port {self.options.port} or {self.grpc_port} is already in use by another process; "
                "set MEMOS_EMBEDDED_HTTP_PORT / MEMOS_EMBEDDED_GRPC_PORT"
            )
        self.ensure_weaviate_binary_exists()
        # Same layout as weaviate-client: data = gossip + 1, raft = data + 1, rpc = raft + 1.
        gossip = _free_run(4)
        raft = gossip + 2
        rpc = gossip + 3
        hostname = f"Embedded_at_{self.options.port}"
        env = {
            **os.environ,
            "GRPC_PORT": str(self.grpc_port),
            "GO_PROFILING_PORT": str(_free_port(avoid={gossip, gossip + 1, raft, rpc})),
            "PERSISTENCE_DATA_PATH": self.options.persistence_data_path,
            "CLUSTER_GOSSIP_BIND_PORT": str(gossip),
            "CLUSTER_DATA_BIND_PORT": str(gossip + 1),
            "RAFT_PORT": str(raft),
            "RAFT_INTERNAL_RPC_PORT": str(rpc),
            "RAFT_BOOTSTRAP_EXPECT": "1",
            "CLUSTER_HOSTNAME": hostname,
            "RAFT_JOIN": f"{hostname}:{raft}",
            **(self.options.additional_env_vars or {}),
        }
        cwd = runtime_dir(Path(self.options.binary_path), self.options.version)
        cwd.mkdir(parents=True, exist_ok=True)
        self.log_path = Path(self.options.persistence_data_path).parent / "weaviate.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(self._weaviate_binary_path), "--host", self.options.hostname, "--port", str(self.options.port),
             "--scheme", "http", "--read-timeout=600s", "--write-timeout=600s"],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl (no locks, no imports)
        )
        log.close()
        self.wait_till_listening()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the server and wait for it to flush; SIGKILL it after ``timeout`` seconds."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        self.process = None

    def wait_till_listening(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.is_listening():
                return
            if self.process is not None and self.process.poll() is not None:
                log_path = getattr(self, "log_path", None)
                tail = ""
                if log_path is not None:
                    with contextlib.suppress(OSError):
                        tail = Path(log_path).read_text(errors="replace")[-400:]
                raise WeaviateUnavailableError(
                    f"the embedded Weaviate server exited with code {self.process.returncode}; "
                    f"its log: {log_path or 'stderr'}"
                    + (" (address already in use)" if "address already in use" in tail else "")
                )
            time.sleep(0.1)
        raise WeaviateUnavailableError(
            f"the embedded Weaviate server did not listen on port {self.options.port} "
            f"within {self.startup_timeout:.0f}s"
        )


@dataclass
class EmbeddedServer:
    host: str
    http_port: int
    grpc_port: int
    data_dir: Path
    runner: _Embedded | None = None  # set only in the process that started it
    restarts: int = 0
    _watcher: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def owned(self) -> bool:
        """True in the process that started the server (only it restarts and stops it)."""
        return self.runner is not None

    @property
    def pid(self) -> int | None:
        process = getattr(self.runner, "process", None)
        return None if process is None else int(process.pid)

    def alive(self) -> bool:
        """The server process we own is running (True for a server another process owns)."""
        process = getattr(self.runner, "process", None)
        return process is None or process.poll() is None

    def restart_if_dead(self) -> bool:
        """Start the server again if the process we own has exited (kill -9, crash): same ports,
        same data. Returns True when it was restarted."""
        runner = self.runner
        if runner is None or self._stopping.is_set() or self.alive():
            return False
        with _servers_lock:
            if self._stopping.is_set() or self.alive():
                return False
            code = runner.process.returncode if runner.process is not None else None
            logging.getLogger(__name__).warning("the embedded Weaviate (pid %s) exited with %s; restarting it",
                                                self.pid, code)
            runner.start()
            self.restarts += 1
        _wait_ready(self.host, self.http_port, runner.startup_timeout)
        return True

    def watch(self, interval: float = 0.5) -> None:
        """Restart the server whenever its process exits (a daemon thread; until :meth:`stop`)."""
        if self.runner is None or self._watcher is not None:
            return

        def loop() -> None:
            while not self._stopping.wait(interval):
                try:
                    self.restart_if_dead()
                except Exception:
                    logging.getLogger(__name__).exception("restarting the embedded Weaviate failed")

        self._watcher = threading.Thread(target=loop, name="memos-weaviate-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self.runner is not None:
            self.runner.stop()
            self.runner = None


_servers: dict[tuple[str, int], EmbeddedServer] = {}
_servers_lock = threading.Lock()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_embedded_server(settings: Settings) -> EmbeddedServer:
    """Start the embedded server once per data dir and port, or attach to a running one.

    Several processes (server workers) share one server: the first starts it under a file lock,
    the others find it listening and connect.
    """
    host = "127.0.0.1"
    key = (str(settings.data_dir), settings.embedded_http_port)
    with _servers_lock:
        if key in _servers:
            return _servers[key]
        data_dir = Path(settings.data_dir) / "weaviate"
        with _file_lock(Path(settings.data_dir) / ".embedded.lock"):
            if _listening(host, settings.embedded_http_port) and _listening(host, settings.embedded_grpc_port):
                server = EmbeddedServer(host, settings.embedded_http_port, settings.embedded_grpc_port, data_dir)
            else:
                target = binary_path(settings.weaviate_binary_dir, settings.weaviate_version)
                if not target.exists():
                    raise WeaviateUnavailableError(
                        f"the Weaviate {settings.weaviate_version} server binary is not installed ({target}). "
                        "Run `memos-integrations weaviate install` first, or set WEAVIATE_URL."
                    )
                options = EmbeddedOptions(
                    persistence_data_path=str(data_dir),
                    binary_path=str(settings.weaviate_binary_dir),
                    version=settings.weaviate_version,
                    port=settings.embedded_http_port,
                    hostname=host,
                    grpc_port=settings.embedded_grpc_port,
                    additional_env_vars=server_environment(data_dir, settings.backup_dir),
                )
                runner = _Embedded(options)
                runner.startup_timeout = settings.embedded_startup_timeout
                runner.start()
                server = EmbeddedServer(host, options.port, options.grpc_port, data_dir, runner)
                atexit.register(server.stop)
            _wait_ready(host, settings.embedded_http_port, settings.embedded_startup_timeout)
        _servers[key] = server
        return server


def _wait_ready(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{host}:{port}/v1/.well-known/ready"
    while True:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise WeaviateUnavailableError(f"Weaviate at {host}:{port} did not become ready within {timeout:.0f}s")
        time.sleep(0.1)


class _BoundedRetry(_ClientRetry):
    """weaviate-client's retry of gRPC calls answered UNAVAILABLE, with a bounded wait.

    The client retries such calls 5 times with 1, 2, 4, 8, 16 and 32 s pauses (63 s) before it
    gives up, so every request blocks for a minute when Weaviate is down. We retry a few times
    within :data:`RETRY_BUDGET` seconds instead (enough to ride over a reconnect), then let the
    error through as :class:`~memos_integrations.errors.WeaviateUnavailableError`.
    """

    PAUSES: Final = (0.1, 0.3, 0.6)

    def with_exponential_backoff(self, count: int, error: str, f: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
                raise
            if count >= len(self.PAUSES):
                raise WeaviateRetryError(str(exc), count) from exc
            time.sleep(self.PAUSES[count])
            return self.with_exponential_backoff(count + 1, error, f, *args, **kwargs)


def install_bounded_retry() -> None:
    """Replace weaviate-client's 63 s gRPC retry with :class:`_BoundedRetry` (idempotent)."""
    from weaviate.connect import v4 as connect_v4

    connect_v4._Retry = _BoundedRetry  # type: ignore[misc]


def client_timeouts(settings: Settings) -> Timeout:
    """Client timeouts sized per operation (``MEMOS_WEAVIATE_*_TIMEOUT``)."""
    return Timeout(init=settings.weaviate_init_timeout, query=settings.weaviate_query_timeout,
                   insert=settings.weaviate_insert_timeout)


def connect(settings: Settings) -> WeaviateClient:
    """A connected client: to ``WEAVIATE_URL`` when set, else to the embedded server."""
    install_bounded_retry()
    # reconnect to a restarted server within a second (gRPC's default backoff grows to 120 s)
    channel = GrpcConfig(channel_options=[("grpc.initial_reconnect_backoff_ms", 200),
                                          ("grpc.min_reconnect_backoff_ms", 200),
                                          ("grpc.max_reconnect_backoff_ms", 1000)])
    config = AdditionalConfig(timeout=client_timeouts(settings), grpc_config=channel)
    try:
        if settings.weaviate_url:
            from urllib.parse import urlparse

            url = urlparse(settings.weaviate_url)
            secure = url.scheme == "https"
            http_port = url.port or (443 if secure else 8080)
            auth = weaviate.auth.AuthApiKey(settings.weaviate_api_key) if settings.weaviate_api_key else None
            client = weaviate.connect_to_custom(
                http_host=url.hostname or "localhost",
                http_port=http_port,
                http_secure=secure,
                grpc_host=settings.weaviate_grpc_host or url.hostname or "localhost",
                grpc_port=settings.weaviate_grpc_port or (443 if secure else 50051),
                grpc_secure=secure,
                auth_credentials=auth,
                additional_config=config,
            )
        else:
            server = ensure_embedded_server(settings)
            client = weaviate.connect_to_local(
                host=server.host, port=server.http_port, grpc_port=server.grpc_port, additional_config=config
            )
    except WeaviateUnavailableError:
        raise
    except Exception as exc:
        where = settings.weaviate_url or "the embedded server"
        raise WeaviateUnavailableError(f"could not connect to Weaviate at {where}: {exc}") from exc
    return client
