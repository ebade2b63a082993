"""Federated averaging as a scikit-learn meta-estimator (in-process simulation)."""

import copy
import math
import sys
import time
import warnings
from numbers import Integral, Real

import dp_accounting
import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..accounting import dpsgd_noise_multiplier, make_accountant
from ..base import PrivacyMixin, privacy_constraints
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import check_delta
from ._adapters import get_adapter
from ._aggregation import ServerOptimizer, clip_updates, gaussian_noise
from ._partition import clients_from_ids, partition_dirichlet, partition_iid
from ._secagg import SecureAggregator

__all__ = ["BaseFederated"]


def _flatten(weights) -> np.ndarray:
    return np.concatenate([np.ravel(w) for w in weights]).astype(np.float64)


def _unflatten(vector, like) -> list:
    out, start = [], 0
    for w in like:
        size = int(np.size(w))
        out.append(vector[start : start + size].reshape(np.shape(w)))
        start += size
    return out


def _train_clients(adapter, global_est, jobs, classes, epochs, proximal_mu):
    """Local training of a batch of clients, each from the global model."""
    results = []
    for X, y, seed in jobs:
        est = copy.deepcopy(global_est)
        aux = adapter.local_fit(
            est,
            X,
            y,
            classes=classes,
            epochs=epochs,
            seed=seed,
            proximal_mu=proximal_mu,
        )
        event = est.__dict__.get("dp_event_")
        results.append((_flatten(adapter.get_weights(est)), aux, event))
    return results


def _epsilon(event, delta, accountant="pld") -> float:
    if isinstance(event, dp_accounting.NonPrivateDpEvent):
        return math.inf
    acc = make_accountant(accountant)
    acc.compose(event)
    return float(acc.get_epsilon(delta))


