"""Named spectral laws for the spin-glass complexity (``--law`` of ``hessrmt theory spin-glass``).

Specs (every law is used in standardised units by :class:`~.coulomb.CoulombGas`):

* ``semicircle`` -- the GOE limit (ABC exactly);
* ``mp:PHI`` -- Marchenko-Pastur of ratio PHI (Gauss-Newton-like Hessians);
* ``uniform`` -- the uniform law on [-1, 1];
* ``sc+mp:PHI`` -- Semicircle(1) boxplus MP(PHI) (Pennington-Bahri-like H0 + H1);
* ``product:PHI`` -- MP(PHI) boxtimes MP(PHI) (a product law, Fuss-Catalan at PHI = 1);
* ``atoms:X1,X2,...`` -- an atomic (empirical) law; it has no right edge, so the complexity
  refuses it.
"""

from __future__ import annotations

import math

from hessrmt.errors import InputError
from hessrmt.rmt.law import SpectralLaw

__all__ = ["LAW_SPECS", "named_law"]

LAW_SPECS = ("semicircle", "mp:PHI", "uniform", "sc+mp:PHI", "product:PHI", "atoms:X1,X2,...")


def _phi(name: str, text: str) -> float:
    try:
        phi = float(text)
    except ValueError:
        raise InputError(f"--law {name}:{text}: PHI must be a number") from None
    if not (math.isfinite(phi) and phi > 0):
        raise InputError(f"--law {name}:{text}: PHI must be positive")
    return phi


def named_law(spec: str) -> SpectralLaw:
    """The law named by ``spec`` (module docstring); an InputError lists the valid specs."""
    from hessrmt.rmt.free import free_additive_convolution, free_multiplicative_convolution
    from hessrmt.rmt.laws import EmpiricalLaw, MarchenkoPastur, Semicircle, UniformLaw

    name, _, arg = spec.strip().partition(":")
    name = name.lower()
    if name == "semicircle" and not arg:
        return Semicircle(1.0)
    if name == "uniform" and not arg:
        return UniformLaw(-1.0, 1.0)
    if name == "mp" and arg:
        return MarchenkoPastur(_phi(name, arg))
    if name == "sc+mp" and arg:
        return free_additive_convolution(Semicircle(1.0), MarchenkoPastur(_phi(name, arg)))
    if name == "product" and arg:
        phi = _phi(name, arg)
        return free_multiplicative_convolution(MarchenkoPastur(phi), MarchenkoPastur(phi))
    if name == "atoms" and arg:
        try:
            values = [float(v) for v in arg.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"--law {spec}: atoms must be numbers separated by commas") from None
        return EmpiricalLaw(values)
    raise InputError(f"unknown law {spec!r}; use one of: {', '.join(LAW_SPECS)}")
