"""Docstring fragments shared by the two private nets."""

from ..utils._docstrings import PARAM_DOCS

DP_NET_PARAMS = (
    """module : torch.nn.Module class or instance
        The network. A class is instantiated with the ``module__*``
        parameters; if its constructor takes ``n_features_in`` and/or
        ``n_outputs`` and they are not given as ``module__*`` parameters, they
        are filled from the training data (so one module class works for any
        data width, e.g. inside a grid search over feature selections).

    criterion : torch loss class, default={criterion}
        Loss. It must have a ``reduction`` attribute: DP-SGD needs the
        per-sample losses summed and sets ``reduction="sum"`` during each step.

    optimizer : torch optimizer class, default=torch.optim.SGD
        Optimizer applied to the privatized (clipped, noised) gradient. Any
        optimizer is DP: it only post-processes that gradient.

    lr : float, default=0.01
        Learning rate.

    max_epochs : int, default=10
        Number of epochs (``ceil(n_samples / batch_size)`` DP-SGD steps each).

    batch_size : int, default=128
        Expected batch size ``B``: each row joins each batch independently
        with probability ``q = B / n_samples`` (Poisson sampling), so batch
        sizes vary and may be empty. ``-1`` trains on full batches (q = 1).

    """
    + PARAM_DOCS["epsilon"]
    + """ Used to calibrate
        ``noise_multiplier`` when that is None; otherwise ignored (the spent
        epsilon is then reported in ``epsilon_``).

    delta : float, default=1e-5
        Target delta, in (0, 1); choose it well below ``1 / n_samples`` (a
        :class:`~skpriv.exceptions.PrivacyLeakWarning` is raised otherwise).

    max_grad_norm : float, default=1.0
        Clipping bound ``C`` on the L2 norm of each sample's gradient (over
        all parameters).

    noise_multiplier : float or None, default=None
        Standard deviation of the Gaussian noise added to the summed clipped
        gradients, in units of ``max_grad_norm``. ``None`` calibrates it from
        ``epsilon``, ``delta``, ``max_epochs`` and the sample rate so that the
        fit ends at (at most) ``epsilon``. ``0`` trains without noise (not
        private; ``epsilon_`` is then ``inf``).

    accountant : {{"pld", "rdp"}}, default="pld"
        Accountant of dp-accounting used for calibration and for
        ``epsilon_``: privacy loss distributions (tight) or Renyi DP.

    max_physical_batch_size : int or None, default=None
        Largest number of rows pushed through the module at once. Larger
        Poisson batches are processed in chunks whose clipped gradients are
        summed before the noise is added once (virtual steps); only logical
        steps count in the accountant. ``None``: no limit.

    fix_module : bool, default=False
        Replace layers that break per-sample privacy (BatchNorm -> GroupNorm,
        ...) with Opacus' ``ModuleValidator.fix`` instead of raising.
        ``BatchNorm1d(C)`` becomes ``GroupNorm(1, C)``, a per-sample layer
        normalization (Opacus' ``GroupNorm(min(32, C), C)`` would erase the
        features of ``(n_samples, C)`` inputs).

    data_on_device : {{"auto"}} or bool, default="auto"
        Keep the training arrays on ``device`` and gather each Poisson batch
        there (no host-to-device copy per step). ``"auto"``: on a CUDA
        device when the data fit in half of its free memory; on the CPU
        always. ``False`` keeps them on the host and copies each batch
        (pinned, non-blocking). Applies to arrays, tensors and plain skorch
        ``Dataset``\\ s of them; other Datasets are read row by row.

    distributed : {{"auto"}} or bool, default="auto"
        Train across the workers of a ``torch.distributed`` process group
        (launched by ``torchrun``; gloo on CPUs, NCCL on GPUs). Every worker
        calls ``fit`` with the same data; they draw one common Poisson
        sample (seeded by rank 0), each clips the per-sample gradients of
        its share of the sampled rows, one all-reduce sums them, and every
        worker adds the same noise, so noise is added once and ``epsilon_``
        is that of one process. ``"auto"``: when a process group with more
        than one worker is initialized; ``True`` requires one; ``False``
        trains each process on its own.

    """
    + PARAM_DOCS["random_state"]
    + """ Seeds the module initialization, the Poisson sampling and the noise.

    train_split : callable or None, default=None
        The internal validation split of skorch; disabled by default because the
        per-epoch validation scores are released without differential
        privacy (a :class:`~skpriv.exceptions.PrivacyLeakWarning` says so
        when it is set). The privacy accounting covers the training part."""
)

