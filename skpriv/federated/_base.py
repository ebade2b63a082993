"""Federated averaging as a scikit-learn meta-estimator (in-process simulation)."""

import copy
import functools
import math
import re
import sys
import time
import warnings
from numbers import Integral, Real

import dp_accounting
import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..accounting import dpsgd_noise_multiplier, epsilon_of
from ..base import DP, PUBLIC, PrivacyMixin, declared_releases, privacy_constraints
from ..utils._errors import call_hiding_values
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import check_delta
from ._adapters import get_adapter
from ._aggregation import ServerOptimizer, clip_updates
from ._partition import clients_from_ids, partition_dirichlet, partition_iid
from ._plan import FederatedPlan
from ._secagg import FixedPointOverflowError, SecureAggregator, fixed_point_sum

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


# scikit-learn's label checks quote the labels ("Got ['a' 'b'] and [0 1]").
_QUOTED_LABELS = re.compile(r"\b[Gg]ot\s+\[.*?\](\s+and\s+\[.*?\])?", re.DOTALL)


def hiding_values(method):
    """Run a predict-side method so that its errors quote no value of ``X``/``y``.

    The fit template already strips values from errors; prediction and
    scoring see private rows too (an error tracker would keep them).
    """

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return call_hiding_values(method, *args, **kwargs)
        except (ValueError, TypeError) as exc:
            message = str(exc)
            hidden = _QUOTED_LABELS.sub(
                "(values not shown: they may be private)", message
            )
            if hidden == message:
                raise
            kind = ValueError if isinstance(exc, ValueError) else TypeError
            del exc
        raise kind(hidden)

    return wrapper


