"""Hypothesis strategies for datasets that Theorem 1's construction must fit.

Use them in your own property tests::

    from hypothesis import given
    from finite_expressivity import fit
    from finite_expressivity.strategies import datasets

    @given(datasets(family="near-duplicates", labels="binary"))
    def test_parameter_count(data):
        X, y = data
        assert fit(X, y, seed=0).n_params == 2 * X.shape[0] + X.shape[1]

Every coordinate and label is drawn by Hypothesis itself, so a failing example
shrinks to few points with short coordinates (``[[0.0], [1.0], [2.0]]``), not
to seventeen-digit floats. Identical points always carry identical labels.
"""

from __future__ import annotations

from .theorem1.families import FAMILIES, LABELS, dataset_strategy

__all__ = ["FAMILIES", "LABELS", "datasets"]


def datasets(family=None, n=None, d=None, labels=None, *, max_n: int = 40, max_d: int = 8):
    """A strategy for ``(X, y)``: points of one family and their labels.

    Parameters
    ----------
    family : str or strategy of str, optional
        One of :data:`FAMILIES` (default: any of them):

        - ``gaussian``, ``uniform``: clouds, coordinates in [-10, 10] or [-1, 1];
        - ``single-point`` (n = 1), ``one-dimensional`` (d = 1);
        - ``wide``: at most 8 points with ``16 d + n`` coordinates;
        - ``subspace``: points on a random line or plane through 0;
        - ``integer-grid``: coordinates in {-2, ..., 2};
        - ``clusters``: up to 3 centres, points 1e-6 to 1e-12 from them;
        - ``near-duplicates``: some points copies of others, 1e-9 to 1e-12 apart;
        - ``near-duplicate-clusters``: many clusters of 2 to 5 points, 1e-12 apart
          (relative);
        - ``huge-scale``, ``tiny-scale``: a cloud times 10**100 to 10**150, or 10**-100
          to 10**-150;
        - ``duplicates``: some points exact copies of others.
    n, d : int or strategy of int, optional
        Number of points and of coordinates (defaults: 1 to ``max_n``, 1 to
        ``max_d``). Some families fix or widen one side (above).
    labels : str or strategy of str, optional
        One of :data:`LABELS`: ``real`` (in [-1000, 1000]), ``binary`` (0 or 1),
        ``one-hot`` (rows of the 10 x 10 identity, y of shape (n, 10)).
    max_n, max_d : int
        Bounds for the default n and d.

    Returns
    -------
    SearchStrategy of (numpy.ndarray (n, d), numpy.ndarray (n,) or (n, 10))
        float64 arrays.

    Raises
    ------
    ValueError, TypeError
        An unknown family or label kind, or a size that is not a positive int
        (saying what was given and what is allowed); for values drawn from a
        strategy, when the value is drawn.
    """
    return dataset_strategy(family, n, d, labels, max_n, max_d, with_meta=False)
