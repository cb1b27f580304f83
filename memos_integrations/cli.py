"""The ``memos-integrations`` command.

* ``memos-integrations weaviate install`` - make the pinned Weaviate server binary available.
* ``memos-integrations weaviate start``   - run the embedded server in the foreground.
* ``memos-integrations demo``             - memorize a short conversation and recall from it.
* ``memos-integrations serve``            - run the HTTP server (MemOS / MemnetAI APIs).
"""

from __future__ import annotations

import argparse
import sys
import time

from memos_integrations.config import WEAVIATE_VERSION, get_settings
from memos_integrations.errors import MemosError


def _weaviate_install(args: argparse.Namespace) -> int:
    from memos_integrations.storage.embedded import install_binary

    settings = get_settings()
    started = time.monotonic()
    path = install_binary(settings, method=args.method)
    print(f"Done in {time.monotonic() - started:.1f}s. Embedded mode will run {path}")
    return 0


def _weaviate_start(args: argparse.Namespace) -> int:
    from memos_integrations.storage.embedded import ensure_embedded_server

    settings = get_settings()
    server = ensure_embedded_server(settings)
    print(
        f"Weaviate {WEAVIATE_VERSION} listening on http://{server.host}:{server.http_port} "
        f"(gRPC {server.grpc_port}), data in {server.data_dir}. Ctrl-C stops it."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from memos_integrations.demo import run_demo

    run_demo(language=args.language)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from memos_integrations.server.run import serve

    serve(host=args.host, port=args.port, workers=args.workers)
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
    install.set_defaults(func=_weaviate_install)
    start = wsub.add_parser("start", help="run the embedded server in the foreground")
    start.set_defaults(func=_weaviate_start)

    demo = sub.add_parser("demo", help="memorize a conversation and recall from it (embedded default)")
    demo.add_argument("--language", choices=["en", "zh"], default="en")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser("serve", help="run the MemOS / MemnetAI compatible HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)
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