_NO_DP = "uncovered: trained without differential privacy (no noise, non-DP learner)"
_UNDECLARED = (
    "uncovered: record-level DP of the local learner with given clients, but "
    "no declared client population: removing the only row of a client removes "
    "the client, which that guarantee does not cover; declare every client "
    "with client_ids= (and a local learner that trains on zero rows)"
)
_NO_EMPTY = (
    "uncovered: record-level DP of the local learner, which cannot train a "
    "declared client on zero rows: removing a client's only row would fail "
    "the fit instead of releasing noise"
)


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
        "n_clients": [Interval(Integral, 1, None, closed="left"), None],
        "client_ids": ["array-like", None],
        "partition": [StrOptions({"iid", "dirichlet"})],
        "dirichlet_alpha": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    # What a fit releases (see skpriv.base). Kinds that depend on whether the
    # fit was private are adjusted in _release_kinds.
    _privacy_releases = {
        "estimator_": DP,
        "adapter_": PUBLIC,
        "n_rounds_": PUBLIC,
        "history_": DP,  # round number and wall time only, under DP
        "noise_multiplier_": PUBLIC,
        "epsilon_": PUBLIC,
        "client_dp_event_": PUBLIC,
        "record_dp_event_": PUBLIC,
        # Set only when public: simulated clients (from n_clients), or ids
        # passed to a fit without DP (then the model is uncovered anyway).
        "n_clients_": PUBLIC,
        "client_ids_": PUBLIC,
    }

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        if not self.__dict__.get("_private_model", True):
            kinds["estimator_"] = _NO_DP
            kinds["history_"] = (
                "uncovered: exact per-round scores, client and clipping counts "
                "(no differential privacy)"
            )
            if self.__dict__.get("_clients_given", False):
                reason = "uncovered: the client ids passed to fit"
                kinds["n_clients_"] = kinds["client_ids_"] = reason
        elif self.__dict__.get("_model_gap"):
            kinds["estimator_"] = self._model_gap
        return kinds

    # ------------------------------------------------------------------ helpers
    def _default_estimator(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _dp_on(self) -> bool:
        return self.epsilon is not None or self.noise_multiplier > 0

    def _n_clients(self) -> int:
        """The public number of clients: ``n_clients``, else the declared
        population ``client_ids``, else 10."""
        if self.n_clients is not None:
            return int(self.n_clients)
        if self.client_ids is not None:
            return len(self._declared_ids())
        return 10

    def _declared_ids(self):
        """``client_ids`` checked: a non-empty 1-d array of distinct ids."""
        ids = np.asarray(self.client_ids)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError(
                "client_ids must be a non-empty 1-d list of client ids (the "
                "public client population)."
            )
        if np.unique(ids).size != ids.size:
            raise ValueError("client_ids must not repeat an id.")
        if self.n_clients is not None and int(self.n_clients) != ids.size:
            raise ValueError(
                f"n_clients={self.n_clients} disagrees with the {ids.size} ids "
                f"of client_ids; give one of them, or make them agree."
            )
        return ids

    def _check_config(self, clients_given=False):
        if self._dp_on() and self.clip_norm is None:
            which = "epsilon" if self.epsilon is not None else "noise_multiplier"
            raise ValueError(
                f"Client-level DP ({which} is set) needs clip_norm, the bound on "
                f"each client's update norm; pass e.g. clip_norm=1.0."
            )
        if self._dp_on():
            check_delta(self.delta, allow_zero=False)
            if clients_given and self.n_clients is None and self.client_ids is None:
                raise ValueError(
                    "Client-level DP with fit(..., clients=ids) needs n_clients, "
                    "the public number of clients: the noisy sum is divided by "
                    "client_fraction * n_clients (a fixed denominator), since "
                    "the true number of clients is private. Pass e.g. "
                    "n_clients=100, or declare the clients with client_ids=."
                )

    def _resolved_noise_multiplier(self) -> float:
        if not self._dp_on():
            return 0.0
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

    def _plan(self, clients_given=False) -> FederatedPlan:
        """The one plan of a fit: noise, denominator and DP event (public inputs)."""
        self._check_config(clients_given)
        return FederatedPlan(
            noise_multiplier=self._resolved_noise_multiplier(),
            clip_norm=None if self.clip_norm is None else float(self.clip_norm),
            client_fraction=float(self.client_fraction),
            n_rounds=int(self.n_rounds),
            n_clients=self._n_clients(),
        )

    def _inner_is_dp(self) -> bool:
        return self.estimator is not None and hasattr(
            self.estimator, "_planned_dp_event"
        )

    def _planned_dp_event(self, n_samples):
        plan = self._plan()
        if plan.dp or not self._inner_is_dp():
            return plan.client_event()
        n = None if n_samples is None else max(1, n_samples // plan.n_clients)
        return dp_accounting.SelfComposedDpEvent(
            self.estimator._planned_dp_event(n), plan.n_rounds
        )

    def _log(self, msg):
        if self.verbose:
            print(f"[{type(self).__name__}] {msg}", file=sys.stdout, flush=True)

    # --------------------------------------------------------------------- fit
    def _partition(self, X, y, clients, rng):
        n = X.shape[0]
        if clients is not None and self.client_ids is not None:
            return self._declared_partition(clients, n)
        if clients is not None:
            ids, parts = clients_from_ids(clients, n)
            return ids, parts
        n_clients = self._n_clients()
        if n_clients > n:
            raise ValueError(
                f"n_clients={n_clients} is larger than n_samples={n}: every "
                f"simulated client needs at least one row. Lower n_clients or "
                f"pass clients=."
            )
        if self.partition == "iid":
            parts = partition_iid(n, n_clients, rng)
        else:
            parts = partition_dirichlet(y, n_clients, self.dirichlet_alpha, rng)
        names = (
            np.arange(n_clients) if self.client_ids is None else self._declared_ids()
        )
        return names, parts

    def _declared_partition(self, clients, n):
        """Rows of each declared client, in ``client_ids`` order (possibly none)."""
        declared = self._declared_ids()
        ids, parts = clients_from_ids(clients, n)
        if declared.dtype.kind != ids.dtype.kind and not (
            declared.dtype.kind in "iuf" and ids.dtype.kind in "iuf"
        ):
            raise ValueError(
                "clients and client_ids hold ids of different types; use the "
                "same ids in both."
            )
        position = {k: i for i, k in enumerate(declared.tolist())}
        unknown = sum(k not in position for k in ids.tolist())
        if unknown:
            # The ids themselves may identify people: only their count is named.
            raise ValueError(
                f"clients holds {unknown} id(s) missing from client_ids; declare "
                f"every client that may hold rows."
            )
        full = [np.zeros(0, dtype=np.intp) for _ in declared]
        for k, rows in zip(ids.tolist(), parts):
            full[position[k]] = rows
        return declared, full

    def _federate(self, X, y, clients, rng, classes):
        """The FedAvg loop; ``y`` is already encoded for the inner estimator."""
        plan = self._plan(clients_given=clients is not None)
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
        declared = clients is not None and self.client_ids is not None
        if np.any(sizes == 0) and not declared:
            raise ValueError(
                f"{int(np.sum(sizes == 0))} client(s) have zero rows; every "
                f"client needs at least one."
            )
        inner_dp = hasattr(base, "_planned_dp_event")
        if declared and inner_dp and not plan.dp and np.any(sizes == 0):
            if not adapter.trains_on_zero_rows:
                raise ValueError(
                    f"a client declared in client_ids has no rows, and the DP "
                    f"local learner {type(base).__name__} cannot train on zero "
                    f"rows (its mechanism run on no data), which the record-level "
                    f"guarantee then needs. Add client-level DP (noise_multiplier "
                    f"or epsilon) or leave out the empty client."
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
        dp = plan.dp
        # Whether the model is claimed DP (client-level noise, or a DP local
        # learner): then nothing else computed from private data without
        # noise may be released (history, weights, step counters).
        private = dp or inner_dp
        # Record-level DP from the local learner alone covers a removed row
        # only if its client stays in the average (see _release_kinds).
        gap = None
        if private and not dp and clients is not None:
            if not declared:
                gap = _UNDECLARED
            elif not adapter.trains_on_zero_rows:
                gap = _NO_EMPTY

        Xk = adapter.prepare_X(X)
        # Each client's rows, gathered once (one copy, contiguous views) and
        # not again every round.
        if hasattr(Xk, "shape") and not hasattr(Xk, "tocsr") and len(parts):
            order = np.concatenate(parts)
            bounds = np.cumsum([0] + [len(p) for p in parts])
            Xs, ys = Xk[order], y[order]
            client_rows = [(Xs[a:b], ys[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        else:
            client_rows = [(Xk[p], y[p]) for p in parts]
        global_est = adapter.initialize(clone(base), X.shape[1], classes, rng)
        weights = adapter.get_weights(global_est)
        gvec = _flatten(weights)
        mech = plan.mechanism(gvec.size) if dp else None
        lr = self.server_learning_rate
        if lr is None:
            lr = 1.0 if self.aggregation == "fedavg" else 0.1
        server = ServerOptimizer(self.aggregation, lr, gvec.size)
        # Drawn whether or not it is used, so that turning secure aggregation
        # on leaves every other random choice unchanged.
        graph_seed = int(rng.integers(2**31))
        # Under DP the updates travel as exact multiples of the noise grid
        # step, so the fixed-point sum must resolve that step.
        bits = 24 if mech is None else max(24, -math.frexp(mech.granularity)[1] + 1)
        secagg = None
        if self.secure_aggregation:
            secagg = SecureAggregator(random_state=graph_seed, fractional_bits=bits)
        # Under private training the per-client step counters are private;
        # the schedule advances by the expected steps, from public n and
        # n_clients.
        public_steps = self.local_epochs * X.shape[0] / plan.n_clients

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
            if not private and declared:
                # Without DP a declared client with no rows simply sits out.
                keep = sizes[chosen] > 0
                chosen, seeds = chosen[keep], seeds[keep]
            record = {"round": rnd + 1}
            if not private:
                record["n_clients"] = int(len(chosen))
            use_secagg = secagg is not None and len(chosen) >= 3
            if secagg is not None and 0 < len(chosen) < 3 and not dp:
                chosen = chosen[:0]  # too few for secure aggregation: skip
                record["skipped"] = "fewer than 3 clients sampled"
            # Under DP a round is never skipped for want of clients: skipping
            # two clients' updates when a third joins would give one client
            # three clip norms of influence. Such rounds sum in the clear at
            # the (trusted) aggregator, which adds the noise anyway.
            results, pending = [], None
            if use_secagg and len(chosen):
                # The protocol's input-independent stages (keys, shares, masks)
                # run before local training; clients keep long-term keys by id.
                pending = secagg.start(
                    len(chosen), gvec.size + (0 if dp else 1), ids=chosen
                )
            try:
                if len(chosen):
                    results = self._train_chosen(
                        adapter,
                        global_est,
                        client_rows,
                        chosen,
                        seeds,
                        classes,
                        parallel,
                        skip_empty=not inner_dp or dp,
                        gvec=gvec,
                    )
            except BaseException:
                if pending is not None:
                    pending.discard()
                raise
            if results:
                updates = np.stack([r[0] for r in results]) - gvec
                inner_events.extend(r[2] for r in results if r[2] is not None)
                # Equal weights whenever the model is claimed private: the
                # clients' row counts are private. Otherwise row counts over
                # the mean client size (public n over the number of clients):
                # about 1 each, so a weighted update is about as large as the
                # update and its fixed-point sum stays within the ring.
                w = (
                    np.ones(len(results))
                    if private
                    else sizes[chosen] * (n_clients / X.shape[0])
                )
                if dp:
                    updates, _ = plan.clip_to_grid(updates, mech.granularity)
                elif self.clip_norm is not None:
                    updates, norms = clip_updates(updates, self.clip_norm)
                    if not private:
                        record["clipped"] = int(np.sum(norms > self.clip_norm))
            if dp:
                total = np.zeros(gvec.size)
                if results:
                    total = self._sum(pending, updates, None, bits)
                mean_update = plan.noisy_mean(total, mech, rng)
            elif results:
                mean_update = self._sum(pending, updates, w, bits)
            else:
                mean_update = None
            if mean_update is not None:
                gvec = server.step(gvec, mean_update)
                adapter.set_weights(global_est, _unflatten(gvec, weights))
                if private:
                    adapter.advance_state(global_est, public_steps)
                elif results:
                    adapter.update_state(global_est, [r[1] for r in results], w)
            record["seconds"] = time.perf_counter() - tic
            if not private:
                record["score"] = float(self._round_score(global_est, Xk, y))
            history.append(record)
            self._log(
                f"round {rnd + 1}/{self.n_rounds}"
                + (f": {record['n_clients']} clients" if "n_clients" in record else "")
                + (f", score={record['score']:.4f}" if "score" in record else "")
                + f" ({record['seconds']:.2f}s)"
            )

        self.estimator_ = global_est
        self.adapter_ = adapter
        self.n_rounds_ = self.n_rounds
        self._private_model = private
        self._clients_given = clients is not None
        self._model_gap = gap
        for attr in ("n_clients_", "client_ids_"):
            self.__dict__.pop(attr, None)
        if clients is None or not private or declared:
            # Under DP, the ids and count of the clients given to fit would
            # tell who took part: they are not kept.
            self.n_clients_ = n_clients
            self.client_ids_ = ids
        self.history_ = history
        self.noise_multiplier_ = plan.noise_multiplier
        self._record_events(plan, inner_events, self.n_rounds)
        return self

    def _train_chosen(
        self,
        adapter,
        global_est,
        client_rows,
        chosen,
        seeds,
        classes,
        parallel,
        *,
        skip_empty,
        gvec,
    ):
        """Train the round's chosen clients, in ``chosen`` order.

        A declared client with no rows either keeps the global model (a zero
        update: without a DP local learner, or under client-level DP, whose
        noise covers it) or, with a DP local learner and no client-level
        noise, trains on zero rows (its mechanism on no data: noise only).
        """
        empty = [len(client_rows[k][1]) == 0 for k in chosen]
        if not any(empty) or not skip_empty:
            jobs = [(*client_rows[k], s) for k, s in zip(chosen, seeds)]
            return self._train_round(adapter, global_est, jobs, classes, parallel)
        jobs = [(*client_rows[k], s) for k, s, e in zip(chosen, seeds, empty) if not e]
        trained = iter(
            self._train_round(adapter, global_est, jobs, classes, parallel)
            if jobs
            else []
        )
        return [(gvec.copy(), {}, None) if e else next(trained) for e in empty]

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

    def _sum(self, pending, updates, w, bits):
        """Weighted mean of updates (``w`` given) or their plain sum (``w=None``);
        under secure aggregation ``pending`` is the round's protocol run.

        Without secure aggregation the sum is computed in the same fixed point
        (``bits`` fractional bits, exact in the ring): local training can
        amplify a difference of one rounding step into a different model
        (scikit-learn's "optimal" SGD step starts at 1 / (alpha * 1000) = 10),
        so turning secure aggregation on must not change the arithmetic.
        Values too large for the ring, and rounds of fewer than 3 clients
        (which secure aggregation never masks), are summed in floating point.
        """
        # The weights travel masked too: the server learns only the totals.
        matrix = updates if w is None else np.column_stack([updates * w[:, None], w])
        if pending is not None:
            total = pending.finish(matrix)
        elif len(matrix) < 3:
            total = matrix.sum(axis=0)
        else:
            try:
                total = fixed_point_sum(matrix, bits)
            except FixedPointOverflowError:
                total = matrix.sum(axis=0)
        return total if w is None else total[:-1] / total[-1]

    def _record_events(self, plan, inner_events, n_rounds):
        """Record what ran: the plan's client-level event over ``n_rounds``
        rounds, and the record-level events of DP local learners."""
        client = plan.client_event(n_rounds)
        self.client_dp_event_ = client
        candidates = [client]
        if inner_events:
            # Disjoint clients compose in parallel; a row sees one client per round.
            worst = max(
                {repr(e): e for e in inner_events}.values(),
                key=lambda e: epsilon_of(e, self.delta, "rdp"),
            )
            candidates.append(dp_accounting.SelfComposedDpEvent(worst, n_rounds))
        self.record_dp_event_ = candidates[-1]
        # Pick the tighter bound with the fast RDP accountant.
        self.dp_event_ = min(candidates, key=lambda e: epsilon_of(e, self.delta, "rdp"))

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
            cache = (key, epsilon_of(event, self.delta))
            self._epsilon_cache = cache
        return cache[1]

    # ----------------------------------------------------------------- predict
    def _round_score(self, est, X, y):
        return est.score(X, y)

    def _check_fitted(self):
        check_is_fitted(self, "estimator_")
