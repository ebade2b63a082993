"""A tiny module for the estimator checks and the tests (not public)."""

from torch import nn

__all__ = ["TinyMLP"]


class TinyMLP(nn.Module):
    """``n_features_in -> hidden -> n_outputs`` MLP; both widths from the data."""

    def __init__(self, n_features_in=1, n_outputs=1, hidden=8):
        super().__init__()
        self.hidden = nn.Linear(n_features_in, hidden)
        self.act = nn.Tanh()
        self.out = nn.Linear(hidden, n_outputs)

    def forward(self, X):
        return self.out(self.act(self.hidden(X)))
