"""Argument checks shared by the layers: one clear ValueError naming the bad value."""

from __future__ import annotations

import numbers


def positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise ValueError if it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)


def conv_padding(padding: int | str, kernel_size: int) -> int:
    """Resolve ``"same"``/``"valid"``/int to an explicit padding.

    ``"same"`` means ``kernel_size // 2`` on each side, so it also works with stride 2
    (where PyTorch's own ``padding="same"`` is refused): the output is ceil(size / stride).
    """
    if padding == "same":
        if kernel_size % 2 == 0:
            raise ValueError(f'padding="same" needs an odd kernel_size, got {kernel_size}')
        return kernel_size // 2
    if padding == "valid":
        return 0
    if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
        raise ValueError(f'padding must be "same", "valid" or an integer >= 0, got {padding!r}')
    return int(padding)
