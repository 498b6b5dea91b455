"""Dask itself, for :mod:`skmood.distributed`: the install hint and the client (private).

``import skmood`` never imports Dask; the functions of this subpackage that
need it import it through :func:`require_dask`, which names the extra to
install when it is missing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["current_client", "require_dask"]

#: The install command of the extra (pyproject.toml's ``dask``).
INSTALL_HINT = "pip install 'skmood[dask]'"


def require_dask(what: str) -> None:
    """Import Dask's dataframe and distributed packages, or say how to install them."""
    try:
        import dask  # noqa: F401
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{what} needs Dask (dask[distributed,dataframe] and pyarrow): {INSTALL_HINT}. "
            f"({exc})"
        ) from exc


def current_client(client: Any) -> Any:
    """``client``, else the default ``distributed.Client`` if there is one, else None."""
    if client is not None:
        from distributed import Client

        if not isinstance(client, Client):
            raise TypeError(
                f"client must be a distributed.Client or None, got {type(client).__name__}; "
                "for a scheduler address use Client('tcp://host:8786')."
            )
        return client
    from distributed import default_client

    try:
        return default_client()
    except ValueError:  # "No clients found"
        return None
