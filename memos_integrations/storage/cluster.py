"""A real Weaviate cluster on one machine: N nodes of the pinned server binary on local ports.

``memos-integrations weaviate cluster --nodes 3`` runs one; tests and ``benchmarks/cluster.py``
use :class:`LocalCluster` to kill and restart nodes under load. It is the same binary and the same
environment as embedded mode (:func:`.embedded.server_environment`: Chinese tokenizer on, no
vectorizer modules, anonymous access on 127.0.0.1), plus the cluster variables:

* ``CLUSTER_HOSTNAME`` (``memos-node-<i>``), ``CLUSTER_GOSSIP_BIND_PORT`` / ``CLUSTER_DATA_BIND_PORT``
  (memberlist gossip; the data port is gossip + 1), ``CLUSTER_JOIN`` (the other nodes' gossip
  addresses, so any node can come back on its own);
* ``RAFT_PORT`` / ``RAFT_INTERNAL_RPC_PORT`` (schema consensus; on localhost Weaviate derives a
  peer's RPC port as its raft port + 1), ``RAFT_JOIN`` (every node as ``name:raft_port``) and
  ``RAFT_BOOTSTRAP_EXPECT`` (the number of voters);
* ``GRPC_PORT`` per node, Go profiling off (every node would want port 6060).

Ports: node ``i`` uses the block ``base_port + 10*i``: HTTP +0, gRPC +1, gossip +2, data +3,
raft +4, raft RPC +5. Data of node ``i`` lives in ``<data_dir>/node<i>/weaviate``, its log in
``<data_dir>/node<i>/weaviate.log``.

Collections created by :meth:`MemoryStore.setup` against a cluster of 3 or more nodes get
replication factor 3 (see :func:`.schema.replication_factor_for`), and every read and write goes
with the consistency level of ``MEMOS_CONSISTENCY_LEVEL`` (QUORUM by default), so one node of
three may die without an error and without losing an acknowledged write.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from memos_integrations.config import Settings, get_settings
from memos_integrations.errors import WeaviateUnavailableError
from memos_integrations.storage.embedded import (
    _die_with_parent,
    _listening,
    binary_path,
    runtime_dir,
    server_environment,
)

__all__ = ["PORTS_PER_NODE", "ClusterNode", "LocalCluster"]

#: Ports reserved per node (HTTP, gRPC, gossip, data, raft, raft RPC, 4 spare).
PORTS_PER_NODE = 10
DEFAULT_BASE_PORT = 8180


@dataclass
class ClusterNode:
    """One node of a :class:`LocalCluster` (its ports, data and the process while it runs)."""

    index: int
    name: str
    http_port: int
    grpc_port: int
    gossip_port: int
    data_port: int
    raft_port: int
    rpc_port: int
    home: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.home / "weaviate"

    @property
    def log_path(self) -> Path:
        return self.home / "weaviate.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else int(self.process.pid)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self, timeout: float = 2.0) -> bool:
        try:
            return httpx.get(f"{self.url}/v1/.well-known/ready", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False


class LocalCluster:
    """``nodes`` Weaviate servers on 127.0.0.1 forming one cluster (raft + memberlist).

    Args:
        nodes: how many nodes (all of them raft voters: ``RAFT_BOOTSTRAP_EXPECT = nodes``).
        data_dir: where each node keeps its data and log (``<data_dir>/node<i>``).
        base_port: first port of node 0's block (see the module docstring).
        settings: the binary (``MEMOS_WEAVIATE_BINARY_DIR``, ``MEMOS_WEAVIATE_VERSION``).
        extra_env: more server variables for every node (e.g. ``ASYNC_REPLICATION_FREQUENCY``).
        die_with_parent: the nodes get SIGTERM when the process that started them dies (tests).

    Example::

        cluster = LocalCluster(3, data_dir=Path("/tmp/c"))
        cluster.start()
        os.environ.update(cluster.client_env())   # WEAVIATE_URL / WEAVIATE_GRPC_PORT of node 0
        cluster.kill(1); cluster.start_node(1); cluster.wait_ready()
        cluster.stop()
    """

    def __init__(
        self,
        nodes: int = 3,
        *,
        data_dir: Path | str | None = None,
        base_port: int = DEFAULT_BASE_PORT,
        settings: Settings | None = None,
        extra_env: dict[str, str] | None = None,
        die_with_parent: bool = True,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.settings = settings or get_settings()
        self.data_dir = Path(data_dir) if data_dir else Path(self.settings.data_dir) / "cluster"
        self.base_port = base_port
        self.extra_env = dict(extra_env or {})
        self.die_with_parent = die_with_parent
        self.nodes = [self._node(i) for i in range(nodes)]
        self.binary = binary_path(self.settings.weaviate_binary_dir, self.settings.weaviate_version)

    def _node(self, i: int) -> ClusterNode:
        p = self.base_port + PORTS_PER_NODE * i
        return ClusterNode(index=i, name=f"memos-node-{i}", http_port=p, grpc_port=p + 1, gossip_port=p + 2,
                           data_port=p + 3, raft_port=p + 4, rpc_port=p + 5, home=self.data_dir / f"node{i}")

    # -- what clients use ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``WEAVIATE_URL`` of node 0 (any node answers for the whole cluster)."""
        return self.nodes[0].url

    def client_env(self, node: int = 0) -> dict[str, str]:
        """The settings an app process needs to use the cluster through ``node``."""
        n = self.nodes[node]
        return {"WEAVIATE_URL": n.url, "WEAVIATE_GRPC_PORT": str(n.grpc_port)}

    def hosts(self) -> list[str]:
        """``host:http/grpc`` of every node (what a load balancer in front of the cluster would list)."""
        return [f"127.0.0.1:{n.http_port}/{n.grpc_port}" for n in self.nodes]

    # -- processes ----------------------------------------------------------------------------

    def environment(self, node: ClusterNode) -> dict[str, str]:
        """The server environment of ``node``."""
        others = [n for n in self.nodes if n is not node]
        env = {
            **os.environ,
            **server_environment(node.data_dir, Path(self.data_dir) / "backups"),
            "CLUSTER_HOSTNAME": node.name,
            "CLUSTER_GOSSIP_BIND_PORT": str(node.gossip_port),
            "CLUSTER_DATA_BIND_PORT": str(node.data_port),
            "RAFT_PORT": str(node.raft_port),
            "RAFT_INTERNAL_RPC_PORT": str(node.rpc_port),
            "RAFT_JOIN": ",".join(f"{n.name}:{n.raft_port}" for n in self.nodes),
            "RAFT_BOOTSTRAP_EXPECT": str(len(self.nodes)),
            "GRPC_PORT": str(node.grpc_port),
            "GO_PROFILING_DISABLE": "true",
            "PROMETHEUS_MONITORING_ENABLED": "false",
        }
        if others:
            env["CLUSTER_JOIN"] = ",".join(f"127.0.0.1:{n.gossip_port}" for n in others)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120.0) -> LocalCluster:
        """Start every node (at once: each waits for the others to bootstrap raft) and wait until
        the cluster is ready (every node ready and seeing every other node)."""
        if not self.binary.exists():
            raise WeaviateUnavailableError(
                f"the Weaviate {self.settings.weaviate_version} server binary is not installed ({self.binary}). "
                "Run `memos-integrations weaviate install` first."
            )
        for node in self.nodes:
            self.start_node(node.index, wait=False)
        self.wait_ready(timeout)
        return self

    def start_node(self, index: int, *, wait: bool = True, timeout: float = 120.0) -> ClusterNode:
        """Start (or restart) node ``index`` on its ports and data; with ``wait``, until it is ready."""
        node = self.nodes[index]
        if node.running():
            return node
        for port in (node.http_port, node.grpc_port, node.gossip_port, node.raft_port, node.rpc_port):
            deadline = time.monotonic() + 15
            while _listening("127.0.0.1", port):  # a node killed a moment ago may still hold it
                if time.monotonic() > deadline:
                    raise WeaviateUnavailableError(f"port {port} of {node.name} is in use by another process; "
                                                   "choose another --base-port")
                time.sleep(0.2)
        node.data_dir.mkdir(parents=True, exist_ok=True)
        cwd = runtime_dir(self.settings.weaviate_binary_dir, self.settings.weaviate_version)
        cwd.mkdir(parents=True, exist_ok=True)
        with node.log_path.open("ab") as log:
            node.process = subprocess.Popen(
                [str(self.binary), "--host", "127.0.0.1", "--port", str(node.http_port), "--scheme", "http",
                 "--read-timeout=600s", "--write-timeout=600s"],
                env=self.environment(node), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,  # noqa: PLW1509
            )
        if wait:
            self.wait_node_ready(index, timeout)
        return node

    def wait_node_ready(self, index: int, timeout: float = 120.0) -> None:
        node = self.nodes[index]
        deadline = time.monotonic() + timeout
        while not node.ready():
            if node.process is not None and node.process.poll() is not None:
                raise WeaviateUnavailableError(f"{node.name} exited with code {node.process.returncode}; "
                                               f"its log: {node.log_path}")
            if time.monotonic() > deadline:
                raise WeaviateUnavailableError(f"{node.name} was not ready within {timeout:.0f}s; log: {node.log_path}")
            time.sleep(0.2)

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Wait until every running node is ready and reports every node HEALTHY; returns seconds."""
        started = time.monotonic()
        deadline = started + timeout
        for node in self.nodes:
            if node.process is not None:
                self.wait_node_ready(node.index, max(1.0, deadline - time.monotonic()))
        while True:
            statuses = [self.node_statuses(n.index) for n in self.nodes if n.running()]
            if statuses and all(len(s) == len(self.nodes) and all(v == "HEALTHY" for v in s.values())
                                for s in statuses):
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise WeaviateUnavailableError(f"the cluster was not healthy within {timeout:.0f}s: {statuses}")
            time.sleep(0.3)

    def node_statuses(self, via: int = 0) -> dict[str, str]:
        """``{node name: status}`` as node ``via`` sees the cluster (empty when it does not answer)."""
        try:
            reply = httpx.get(f"{self.nodes[via].url}/v1/nodes", timeout=5.0)
            reply.raise_for_status()
        except httpx.HTTPError:
            return {}
        return {str(n.get("name")): str(n.get("status")) for n in reply.json().get("nodes", [])}

    def raft_leader(self) -> int | None:
        """Index of the node that leads raft (schema, tenants) as the first answering node sees it."""
        for node in self.nodes:
            if not node.running():
                continue
            try:
                stats = httpx.get(f"{node.url}/v1/cluster/statistics", timeout=5.0).json().get("statistics", [])
            except (httpx.HTTPError, ValueError):
                continue
            leader = next((str(s.get("leaderId")) for s in stats if s.get("leaderId")), None)
            return next((n.index for n in self.nodes if n.name == leader), None)
        return None

    def kill(self, index: int) -> None:
        """SIGKILL node ``index`` (no flush, no goodbye: a crashed machine)."""
        node = self.nodes[index]
        if node.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)
        node.process = None

    def stop_node(self, index: int, timeout: float = 30.0) -> None:
        """SIGTERM node ``index`` and wait for it to flush (SIGKILL after ``timeout``)."""
        node = self.nodes[index]
        if node.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            node.process.terminate()
        try:
            node.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(timeout=5)
        node.process = None

    def restart_node(self, index: int, *, timeout: float = 120.0) -> float:
        """Stop node ``index`` (if running), start it again and wait until the cluster is healthy;
        returns the seconds it took."""
        started = time.monotonic()
        self.stop_node(index)
        self.start_node(index, timeout=timeout)
        self.wait_ready(timeout)
        return time.monotonic() - started

    def stop(self) -> None:
        """Stop every node (all at once: a lone survivor waiting for raft peers would stall)."""
        for node in self.nodes:
            if node.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    node.process.terminate()
        for node in self.nodes:
            self.stop_node(node.index)

    def describe(self) -> str:
        """What a user needs to connect (printed by ``weaviate cluster``)."""
        lines = [f"Weaviate {self.settings.weaviate_version} cluster of {len(self.nodes)} nodes, data in {self.data_dir}"]
        for n in self.nodes:
            lines.append(f"  {n.name}: http {n.url}  grpc {n.grpc_port}  gossip {n.gossip_port}/{n.data_port}  "
                         f"raft {n.raft_port}/{n.rpc_port}  pid {n.pid}  log {n.log_path}")
        env = self.client_env()
        lines.append("Use it with:")
        lines.append(f"  export WEAVIATE_URL={env['WEAVIATE_URL']} WEAVIATE_GRPC_PORT={env['WEAVIATE_GRPC_PORT']}")
        lines.append("(any node's HTTP + gRPC port works: " + ", ".join(self.hosts()) + ")")
        return "\n".join(lines)

    def __enter__(self) -> LocalCluster:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
