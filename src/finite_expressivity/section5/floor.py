"""The machine's floor for a kernel fit: what it could do at best, from measured rates.

``floor_seconds`` adds three terms, each the least work the job must do divided by
this machine's measured rate (:func:`~finite_expressivity.core.machine.machine_rates`):

* **kernel**: the kernel matrix's GEMM, ``2 n^2 d`` flops at the float32 GEMM rate
  (the product ``X X^T`` as one general GEMM; the element-wise work, the
  exponentials and the first touch of ``K``'s memory are not counted);
* **solve**: for a stored ``K`` (PCG), one read of ``K`` per epoch at the memory
  read rate; for Cholesky, ``n^3 / 3`` flops at the GEMM rate of ``K``'s
  precision; for EigenPro (``K`` on the fly), the kernel's GEMM once per epoch;
* **predict**: the test kernel's GEMM, ``2 n_test n d`` flops at the float32 rate.

The ratio of a run's time to this floor says how far the code is from the
hardware, whatever the hardware is.
"""

from __future__ import annotations

__all__ = ["floor_seconds"]


def floor_seconds(
    *, n: int, d: int, n_test: int, solver: str, epochs: int, rates: dict, dtype="float32"
) -> dict:
    """Seconds this machine needs at least for a fit and its predictions.

    Parameters
    ----------
    n, d : int
        Training points and features.
    n_test : int
        Points predicted.
    solver : {"cholesky", "pcg", "eigenpro"}
    epochs : int
        Passes the iterative solver made.
    rates : dict
        ``gemm_float32_flops``, ``gemm_float64_flops`` and ``read_bytes_per_s``
        (:func:`~finite_expressivity.core.machine.machine_rates`).
    dtype : {"float32", "float64"}
        Precision of the stored ``K``.

    Returns
    -------
    dict
        ``kernel``, ``solve``, ``predict`` and ``total`` in seconds.
    """
    f32 = float(rates["gemm_float32_flops"])
    kernel = 2.0 * n * n * d / f32
    if solver == "pcg":
        itemsize = 8 if str(dtype) == "float64" else 4
        solve = epochs * n * n * itemsize / float(rates["read_bytes_per_s"])
    elif solver == "cholesky":
        rate = float(rates["gemm_float64_flops"] if str(dtype) == "float64" else f32)
        solve = n**3 / 3.0 / rate
    elif solver == "eigenpro":
        solve = epochs * kernel
    else:
        raise ValueError(f"solver must be cholesky, pcg or eigenpro, got {solver!r}")
    predict = 2.0 * n_test * n * d / f32
    parts = {"kernel": kernel, "solve": solve, "predict": predict}
    parts["total"] = sum(parts.values())
    return {k: float(f"{v:.4g}") for k, v in parts.items()}
