"""The moto server as a child process: ``python -m tradeops.local.moto_process --port N``.

All services in memory on one loopback port. Exits 2 with a message when the port cannot be bound.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from tradeops.local.child import stop_event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradeops.local.moto_process", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    stop = stop_event()

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    try:
        server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    except OSError as exc:
        print(f"moto: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    print(f"moto: listening on http://{args.host}:{server.port}", file=sys.stderr, flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
