"""finite-expressivity: the reference implementation of Zhang et al. (ICLR 2017),
"Understanding deep learning requires rethinking generalization".

Theorem 1 in four calls::

    import finite_expressivity as fe
    net = fe.fit(X, y, seed=0)            # the 2n+d two-layer ReLU network
    out = net(X)                          # plain float64 forward, chunked
    cert = fe.certify(net, X, y)          # exact rational residuals of the stored network
    print(cert.max_residual, cert.certified, fe.diagnose(net, X).digits_needed)
"""

__version__ = "0.1.0"

from .theorem1.certify import Certificate, Diagnostics, certify, diagnose  # noqa: E402
from .theorem1.construction import fit  # noqa: E402
from .theorem1.network import TwoLayerReLU  # noqa: E402

__all__ = [
    "fit",
    "TwoLayerReLU",
    "certify",
    "diagnose",
    "Certificate",
    "Diagnostics",
    "__version__",
]
