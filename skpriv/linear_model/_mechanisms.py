"""Private building blocks of DPLogisticRegression: releases and solvers.

Every function here is a pure function of its inputs and a numpy Generator.
Rows reach them already clipped and scaled: ``Z`` has one row per example,
``[x / data_norm, intercept_feature]``, so every row has L2 norm at most
``row_bound = sqrt(1 + intercept_feature**2)``. Neighbouring data sets differ
by adding or removing one row (the relation of dp-accounting's PLD
accountant); the dataset size is *not* public, so solvers that need it use a
noisy count.
"""

import math
import warnings

import dp_accounting as dpa
import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, log_softmax, softmax

from ..mechanisms import Gaussian, Laplace, grid_granularity

__all__ = [
    "gaussian_release",
    "gd_step_size",
    "noisy_gradient_descent",
    "output_perturbation",
    "private_norm_bound",
    "sufficient_statistics",
]

#: Relative inflation of every Gaussian noise multiplier: dp-accounting's PLD
#: discretisation is pessimistic by about 1e-8 relative, so without it
#: ``privacy_spent`` could report ``epsilon * (1 + 1e-8)``.
_PLD_SLACK = 1e-6


def gaussian_release(values, sensitivity, noise_multiplier, rng):
    """Gaussian mechanism on a power-of-two grid; returns ``(noisy, event)``.

    The noise standard deviation is ``noise_multiplier`` times the L2
    sensitivity *after* rounding to the grid (``sensitivity + sqrt(n_dims) *
    granularity``, see :class:`skpriv.mechanisms.Gaussian`), so the recorded
    ``GaussianDpEvent(noise_multiplier)`` is exact.
    """
    values = np.asarray(values, dtype=np.float64)
    noise_multiplier = noise_multiplier * (1.0 + _PLD_SLACK)
    granularity = grid_granularity(noise_multiplier * sensitivity)
    effective = sensitivity + math.sqrt(max(values.size, 1)) * granularity
    mech = Gaussian(noise_multiplier * effective, granularity=granularity)
    return mech.randomise(values, rng), dpa.GaussianDpEvent(noise_multiplier)


def _log2_edges():
    # Candidate norm bounds 2**-20 ... 2**40 (public, data independent).
    return np.exp2(np.arange(-20, 41, dtype=np.float64))


def private_norm_bound(norms, rng, *, noise_multiplier=None, epsilon=None, q=0.95):
    """A private ``q``-quantile of the row norms, rounded up to a power of two.

    Releases the histogram of ``ceil(log2(norm))`` over the fixed buckets
    ``2**-20 .. 2**40`` (add/remove one row changes one count by one: L1 and
    L2 sensitivity 1) with Gaussian noise (``noise_multiplier``) or, for pure
    DP, Laplace noise (``epsilon``); then picks, by post-processing, the
    smallest bucket edge below which a fraction ``q`` of the noisy mass lies.

    Returns
    -------
    bound : float
    event : dp_accounting.DpEvent
    """
    edges = _log2_edges()
    norms = np.asarray(norms, dtype=np.float64)
    idx = np.searchsorted(edges, np.maximum(norms, edges[0]), side="left")
    idx = np.minimum(idx, edges.size - 1)
    counts = np.bincount(idx, minlength=edges.size).astype(np.float64)
    if epsilon is not None:
        mech = Laplace.from_epsilon(epsilon, sensitivity=1.0, n_dims=1)
        noisy = mech.randomise(counts, rng)
        event = mech.dp_event(1.0, n_dims=1)
    else:
        noisy, event = gaussian_release(counts, 1.0, noise_multiplier, rng)
    noisy = np.maximum(noisy, 0.0)
    total = noisy.sum()
    if total <= 0:
        return 1.0, event
    cum = np.cumsum(noisy)
    k = int(np.searchsorted(cum, q * total, side="left"))
    return float(edges[min(k, edges.size - 1)]), event