class BaseFederated(PrivacyMixin, BaseEstimator):
    """Shared fit loop of FederatedClassifier and FederatedRegressor."""

    _parameter_constraints = {
        "estimator": "no_validation",
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "local_epochs": [Interval(Integral, 1, None, closed="left")],
        "client_fraction": [Interval(Real, 0, 1, closed="right")],
        "aggregation": [StrOptions({"fedavg", "fedadam", "fedyogi"})],
        "server_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "proximal_mu": [Interval(Real, 0, None, closed="left")],
        "clip_norm": [Interval(Real, 0, None, closed="neither"), None],
        "noise_multiplier": [Interval(Real, 0, None, closed="left")],
        "epsilon": [*privacy_constraints("epsilon")["epsilon"], None],
        **privacy_constraints("delta", "random_state"),
        "secure_aggregation": ["boolean"],
        "n_clients": [Interval(Integral, 1, None, closed="left")],
        "partition": [StrOptions({"iid", "dirichlet"})],
        "dirichlet_alpha": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    # ------------------------------------------------------------------ helpers
    def _default_estimator(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _dp_on(self) -> bool:
        return self.epsilon is not None or self.noise_multiplier > 0

    def _check_config(self):
        if self._dp_on() and self.clip_norm is None:
            which = "epsilon" if self.epsilon is not None else "noise_multiplier"
            raise ValueError(
                f"Client-level DP ({which} is set) needs clip_norm, the bound on "
                f"each client's update norm; pass e.g. clip_norm=1.0."
            )
        if self._dp_on():
            check_delta(self.delta, allow_zero=False)

    def _resolved_noise_multiplier(self) -> float:
        if self.epsilon is None:
            return float(self.noise_multiplier)
        # RDP calibration is fast at every epsilon and never overshoots (RDP
        # bounds PLD from above); epsilon_ then reports the tighter PLD value.
        return dpsgd_noise_multiplier(
            self.epsilon,
            self.delta,
            self.client_fraction,
            self.n_rounds,
            accountant="rdp",
        )

    def _client_event(self, noise_multiplier):
        if noise_multiplier <= 0:
            return dp_accounting.NonPrivateDpEvent()
        event = dp_accounting.GaussianDpEvent(noise_multiplier)
        if self.client_fraction < 1:
            event = dp_accounting.PoissonSampledDpEvent(self.client_fraction, event)
        return dp_accounting.SelfComposedDpEvent(event, self.n_rounds)

    def _planned_dp_event(self, n_samples):
        self._check_config()
        client = self._client_event(self._resolved_noise_multiplier())
        if not isinstance(client, dp_accounting.NonPrivateDpEvent):
            return client
        inner = self.estimator
        if inner is not None and hasattr(inner, "_planned_dp_event"):
            n = None if n_samples is None else max(1, n_samples // self.n_clients)
            return dp_accounting.SelfComposedDpEvent(
                inner._planned_dp_event(n), self.n_rounds
            )
        return client

    def _log(self, msg):
        if self.verbose:
            print(f"[{type(self).__name__}] {msg}", file=sys.stdout, flush=True)

    # --------------------------------------------------------------------- fit
    def _partition(self, X, y, clients, rng):
        n = X.shape[0]
        if clients is not None:
            ids, parts = clients_from_ids(clients, n)
            return ids, parts
        if self.n_clients > n:
            raise ValueError(
                f"n_clients={self.n_clients} is larger than n_samples={n}: every "
                f"simulated client needs at least one row. Lower n_clients or "
                f"pass clients=."
            )
        if self.partition == "iid":
            parts = partition_iid(n, self.n_clients, rng)
        else:
            parts = partition_dirichlet(y, self.n_clients, self.dirichlet_alpha, rng)
        return np.arange(self.n_clients), parts

    def _federate(self, X, y, clients, rng, classes):
        """The FedAvg loop; ``y`` is already encoded for the inner estimator."""
        self._check_config()
        base = self._default_estimator() if self.estimator is None else self.estimator
        adapter = get_adapter(base)
        if self.proximal_mu > 0 and not adapter.supports_proximal:
            raise ValueError(
                f"proximal_mu={self.proximal_mu} (FedProx) needs a local learner "
                f"with a proximal term; {type(base).__name__} has none (skorch "
                f"nets do). Use proximal_mu=0."
            )
        ids, parts = self._partition(X, y, clients, rng)
        sizes = np.array([len(p) for p in parts])
        if np.any(sizes == 0):
            raise ValueError(
                f"clients {ids[sizes == 0].tolist()} have zero rows; every client "
                f"needs at least one."
            )
        n_clients = len(parts)
        if self.secure_aggregation and n_clients < 3:
            raise ValueError(
                f"secure_aggregation=True needs at least 3 clients; got "
                f"{n_clients}. With fewer, the sum reveals individual updates."
            )
        if n_clients == 1:
            warnings.warn(
                "Only one client: federated averaging is centralized training.",
                UserWarning,
                stacklevel=3,
            )
        noise_multiplier = self._resolved_noise_multiplier() if self._dp_on() else 0.0
        dp = noise_multiplier > 0

        Xk = adapter.prepare_X(X)
        global_est = adapter.initialize(clone(base), X.shape[1], classes, rng)
        weights = adapter.get_weights(global_est)
        gvec = _flatten(weights)
        lr = self.server_learning_rate
        if lr is None:
            lr = 1.0 if self.aggregation == "fedavg" else 0.1
        server = ServerOptimizer(self.aggregation, lr, gvec.size)
        # Drawn whether or not it is used, so that turning secure aggregation
        # on leaves every other random choice unchanged.
        graph_seed = int(rng.integers(2**31))
        secagg = (
            SecureAggregator(random_state=graph_seed)
            if self.secure_aggregation
            else None
        )

        history, inner_events = [], []
        n_jobs = effective_n_jobs(self.n_jobs)
        parallel = Parallel(n_jobs=n_jobs) if n_jobs > 1 else None
        for rnd in range(self.n_rounds):
            tic = time.perf_counter()
            if self.client_fraction < 1:
                chosen = np.flatnonzero(rng.random(n_clients) < self.client_fraction)
            else:
                chosen = np.arange(n_clients)
            seeds = rng.integers(0, 2**31 - 1, size=len(chosen))
            record = {"round": rnd + 1, "n_clients": int(len(chosen))}
            if secagg is not None and len(chosen) < 3 and len(chosen) > 0:
                chosen = chosen[:0]  # too few for secure aggregation: skip
                record["skipped"] = "fewer than 3 clients sampled"
            results, pending = [], None
            if secagg is not None and len(chosen):
                # The protocol's input-independent stages (keys, shares, masks)
                # run before local training; clients keep long-term keys by id.
                pending = secagg.start(
                    len(chosen), gvec.size + (0 if dp else 1), ids=chosen
                )
            try:
                if len(chosen):
                    jobs = [
                        (Xk[parts[k]], y[parts[k]], s) for k, s in zip(chosen, seeds)
                    ]
                    results = self._train_round(
                        adapter, global_est, jobs, classes, parallel
                    )
            except BaseException:
                if pending is not None:
                    pending.discard()
                raise
            if results:
                updates = np.stack([r[0] for r in results]) - gvec
                if self.clip_norm is not None:
                    updates, norms = clip_updates(updates, self.clip_norm)
                    record["clipped"] = int(np.sum(norms > self.clip_norm))
                w = np.ones(len(results)) if dp else sizes[chosen].astype(float)
                inner_events.extend(r[2] for r in results if r[2] is not None)
            if dp:
                total = np.zeros(gvec.size)
                if results:
                    total = self._sum(pending, updates, None)
                total = total + gaussian_noise(
                    noise_multiplier * self.clip_norm, gvec.size, rng
                )
                # Fixed denominator (McMahan et al. 2018): the expected count.
                mean_update = total / (self.client_fraction * n_clients)
            elif results:
                mean_update = self._sum(pending, updates, w)
            else:
                mean_update = None
            if mean_update is not None:
                gvec = server.step(gvec, mean_update)
                adapter.set_weights(global_est, _unflatten(gvec, weights))
                if results:
                    adapter.update_state(global_est, [r[1] for r in results], w)
            record["seconds"] = time.perf_counter() - tic
            if not dp:
                record["score"] = float(self._round_score(global_est, Xk, y))
            history.append(record)
            self._log(
                f"round {rnd + 1}/{self.n_rounds}: {record['n_clients']} clients"
                + (f", score={record['score']:.4f}" if "score" in record else "")
                + f" ({record['seconds']:.2f}s)"
            )

        self.estimator_ = global_est
        self.adapter_ = adapter
        self.n_rounds_ = self.n_rounds
        self.n_clients_ = n_clients
        self.client_ids_ = ids
        self.history_ = history
        self.noise_multiplier_ = noise_multiplier
        self._record_events(noise_multiplier, inner_events)
        return self

    def _train_round(self, adapter, global_est, jobs, classes, parallel):
        """Local training of the sampled clients: vectorized, sequential or joblib."""
        args = (classes, self.local_epochs, self.proximal_mu)
        fast = getattr(adapter, "train_many", None)
        if fast is not None:
            results = fast(global_est, jobs, *args)  # None: not applicable
            if results is not None:
                return results
        if parallel is None:
            return _train_clients(adapter, global_est, jobs, *args)
        chunks = np.array_split(np.arange(len(jobs)), parallel.n_jobs)
        out = parallel(
            delayed(_train_clients)(adapter, global_est, [jobs[i] for i in c], *args)
            for c in chunks
            if len(c)
        )
        return [r for batch in out for r in batch]

    def _sum(self, pending, updates, w):
        """Weighted mean of updates (``w`` given) or their plain sum (``w=None``);
        under secure aggregation ``pending`` is the round's protocol run."""
        if w is None:
            return updates.sum(axis=0) if pending is None else pending.finish(updates)
        if pending is None:
            return np.average(updates, axis=0, weights=w)
        # The weights travel masked too: the server learns only the totals.
        total = pending.finish(np.column_stack([updates * w[:, None], w]))
        return total[:-1] / total[-1]

    def _record_events(self, noise_multiplier, inner_events):
        client = self._client_event(noise_multiplier)
        self.client_dp_event_ = client
        candidates = [client]
        if inner_events:
            # Disjoint clients compose in parallel; a row sees one client per round.
            eps = {}
            for e in inner_events:
                key = repr(e)
                if key not in eps:
                    eps[key] = (_epsilon(e, self.delta, "rdp"), e)
            worst = max(eps.values(), key=lambda pair: pair[0])[1]
            candidates.append(dp_accounting.SelfComposedDpEvent(worst, self.n_rounds))
        self.record_dp_event_ = candidates[-1]
        # Pick the tighter bound with the fast RDP accountant.
        self.dp_event_ = min(candidates, key=lambda e: _epsilon(e, self.delta, "rdp"))

    @property
    def epsilon_(self):
        """Epsilon at ``delta`` of ``dp_event_`` (PLD accountant), when DP is on."""
        event = self.__dict__.get("dp_event_")
        if event is None or isinstance(event, dp_accounting.NonPrivateDpEvent):
            raise AttributeError(
                f"{type(self).__name__} has no epsilon_: it is set by a fit with "
                f"client-level DP (noise_multiplier > 0 or epsilon) or a DP "
                f"local learner."
            )
        key = (repr(event), self.delta)
        cache = self.__dict__.get("_epsilon_cache")
        if cache is None or cache[0] != key:
            cache = (key, _epsilon(event, self.delta))
            self._epsilon_cache = cache
        return cache[1]

    # ----------------------------------------------------------------- predict
    def _round_score(self, est, X, y):
        return est.score(X, y)

    def _check_fitted(self):
        check_is_fitted(self, "estimator_")
