"""Private building blocks of DPLogisticRegression: releases and solvers.

Every function here is a pure function of its inputs and a numpy Generator.
Rows reach them already clipped and scaled: ``Z`` has one row per example,
``[x / data_norm, intercept_feature]``, so every row has L2 norm at most
``row_bound = sqrt(1 + intercept_feature**2)``. Neighbouring data sets differ
by adding or removing one row (the relation of dp-accounting's PLD
accountant). The number of rows is treated as public (docs/privacy_model.rst),
but no solver uses it.
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
    "gradient_bound",
    "noisy_gram",
    "noisy_newton",
    "output_perturbation",
    "private_norm_bound",
    "pure_sufficient_statistics",
    "sufficient_statistics",
]

#: Relative inflation of every planned Gaussian noise multiplier:
#: dp-accounting's PLD discretisation is pessimistic (up to about 1e-6
#: relative), so without it ``privacy_spent`` could report
#: ``epsilon * (1 + 1e-8)``. DPLogisticRegression's plan applies it.
PLD_SLACK = 1e-4


def gaussian_release(values, sensitivity, noise_multiplier, rng):
    """Gaussian mechanism on a power-of-two grid; returns ``(noisy, event)``.

    The noise standard deviation is ``noise_multiplier`` times the L2
    sensitivity *after* rounding to the grid (``sensitivity + sqrt(n_dims) *
    granularity``, see :class:`skpriv.mechanisms.Gaussian`), so the recorded
    ``GaussianDpEvent(noise_multiplier)`` is exact.
    """
    values = np.asarray(values, dtype=np.float64)
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
    # Keep only buckets that stand clearly above the noise (3 standard
    # deviations): summing clamped noise over ~60 empty buckets would
    # otherwise push the quantile far out.
    noise_sd = math.sqrt(2.0) * mech.scale if epsilon is not None else None
    if noise_sd is None:
        noise_sd = event.noise_multiplier  # sensitivity 1
    kept = np.where(noisy > 3.0 * noise_sd, noisy, 0.0)
    if kept.sum() <= 0:
        return float(edges[int(np.argmax(noisy))]), event
    cum = np.cumsum(kept)
    k = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(edges[min(k, edges.size - 1)]), event


#: Per-example residual clipping of the noisy steps: ``|sigmoid(w.x) - y|``
#: (binary) or ``||softmax(W^T x) - e_y||_2`` (multinomial) is capped at this
#: value, which caps one example's gradient at ``clip * row_bound``. At
#: ``W = 0`` the residuals are 0.5 and ``sqrt(1 - 1/K)``; capping the
#: residuals of badly misclassified rows halves the noise (binary) for a
#: small bias, as per-example clipping does in DP-SGD.
RESIDUAL_CLIP = {True: 0.5, False: 0.6}


def _clipped_grad(W, Z, Y, binary):
    """Sum over rows of the residual-clipped per-example loss gradients."""
    clip = RESIDUAL_CLIP[binary]
    if binary:
        return Z.T @ np.clip(expit(Z @ W) - Y, -clip, clip)
    R = softmax(Z @ W, axis=1) - Y
    norms = np.linalg.norm(R, axis=1, keepdims=True)
    R *= np.minimum(1.0, clip / np.maximum(norms, np.finfo(np.float64).tiny))
    return Z.T @ R


def gradient_bound(row_bound, binary, *, clipped=False):
    """L2 bound of one example's loss gradient for rows of norm <= row_bound.

    Binary: ``|sigmoid(w.x) - y| * ||x|| <= row_bound``. Multinomial:
    ``||softmax(W^T x) - e_y||_2 * ||x|| <= sqrt(2) * row_bound``. With
    ``clipped``, the residual is capped at :data:`RESIDUAL_CLIP`.
    """
    if clipped:
        return RESIDUAL_CLIP[binary] * row_bound
    return row_bound if binary else math.sqrt(2.0) * row_bound


#: Above this many columns (features + intercept) only the diagonal of
#: ``Z^T Z`` is released: the full matrix costs ``O(D^2)`` memory and an
#: ``O(D^3)`` eigendecomposition.
MAX_GRAM_FEATURES = 1000
#: Share of epsilon that the pure-DP ``"ssp"`` solver spends on the diagonal
#: of ``Z^T Z`` (:func:`pure_sufficient_statistics`).
GRAM_SHARE_PURE = 0.2


def noisy_gram(Z, rng, *, row_bound, noise_multiplier):
    """Release ``A = Z^T Z`` with Gaussian noise; returns its eigendecomposition.

    The upper triangle is released (adding or removing a row ``z`` changes it
    by at most ``||z z^T||_F = ||z||^2 <= row_bound**2`` in L2) and mirrored.
    Negative eigenvalues (noise) are set to zero and ``lam = 2 sqrt(D)
    sigma``, about the spectral norm of the noise, is added so that the
    matrix dominates the noise. With more than :data:`MAX_GRAM_FEATURES`
    columns only the diagonal is released (sensitivity ``||z||_4^2 <=
    row_bound**2``), with ``lam = 3 sigma``, and ``evecs`` is ``None``.

    Returns
    -------
    evals, evecs : ndarray
        ``A_+ + lam I = evecs @ diag(evals) @ evecs.T``.
    trace : float
        Noisy trace of ``A`` minus one standard deviation of its noise (about
        the number of rows times their squared norm), used to judge the
        noise level.
    event : dp_accounting.DpEvent
    """
    D = Z.shape[1]
    sigma = noise_multiplier * row_bound**2
    if D > MAX_GRAM_FEATURES:
        diag, event = gaussian_release(
            np.einsum("ij,ij->j", Z, Z), row_bound**2, noise_multiplier, rng
        )
        trace = float(diag.sum()) - math.sqrt(D) * sigma
        return np.maximum(diag, 0.0) + 3.0 * sigma, None, trace, event
    iu = np.triu_indices(D)
    noisy, event = gaussian_release((Z.T @ Z)[iu], row_bound**2, noise_multiplier, rng)
    A = np.zeros((D, D))
    A[iu] = noisy
    A = A + np.triu(A, 1).T
    lam = 2.0 * math.sqrt(D) * sigma
    evals, evecs = np.linalg.eigh(A)
    # A pessimistic (one standard deviation low) estimate of the trace.
    trace = float(np.trace(A)) - math.sqrt(D) * sigma
    return np.maximum(evals, 0.0) + lam, evecs, trace, event


def _solve_psd(evals, evecs, M):
    """``(evecs diag(evals) evecs^T)^{-1} M``; ``evecs=None`` means diagonal."""
    M2 = M if M.ndim == 2 else M[:, None]
    if evecs is None:
        out = M2 / evals[:, None]
    else:
        out = evecs @ ((evecs.T @ M2) / evals[:, None])
    return out if M.ndim == 2 else out[:, 0]


def _centred_targets(Y, binary):
    """Centred targets ``T``, their L2 and L1 row norms and the curvature ``k``."""
    if binary:
        return Y - 0.5, 0.5, 0.5, 4.0
    K = Y.shape[1]
    t_norm = math.sqrt((1 - 1 / K) ** 2 + (K - 1) / K**2)
    return Y - 1.0 / K, t_norm, 2.0 * (1 - 1 / K), float(K)


def sufficient_statistics(Z, Y, rng, *, binary, row_bound, C, gram, noise_multiplier):
    """Minimiser of the second-order expansion at zero from noisy statistics.

    Releases ``B = Z^T T`` with centred targets ``T`` (``y - 1/2`` binary,
    ``onehot - 1/K`` multinomial; L2 sensitivity ``row_bound * ||t||``) with
    Gaussian noise. With the noisy Gram matrix ``A`` (:func:`noisy_gram`),
    the penalised objective ``C sum loss + ||W||^2 / 2`` expanded to second
    order at ``W = 0`` (the functional mechanism of Zhang et al. 2012, the
    statistics perturbed as in Wang 2018) is minimised by
    ``W = C (C A / k + I)^{-1} B``, ``k = 4`` (binary) or ``K``.

    Returns
    -------
    W : ndarray
    event : dp_accounting.DpEvent
    """
    T, t_norm, _, k = _centred_targets(Y, binary)
    noisy_b, event = gaussian_release(
        Z.T @ T, row_bound * t_norm, noise_multiplier, rng
    )
    evals, evecs = gram
    W = C * _solve_psd(C * evals / k + 1.0, evecs, noisy_b)
    return W, event


def pure_sufficient_statistics(Z, Y, rng, *, binary, row_bound, C, eps_diag, eps_b):
    """Pure-DP variant of :func:`sufficient_statistics` with Laplace noise.

    Releases the diagonal of ``Z^T Z`` (L1 sensitivity ``||z||_2^2 <=
    row_bound**2``) at ``eps_diag`` and ``B = Z^T T`` (L1 sensitivity
    ``||z||_1 ||t||_1 <= sqrt(D) row_bound ||t||_1``) at ``eps_b``, both with
    Laplace noise; the two compose to ``(eps_diag + eps_b)``-DP. The
    full Gram matrix would cost ``D`` times more in L1, so only its diagonal
    (plus ``3 sqrt(2)`` noise standard deviations) preconditions the
    solution ``W = C (C diag / k + I)^{-1} B``.

    Returns
    -------
    W : ndarray
    event : dp_accounting.DpEvent
    """
    D = Z.shape[1]
    T, _, t_l1, k = _centred_targets(Y, binary)
    diag_mech = Laplace.from_epsilon(eps_diag, sensitivity=row_bound**2, n_dims=D)
    diag = diag_mech.randomise(np.einsum("ij,ij->j", Z, Z), rng)
    diag = np.maximum(diag, 0.0) + 3.0 * math.sqrt(2.0) * diag_mech.scale
    B = Z.T @ T
    l1 = math.sqrt(D) * row_bound * t_l1
    b_mech = Laplace.from_epsilon(eps_b, sensitivity=l1, n_dims=B.size)
    noisy_b = b_mech.randomise(B, rng)
    W = C * _solve_psd(C * diag / k + 1.0, None, noisy_b)
    event = dpa.ComposedDpEvent(
        [
            diag_mech.dp_event(row_bound**2, n_dims=D),
            b_mech.dp_event(l1, n_dims=B.size),
        ]
    )
    return W, event


def noisy_newton(
    Z, Y, W, rng, *, binary, row_bound, C, gram, noise_multiplier, max_iter, tol
):
    """Preconditioned full-batch gradient descent on noisy gradient sums.

    Each step releases the sum of per-example gradients with clipped
    residuals (L2 sensitivity ``gradient_bound(..., clipped=True)`` under
    add/remove-one) with Gaussian noise of
    ``noise_multiplier`` times that sensitivity and takes the step
    ``P^{-1} (C g + W)`` with ``P = C c A + I``, where ``A`` is the noisy Gram
    matrix and ``c`` bounds the curvature of the loss (``1/4`` binary, ``1/2``
    multinomial), so ``P`` majorises the Hessian of the penalised objective.
    The result is the average of the last half of the iterates. All but the
    noisy sums is post-processing; the stopping test uses only noisy values
    (an early stop spends less, never more).

    Returns
    -------
    W : ndarray
    n_iter : int
    event : dp_accounting.DpEvent
    """
    G = gradient_bound(row_bound, binary, clipped=True)
    evals, evecs = gram
    curvature = 0.25 if binary else 0.5
    precond = C * curvature * evals + 1.0
    avg = np.zeros_like(W)
    n_avg = 0
    n_iter = 0
    event = None
    for t in range(max_iter):
        noisy, event = gaussian_release(
            _clipped_grad(W, Z, Y, binary), G, noise_multiplier, rng
        )
        n_iter = t + 1
        step = _solve_psd(precond, evecs, C * noisy + W)
        W = W - step
        if t >= max_iter // 2:
            avg += W
            n_avg += 1
        if np.linalg.norm(step) <= tol * max(1.0, np.linalg.norm(W)):
            break
    W = avg / n_avg if n_avg else W
    return W, n_iter, dpa.SelfComposedDpEvent(event, n_iter)


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


#: Output perturbation polishes with exact Newton steps up to this many
#: coefficients (the Hessian has ``p^2`` entries).
MAX_NEWTON_COEF = 3000


def _hessian(w, Z, binary, C, shape):
    """Hessian of ``C sum loss + ||W||^2 / 2`` (coefficients raveled C-order)."""
    S = Z @ w.reshape(shape)
    if binary:
        p = expit(S)
        H = C * (Z.T @ (Z * (p * (1 - p))[:, None]))
    else:
        P = softmax(S, axis=1)
        D, K = shape
        H = np.empty((D, K, D, K))
        for k in range(K):
            for j in range(k, K):
                weight = P[:, k] * ((k == j) - P[:, j])
                block = C * (Z.T @ (Z * weight[:, None]))
                H[:, k, :, j] = block
                H[:, j, :, k] = block
        H = H.reshape(D * K, D * K)
    H[np.diag_indices_from(H)] += 1.0
    return H


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
        Iterations of the exact solver (data dependent: not to release).
    event : dp_accounting.DpEvent
    """
    G = gradient_bound(row_bound, binary)
    shape = (Z.shape[1],) if binary else (Z.shape[1], Y.shape[1])
    gtol = tol * C * G
    w = np.zeros(int(np.prod(shape)))
    res = minimize(
        _objective,
        w,
        args=(Z, Y, binary, C, shape),
        jac=True,
        method="L-BFGS-B",
        # L-BFGS-B tests the max-norm; sqrt(p) converts to the L2 norm.
        options={"gtol": gtol / (2 * math.sqrt(w.size)), "maxiter": 1000},
    )
    w, n_iter = res.x, int(res.nit)
    # Newton polish: L-BFGS stalls near float precision when n C is large,
    # and the sensitivity bound needs the gradient norm below gtol.
    for _ in range(50):
        grad = _objective(w, Z, Y, binary, C, shape)[1]
        if np.linalg.norm(grad) <= gtol:
            break
        if w.size > MAX_NEWTON_COEF:
            res = minimize(
                _objective,
                w,
                args=(Z, Y, binary, C, shape),
                jac=True,
                method="L-BFGS-B",
                options={"gtol": gtol / (2 * math.sqrt(w.size)), "ftol": 0.0},
            )
            w = res.x
        else:
            w = w - np.linalg.solve(_hessian(w, Z, binary, C, shape), grad)
        n_iter += 1
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
