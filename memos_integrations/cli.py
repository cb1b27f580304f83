"""The ``memos-integrations`` command.

* ``memos-integrations weaviate install`` - make the pinned Weaviate server binary available.
* ``memos-integrations weaviate start``   - run the embedded server in the foreground.
* ``memos-integrations weaviate cluster``  - run a local N-node Weaviate cluster (storage/cluster.py).
* ``memos-integrations demo``             - memorize a short conversation and recall from it.
* ``memos-integrations serve``            - run the HTTP server (MemOS / MemnetAI APIs).
* ``memos-integrations mcp``              - run the MCP server over stdio (memos_integrations/mcp).
* ``memos-integrations ui``               - the memory inspector at /ui, on the demo data (server/ui).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from memos_integrations.config import WEAVIATE_VERSION, get_settings
from memos_integrations.errors import InvalidRequestError, MemosError


def _weaviate_install(args: argparse.Namespace) -> int:
    from memos_integrations.storage.embedded import install_binary

    settings = get_settings()
    started = time.monotonic()
    path = install_binary(settings, version=args.version or settings.weaviate_version, method=args.method)
    print(f"Done in {time.monotonic() - started:.1f}s. Embedded mode will run {path}")
    return 0


def _weaviate_start(args: argparse.Namespace) -> int:
    from memos_integrations.storage.embedded import ensure_embedded_server

    settings = get_settings()
    server = ensure_embedded_server(settings)
    print(
        f"Weaviate {settings.weaviate_version} listening on http://{server.host}:{server.http_port} "
        f"(gRPC {server.grpc_port}), data in {server.data_dir}. Ctrl-C stops it."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


def _weaviate_cluster(args: argparse.Namespace) -> int:
    import signal

    from memos_integrations.storage.cluster import LocalCluster

    cluster = LocalCluster(args.nodes, data_dir=Path(args.data_dir) if args.data_dir else None,
                           base_port=args.base_port)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        cluster.start(timeout=args.timeout)
        print(f"Ready in {time.monotonic() - started:.1f}s.")
        print(cluster.describe())
        print("Collections created through it get replication factor 3 (>= 3 nodes). Ctrl-C stops every node.",
              flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from memos_integrations.demo import run_demo

    run_demo(language=args.language)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from memos_integrations.server.run import serve

    serve(host=args.host, port=args.port, workers=args.workers)
    return 0


def _export(args: argparse.Namespace) -> int:
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.transfer import export_cubes

    engine = MemoryEngine.from_settings(start_tasks=False)
    try:
        cubes = args.cube or engine.list_cubes()
        written = export_cubes(engine, cubes, Path(args.out), include_vectors=not args.no_vectors)
    finally:
        engine.close()
    print(f"Exported {written} memories of {len(cubes)} cube(s) to {args.out}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    import json

    from memos_integrations.engine import MemoryEngine

    settings = get_settings()
    if args.action == "restore":
        if not args.id:
            raise InvalidRequestError("backup restore needs the backup id: memos-integrations backup restore <id>")
        result = MemoryEngine.restore_backup(args.id, settings, backend=args.backend)
        print(json.dumps(result, ensure_ascii=False))
        return 0
    engine = MemoryEngine.from_settings(settings, start_tasks=False)
    try:
        if args.action == "create":
            print(json.dumps(engine.create_backup(args.id or time.strftime("memos-%Y%m%d-%H%M%S"),
                                                  backend=args.backend), ensure_ascii=False))
        else:
            for backup in engine.list_backups(backend=args.backend):
                print(json.dumps(backup, ensure_ascii=False))
    finally:
        engine.close()
    return 0


def _import(args: argparse.Namespace) -> int:
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.transfer import import_file

    engine = MemoryEngine.from_settings()
    try:
        summary = import_file(engine, Path(args.file), fmt=args.format, user_id=args.user, mode=args.mode)
    finally:
        engine.close()
    print(f"Imported {args.file}: {summary}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    from memos_integrations.server.ui.demo import run_ui

    run_ui(host=args.host, port=args.port, demo=not args.no_demo)
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from memos_integrations.mcp.stdio import run_stdio

    run_stdio(api_key=args.api_key, user_id=args.user_id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memos-integrations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    weaviate = sub.add_parser("weaviate", help="manage the embedded Weaviate server")
    wsub = weaviate.add_subparsers(dest="weaviate_command", required=True)
    install = wsub.add_parser("install", help=f"install the Weaviate {WEAVIATE_VERSION} server binary")
    install.add_argument("--method", choices=["auto", "download", "go"], default="auto",
                         help="auto: official download, then Go build (default)")
    install.add_argument("--version", default=None,
                         help=f"another server version (default MEMOS_WEAVIATE_VERSION, else {WEAVIATE_VERSION})")
    install.set_defaults(func=_weaviate_install)
    start = wsub.add_parser("start", help="run the embedded server in the foreground")
    start.set_defaults(func=_weaviate_start)
    cluster = wsub.add_parser("cluster", help="run a local multi-node Weaviate cluster in the foreground")
    cluster.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    cluster.add_argument("--data-dir", default=None, help="default: $MEMOS_DATA_DIR/cluster")
    cluster.add_argument("--base-port", type=int, default=8180,
                         help="node i uses ports base+10*i (HTTP) .. base+10*i+5 (raft RPC); default 8180")
    cluster.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the cluster")
    cluster.set_defaults(func=_weaviate_cluster)

    demo = sub.add_parser("demo", help="memorize a conversation and recall from it (embedded default)")
    demo.add_argument("--language", choices=["en", "zh"], default="en")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser("serve", help="run the MemOS / MemnetAI compatible HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)

    export = sub.add_parser("export", help="write memories with their history to a JSONL file")
    export.add_argument("--cube", action="append", help="a cube to export (repeatable; default: every cube)")
    export.add_argument("--out", required=True, help="the JSONL file to write")
    export.add_argument("--no-vectors", action="store_true", help="leave vectors out (re-embedded on import)")
    export.set_defaults(func=_export)

    backup = sub.add_parser("backup", help="back up / restore the store with Weaviate's backup module")
    backup.add_argument("action", choices=["create", "restore", "list"])
    backup.add_argument("id", nargs="?", default=None, help="backup id (create: default a timestamp; restore: required)")
    backup.add_argument("--backend", choices=["filesystem", "s3", "gcs", "azure"], default="filesystem",
                        help="filesystem: MEMOS_BACKUP_DIR of the embedded server (default); others need a cluster "
                             "with that backup module")
    backup.set_defaults(func=_backup)

    imp = sub.add_parser("import", help="import memories (our export) or conversations (MemOS, MemnetAI, LoCoMo, mem0)")
    imp.add_argument("file", help="a JSON or JSONL file")
    imp.add_argument("--format", choices=["memories", "memos", "memnet", "locomo", "mem0"], default=None,
                     help="default: detected from the file")
    imp.add_argument("--user", default=None, help="store everything for this user (own cube)")
    imp.add_argument("--mode", choices=["fast", "fine"], default="fast",
                     help="conversations: fast (no LLM, default) or fine (needs CHAT_MODEL_LIST)")
    imp.set_defaults(func=_import)

    mcp = sub.add_parser("mcp", help="run the MCP server over stdio (embedded default, like serve)")
    mcp.add_argument("--api-key", default=None,
                     help="act as this MEMOS_API_KEYS key (default: $MEMOS_MCP_API_KEY; none: open)")
    mcp.add_argument("--user-id", default=None,
                     help="user of calls that name none (default: $MEMOS_MCP_USER_ID, the key's only user, "
                          "or 'default' when open)")
    mcp.set_defaults(func=_mcp)

    ui = sub.add_parser("ui", help="open the memory inspector (/ui) on the demo data (loaded into an empty store)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=8001)
    ui.add_argument("--no-demo", action="store_true", help="do not load the demo data into an empty store")
    ui.set_defaults(func=_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MemosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