def _grad(W, Z, Y, binary):
    """Sum over rows of the per-example loss gradients (no regularisation)."""
    if binary:
        return Z.T @ (expit(Z @ W) - Y)
    return Z.T @ (softmax(Z @ W, axis=1) - Y)


def gradient_bound(row_bound, binary):
    """L2 bound of one example's loss gradient for rows of norm <= row_bound.

    Binary: ``|sigmoid(w.x) - y| * ||x|| <= row_bound``. Multinomial:
    ``||softmax(W^T x) - e_y||_2 * ||x|| <= sqrt(2) * row_bound``.
    """
    return row_bound if binary else math.sqrt(2.0) * row_bound


def gd_step_size(row_bound, binary, C, n_hat):
    """Step size 1.8 / L for the smoothness bound L of the mean objective.

    The Hessian of the logistic loss is at most ``1/4 ||x||^2`` (binary) and
    ``1/2 ||x||^2`` (multinomial), plus ``1 / (C n)`` from the penalty.
    """
    curvature = (0.25 if binary else 0.5) * row_bound**2 + 1.0 / (C * n_hat)
    return 1.8 / curvature


def noisy_gradient_descent(
    Z, Y, rng, *, binary, row_bound, C, n_hat, noise_multiplier, max_iter, tol
):
    """Full-batch gradient descent on noisy gradient sums (Gaussian mechanism).

    Each step releases the sum of per-example gradients (L2 sensitivity
    :func:`gradient_bound` under add/remove-one) plus Gaussian noise of
    ``noise_multiplier`` times that sensitivity; everything else (the
    penalty, the step, the average of the last half of the iterates, the
    stopping test on the noisy gradient) is post-processing.

    Returns
    -------
    W : ndarray
    n_iter : int
    event : dp_accounting.DpEvent
    """
    G = gradient_bound(row_bound, binary)
    eta = gd_step_size(row_bound, binary, C, n_hat)
    shape = (Z.shape[1],) if binary else (Z.shape[1], Y.shape[1])
    W = np.zeros(shape)
    avg = np.zeros(shape)
    n_avg = 0
    start_avg = max_iter // 2
    n_iter = 0
    event = None
    for t in range(max_iter):
        noisy, event = gaussian_release(
            _grad(W, Z, Y, binary), G, noise_multiplier, rng
        )
        n_iter = t + 1
        step = (C * noisy + W) / (C * n_hat)
        W = W - eta * step
        if t >= start_avg:
            avg += W
            n_avg += 1
        if np.linalg.norm(step) <= tol:
            break
    W = avg / n_avg if n_avg else W
    return W, n_iter, dpa.SelfComposedDpEvent(event, n_iter)


def sufficient_statistics(
    Z, Y, rng, *, binary, row_bound, C, noise_multiplier_gram, noise_multiplier_target
):
    """Logistic regression from noisy sufficient statistics (one release).

    Releases ``A = Z^T Z`` (upper triangle, L2 sensitivity ``row_bound**2``)
    and ``B = Z^T T`` with centred targets ``T`` (``y - 1/2`` binary,
    ``onehot - 1/K`` multinomial; L2 sensitivity ``row_bound * ||t||``), both
    with Gaussian noise. The weights minimise the second-order Taylor
    expansion of the penalised logistic objective at ``W = 0`` (the
    functional mechanism of Zhang et al. 2012, with the statistics perturbed
    as in Wang 2018): ``W = k (A_+ + lambda I)^{-1} B``, ``k = 4`` (binary)
    or ``K``, where ``A_+`` is ``A`` with negative eigenvalues set to zero and
    ``lambda = k / C + 2 sqrt(D) sigma_A`` keeps the system well conditioned
    against the noise.

    Returns
    -------
    W : ndarray
    event : dp_accounting.DpEvent
    """
    D = Z.shape[1]
    if binary:
        T = (Y - 0.5)[:, None]
        t_norm = 0.5
        k = 4.0
    else:
        K = Y.shape[1]
        T = Y - 1.0 / K
        t_norm = math.sqrt((1 - 1 / K) ** 2 + (K - 1) / K**2)
        k = float(K)
    iu = np.triu_indices(D)
    gram = (Z.T @ Z)[iu]
    noisy_gram, event_a = gaussian_release(
        gram, row_bound**2, noise_multiplier_gram, rng
    )
    noisy_b, event_b = gaussian_release(
        Z.T @ T, row_bound * t_norm, noise_multiplier_target, rng
    )
    A = np.zeros((D, D))
    A[iu] = noisy_gram
    A = A + np.triu(A, 1).T
    sigma_a = noise_multiplier_gram * row_bound**2
    lam = k / C + 2.0 * math.sqrt(D) * sigma_a
    evals, evecs = np.linalg.eigh(A)
    evals = np.maximum(evals, 0.0) + lam
    W = k * (evecs @ ((evecs.T @ noisy_b) / evals[:, None]))
    if binary:
        W = W[:, 0]
    return W, dpa.ComposedDpEvent([event_a, event_b])


