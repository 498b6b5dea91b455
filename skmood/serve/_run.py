"""Running the application with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from ._app import create_app

__all__ = ["run"]

logger = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(model: Any, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
        **options: Any) -> None:
    """Serve ``model`` with uvicorn until interrupted (Ctrl-C), then return.

    Parameters
    ----------
    model : HappySadClassifier, Pipeline, str or os.PathLike
        As :func:`create_app` takes; the model is loaded once, before the
        server starts listening.
    host : str, default="127.0.0.1"
        Address to bind. The default accepts connections from this machine
        only; ``0.0.0.0`` accepts them from anywhere (then set an API key).
    port : int, default=8000
        TCP port (0 picks a free one).
    log_level : str, default="info"
        uvicorn's log level (``"warning"`` hides the access log).
    **options
        :class:`Settings` of :func:`create_app`: ``api_key``, ``max_upload_mb``,
        ``max_files``, ``crop_faces``, ``detector``, ...

    Raises
    ------
    OSError
        If the address cannot be bound (e.g. the port is in use).
    """
    import uvicorn

    app = create_app(model, **options)
    if not _is_loopback(host) and not options.get("api_key"):
        logger.warning("serving on %s without an API key: anyone who can reach this "
                       "address can use the model (set --api-key or SKMOOD_API_KEY).", host)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            limit_concurrency=512, timeout_keep_alive=5, server_header=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a clean shutdown
        logger.info("server stopped")
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        raise OSError(f"cannot serve on {host}:{port} (see the message above; is the port "
                      "in use?)") from exc


class BackgroundServer:
    """Serve an application in a background thread, on a free loopback port.

    For tests, benchmarks and notebooks: the server starts on entering the
    ``with`` block and stops on leaving it.

    Parameters
    ----------
    app : ASGI application
        E.g. from :func:`create_app`.
    host : str, default="127.0.0.1"
        Address to bind.
    port : int, default=0
        TCP port; 0 picks a free one (see :attr:`url`).
    log_level : str, default="warning"
        uvicorn's log level.

    Examples
    --------
    >>> import httpx  # doctest: +SKIP
    >>> with BackgroundServer(create_app("model.skmood")) as server:  # doctest: +SKIP
    ...     httpx.get(server.url + "/health").json()["status"]
    'ok'
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning") -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self._server: Any = None
        self._thread: Any = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        import socket
        import threading
        import time

        import uvicorn

        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level=self.log_level, limit_concurrency=512,
                                timeout_keep_alive=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="skmood-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise OSError(f"the server on {self.url} did not start.")
            time.sleep(0.02)
        self._socket = sock
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()
