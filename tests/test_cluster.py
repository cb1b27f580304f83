"""A real 3-node Weaviate cluster (issue 16, part 3).

The scenario test (kill -9 one Weaviate node under load from two app processes, restart it, check
catch-up, no loss, no duplicates, durable tasks finished by the surviving app) takes about three
minutes, so it runs only with ``MEMOS_TEST_CLUSTER=1`` (marker ``cluster``);
``python benchmarks/cluster.py`` runs it as part of the benchmark. The scenario itself lives in
``benchmarks/cluster.py`` so the test and the benchmark check exactly the same things.

The other tests here are pure logic (no server) and always run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from memos_integrations.config import Settings
from memos_integrations.storage.cluster import LocalCluster
from memos_integrations.storage.schema import (
    collection_specs,
    replication_config,
    replication_factor_for,
    with_replication,
)

ROOT = Path(__file__).resolve().parents[1]


def test_replication_factor_follows_the_node_count_unless_set() -> None:
    assert [replication_factor_for(n) for n in (1, 2, 3, 5)] == [1, 1, 3, 3]
    assert replication_factor_for(1, override=2) == 2
    assert replication_config(1) is None
    config = replication_config(3)
    assert config.factor == 3 and config.asyncEnabled is True
    assert str(config.deletionStrategy.value) == "TimeBasedResolution"
    from weaviate.classes.config import Tokenization

    specs = collection_specs("Memos", Tokenization.TRIGRAM)
    assert with_replication(specs, 1) == specs
    assert all(spec["replication_config"].factor == 3 for spec in with_replication(specs, 3).values())


def test_consistency_level_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().consistency_level == "QUORUM"
    monkeypatch.setenv("MEMOS_CONSISTENCY_LEVEL", "ONE")
    monkeypatch.setenv("MEMOS_REPLICATION_FACTOR", "2")
    settings = Settings()
    assert settings.consistency_level == "ONE" and settings.replication_factor == 2
    monkeypatch.setenv("MEMOS_CONSISTENCY_LEVEL", "SOME")
    with pytest.raises(ValueError):
        Settings()


def test_local_cluster_node_environment(tmp_path: Path) -> None:
    cluster = LocalCluster(3, data_dir=tmp_path, base_port=20000)
    ports = [(n.http_port, n.grpc_port, n.gossip_port, n.data_port, n.raft_port, n.rpc_port) for n in cluster.nodes]
    flat = [p for row in ports for p in row]
    assert len(set(flat)) == len(flat)
    env = cluster.environment(cluster.nodes[1])
    assert env["CLUSTER_HOSTNAME"] == "memos-node-1"
    assert env["RAFT_JOIN"] == "memos-node-0:20004,memos-node-1:20014,memos-node-2:20024"
    assert env["RAFT_BOOTSTRAP_EXPECT"] == "3"
    assert env["RAFT_INTERNAL_RPC_PORT"] == str(int(env["RAFT_PORT"]) + 1)  # localhost: peers derive it
    assert env["CLUSTER_JOIN"] == "127.0.0.1:20002,127.0.0.1:20022"
    assert env["ENABLE_TOKENIZER_GSE_CH"] == "true" and env["CLUSTER_IN_LOCALHOST"] == "true"
    assert cluster.client_env(1) == {"WEAVIATE_URL": "http://127.0.0.1:20010", "WEAVIATE_GRPC_PORT": "20011"}


@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_kill_a_node_under_load_loses_nothing_and_tasks_survive_their_app() -> None:
    """3 nodes, replication 3, QUORUM; two apps under load; kill -9 node 2, restart it: every
    request answered (within the retry window), the node catches up, nothing lost or duplicated;
    async tasks submitted to app 1 are finished by app 2 after app 1 is killed."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import cluster as scenario  # benchmarks/cluster.py

    sc = scenario.run(before=8, during=10, after=10, clients=4, rate=12, tasks=12, log=lambda *_: None)
    failed = [name for name, ok in sc.checks.items() if not ok]
    assert not failed, f"failed: {failed}\n{scenario.section(sc)}"
    during = [o for o in sc.outcomes if o.phase == "during"]
    assert during and all(o.status == 200 for o in during)
