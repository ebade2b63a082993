"""``SyntheticQualityDisplay``: how close a synthetic table is to the real one."""

import numpy as np

from ._privacy_utility import _check_matplotlib

__all__ = ["SyntheticQualityDisplay"]


class SyntheticQualityDisplay:
    """Plot a synthetic-data quality report (scikit-learn Display style).

    Left: each column's one-way total-variation distance (bars). Right: the
    two-way distances of every pair of columns (a heat map). The title gives
    the train-on-synthetic / test-on-real score when the report has one.

    Parameters
    ----------
    report : SyntheticQualityReport
        From :func:`skpriv.synthetic.evaluate`.

    Attributes
    ----------
    ax_ : ndarray of matplotlib Axes
        The two axes, after :meth:`plot`.
    figure_ : matplotlib Figure
        Their figure.

    See Also
    --------
    skpriv.synthetic.evaluate : Computes the report.

    Examples
    --------
    The report's :meth:`~skpriv.synthetic.SyntheticQualityReport.plot` makes
    one:

    >>> import pandas as pd
    >>> from skpriv.synthetic import evaluate
    >>> real = pd.DataFrame({"a": [0, 1, 1, 0], "b": ["x", "y", "y", "x"]})
    >>> fake = pd.DataFrame({"a": [0, 1, 0, 0], "b": ["x", "y", "x", "x"]})
    >>> display = evaluate(real, fake).plot()
    >>> type(display).__name__, display.ax_.shape
    ('SyntheticQualityDisplay', (2,))
    """

    def __init__(self, report):
        self.report = report

    @classmethod
    def from_data(cls, real, synthetic, *, target=None, real_test=None, ax=None):
        """Evaluate ``synthetic`` against ``real`` and plot the report.

        Parameters
        ----------
        real, synthetic : DataFrame or array
            The tables, as for :func:`skpriv.synthetic.evaluate`.
        target : column, default=None
            Column to predict (train on synthetic, test on real).
        real_test : DataFrame or array, default=None
            Real rows held out from the synthesizer.
        ax : array of two matplotlib Axes, default=None
            Where to draw; ``None`` makes a new figure.

        Returns
        -------
        display : SyntheticQualityDisplay
            The plotted display, with ``ax_`` and ``figure_`` set.
        """
        from ..synthetic import evaluate

        report = evaluate(real, synthetic, target=target, real_test=real_test)
        return cls(report).plot(ax=ax)

    def plot(self, ax=None):
        """Draw the report.

        Parameters
        ----------
        ax : array of two matplotlib Axes, default=None
            Where to draw; ``None`` makes a new figure.

        Returns
        -------
        display : SyntheticQualityDisplay
            ``self``, with ``ax_`` and ``figure_`` set.
        """
        plt = _check_matplotlib("SyntheticQualityDisplay")
        report = self.report
        if ax is None:
            fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
        ax = np.asarray(ax).ravel()
        if ax.size != 2:
            raise ValueError(f"ax must hold two Axes; got {ax.size}.")
        columns = [str(c) for c in report.one_way]
        ax[0].barh(columns, list(report.one_way.values()), color="tab:blue")
        ax[0].invert_yaxis()
        ax[0].set_xlabel("total-variation distance")
        ax[0].set_title(f"1-way marginals (mean {report.mean_one_way:.3f})")
        index = {c: i for i, c in enumerate(report.one_way)}
        grid = np.full((len(index), len(index)), np.nan)
        for (a, b), tv in report.two_way.items():
            grid[index[a], index[b]] = grid[index[b], index[a]] = tv
        image = ax[1].imshow(grid, vmin=0.0, vmax=max(0.05, np.nanmax(grid, initial=0)))
        ax[1].set_xticks(range(len(columns)), columns, rotation=90)
        ax[1].set_yticks(range(len(columns)), columns)
        ax[1].set_title(f"2-way marginals (mean {report.mean_two_way:.3f})")
        ax[1].figure.colorbar(image, ax=ax[1], label="total-variation distance")
        if report.tstr is not None:
            ref = f" vs {report.trtr:.3f} on real" if report.trtr is not None else ""
            ax[0].figure.suptitle(
                f"predicting {report.target!r}: {report.tstr:.3f} trained on "
                f"synthetic{ref}"
            )
        self.ax_ = ax
        self.figure_ = ax[0].figure
        return self