DP_NET_TAIL = """device : str, default="cpu"
        Torch device (``"cuda"`` trains on the GPU end to end; it raises a
        clear error where CUDA is not available).

    **kwargs : dict
        Every other skorch parameter (``callbacks``, ``verbose``,
        ``warm_start``, ``module__*``, ``optimizer__*``, ...)."""

DP_NET_ATTRIBUTES = """epsilon_ : float
        Epsilon spent so far at ``delta``, by ``accountant`` (cumulative over
        ``partial_fit`` and ``warm_start`` fits).

    noise_multiplier_ : float
        Noise multiplier used.

    sample_rate_ : float
        Poisson sampling rate ``batch_size / n_samples`` (public: ``n`` is).

    steps_ : int
        Number of DP-SGD steps taken (logical batches, empty ones included).

    dp_event_ : dp_accounting.DpEvent
        What training spent:
        ``SelfComposed(PoissonSampled(q, Gaussian(noise_multiplier)), steps)``;
        read by :func:`skpriv.accounting.privacy_spent`.

    dp_n_samples_ : int
        Number of training rows.

    n_features_in_ : int
        Number of features, ``X.shape[1]`` (the channels of an image array);
        set for array-likes and 2-D tensors.

    module_ : torch.nn.Module
        The trained module (a plain module: no Opacus wrapper, so its
        ``state_dict`` has no ``_module.`` prefix).

    history_ : skorch.History
        Training history; each epoch records ``epsilon`` (spent so far),
        which the epoch log prints, ``dur`` and ``train_batch_count``; no
        training loss or batch sizes (they are private)."""

DP_NET_NOTES = """DP-SGD (Abadi et al. 2016) with Poisson sampling: every step draws each
    training row with probability ``q = batch_size / n_samples``, clips each
    sample's gradient to L2 norm ``max_grad_norm``, sums, adds Gaussian noise
    of standard deviation ``noise_multiplier * max_grad_norm`` and divides by
    the expected batch size. The privacy cost is the event
    ``SelfComposed(PoissonSampled(q, Gaussian(noise_multiplier)), steps)``,
    accounted with Google's dp-accounting; the sample rate comes from the data
    set size, never from a loader length.

    Per-sample gradients are never materialized for linear layers: one
    backward pass gives each ``nn.Linear`` layer's output gradients, from
    which the per-sample norms have a closed form (ghost norms, Li et al.
    2021) and the clipped sum is one matrix product (book-keeping, Bu et al.
    2022). Other layers with parameters (Conv, Embedding, LayerNorm,
    GroupNorm, ...) use Opacus' per-sample gradient functions ("hooks" mode)
    and, for layers Opacus has none for, its functorch fallback. Layers whose
    output is modified in place (``ReLU(inplace=True)``) are refused.

    The noise is :class:`skpriv.mechanisms.TorchGaussian`: the summed clipped
    gradients are rounded to a power-of-two grid and grid-valued Gaussian
    noise is added (floating-point safe, on the module's device, from a
    ``torch.Generator`` seeded from ``random_state``); rounding is accounted
    by a noise standard deviation of ``noise_multiplier * (max_grad_norm +
    sqrt(d) * step)`` for ``d`` trainable values. Modules that mix the rows
    of a batch (``x - x.mean(0)``, batch statistics, a loss across rows) are
    refused by a probe at ``fit``.

    The history holds no training loss or batch size (private); callbacks
    that act on private statistics (``EarlyStopping`` on ``train_loss`` or on
    a private validation split, ...) are refused, those that record them are
    warned about and make ``history_`` uncovered by ``privacy_spent``.
    ``classes=None`` reads the labels from ``y`` (warned, not covered).

    A fixed ``random_state`` is for tests and examples: a known seed removes
    the privacy of the noise."""

DP_NET_REFERENCES = """.. [1] M. Abadi et al., "Deep Learning with Differential Privacy", CCS 2016.
    .. [2] Z. Bu, Y.-X. Wang, S. Zha, G. Karypis, "Differentially Private
       Optimization on Large Model at Small Cost", ICML 2023 (book-keeping).
    .. [3] X. Li, F. Tramer, P. Liang, T. Hashimoto, "Large Language Models
       Can Be Strong Differentially Private Learners", ICLR 2022 (ghost
       clipping).
    .. [4] A. Yousefpour et al., "Opacus: User-Friendly Differential Privacy
       Library in PyTorch", 2021."""
