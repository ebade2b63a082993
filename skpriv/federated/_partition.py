"""Splitting rows into clients: given ids, or simulated iid / Dirichlet splits."""

import numpy as np

__all__ = ["clients_from_ids", "partition_dirichlet", "partition_iid"]


def clients_from_ids(clients, n_samples: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Group row indices by client id.

    Returns the sorted unique ids and, for each, the indices of its rows.
    """
    ids = np.asarray(clients)
    if ids.ndim != 1 or ids.shape[0] != n_samples:
        raise ValueError(
            f"clients must be a 1-d array with one client id per row "
            f"(n_samples={n_samples}); got shape {ids.shape}."
        )
    if ids.dtype.kind == "f" and not np.all(np.isfinite(ids)):
        raise ValueError("clients contains NaN or infinite ids.")
    if ids.dtype == object and any(i is None for i in ids):
        raise ValueError("clients contains None; every row needs a client id.")
    unique, inverse = np.unique(ids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse, minlength=len(unique))
    return unique, np.split(order, np.cumsum(counts)[:-1])


def partition_iid(n_samples: int, n_clients: int, rng) -> list[np.ndarray]:
    """Shuffle the rows and deal them into ``n_clients`` near-equal parts."""
    if n_clients > n_samples:
        raise ValueError(
            f"n_clients={n_clients} is larger than the number of rows "
            f"({n_samples}); every simulated client needs at least one row. "
            f"Lower n_clients or pass clients=."
        )
    perm = rng.permutation(n_samples)
    return [np.sort(part) for part in np.array_split(perm, n_clients)]


def partition_dirichlet(
    y, n_clients: int, alpha: float, rng, *, min_size: int = 1
) -> list[np.ndarray]:
    """Non-iid split: each class is divided among clients by Dirichlet(alpha).

    The label-skew scheme of Hsu et al. (2019): for every class, client
    proportions are drawn from ``Dirichlet(alpha * ones(n_clients))``. Small
    ``alpha`` gives clients few classes each. Draws are repeated (up to 100
    times) until every client has at least ``min_size`` rows; after that the
    emptiest clients take rows from the largest ones.
    """
    y = np.asarray(y)
    n_samples = y.shape[0]
    if n_clients > n_samples:
        raise ValueError(
            f"n_clients={n_clients} is larger than the number of rows "
            f"({n_samples}); every simulated client needs at least one row."
        )
    _, codes = np.unique(y, return_inverse=True)
    if y.dtype.kind == "f" and len(np.unique(codes)) > max(20, n_samples // 5):
        # A continuous target: split on its quantile bins instead of values.
        edges = np.quantile(y, np.linspace(0, 1, 11)[1:-1])
        codes = np.searchsorted(edges, y)
    by_class = [np.flatnonzero(codes == c) for c in np.unique(codes)]
    for _ in range(100):
        parts = [[] for _ in range(n_clients)]
        for rows in by_class:
            rows = rng.permutation(rows)
            props = rng.dirichlet(np.full(n_clients, alpha))
            cuts = (np.cumsum(props)[:-1] * len(rows)).astype(int)
            for k, chunk in enumerate(np.split(rows, cuts)):
                parts[k].append(chunk)
        parts = [np.concatenate(p) for p in parts]
        if min(len(p) for p in parts) >= min_size:
            break
    else:
        # Rebalance: move rows from the largest client to each empty one.
        for k in range(n_clients):
            while len(parts[k]) < min_size:
                big = int(np.argmax([len(p) for p in parts]))
                parts[k] = np.append(parts[k], parts[big][-1])
                parts[big] = parts[big][:-1]
    return [np.sort(p) for p in parts]