def _objective(w, Z, Y, binary, C, shape):
    W = w.reshape(shape)
    S = Z @ W
    if binary:
        loss = -np.sum(Y * log_expit(S) + (1 - Y) * log_expit(-S))
        R = expit(S) - Y
    else:
        loss = -np.sum(Y * log_softmax(S, axis=1))
        R = softmax(S, axis=1) - Y
    value = C * loss + 0.5 * np.dot(w, w)
    grad = C * (Z.T @ R) + W
    return value, grad.ravel()


def output_perturbation(Z, Y, rng, *, binary, row_bound, C, epsilon, tol):
    """Pure-DP output perturbation of the exact penalised minimiser.

    ``F(W) = C sum_i loss_i(W) + ||W||^2 / 2`` is ``1``-strongly convex, and
    adding or removing one row changes its gradient by at most ``C G``
    (:func:`gradient_bound`), so the minimiser moves by at most ``C G`` in L2
    (Chaudhuri et al. 2011, Lemma 7). The solver stops once ``||grad F|| <=
    tol * C * G``, which puts it within ``tol * C * G`` of the exact minimiser;
    the L2 sensitivity used is ``(1 + 2 tol) C G``, the L1 sensitivity
    ``sqrt(p)`` times that (``p`` coefficients), and Laplace noise of scale
    ``L1 / epsilon`` gives ``epsilon``-DP.

    Returns
    -------
    W : ndarray
    n_iter : int
    event : dp_accounting.DpEvent
    """
    G = gradient_bound(row_bound, binary)
    shape = (Z.shape[1],) if binary else (Z.shape[1], Y.shape[1])
    gtol = tol * C * G
    w = np.zeros(int(np.prod(shape)))
    n_iter = 0
    for _ in range(20):
        res = minimize(
            _objective,
            w,
            args=(Z, Y, binary, C, shape),
            jac=True,
            method="L-BFGS-B",
            # L-BFGS-B tests the max-norm; sqrt(p) converts to the L2 norm.
            options={"gtol": gtol / (2 * math.sqrt(w.size)), "maxiter": 1000},
        )
        w = res.x
        n_iter += int(res.nit)
        if np.linalg.norm(_objective(w, Z, Y, binary, C, shape)[1]) <= gtol:
            break
    else:
        # Never release a solution whose sensitivity we cannot bound.
        raise RuntimeError(
            "DPLogisticRegression (output perturbation) did not reach the "
            "gradient tolerance its sensitivity bound needs; increase tol."
        )
    l2 = (1.0 + 2.0 * tol) * C * G
    p = w.size
    mech = Laplace.from_epsilon(epsilon, sensitivity=math.sqrt(p) * l2, n_dims=p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        W = mech.randomise(w, rng).reshape(shape)
    return W, n_iter, mech.dp_event(math.sqrt(p) * l2, n_dims=p)
