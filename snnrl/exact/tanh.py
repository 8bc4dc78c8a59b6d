"""tanh for exact mode: a piecewise polynomial evaluated with exact float32 operations (≤ 1 ULP from torch.tanh).

Method (for ``a = |x|``, exponent field ``E``, top mantissa bits ``q``):

* ``E ≤ 114`` (``|x| < 2^-12``, zeros and subnormals included): ``tanh(x) = x``. The true value lies within
  ``x³/3 < ½ ULP`` of ``x``, so this is correctly rounded.
* ``115 ≤ E ≤ 130`` (``2^-12 ≤ |x| < 16``): 64 intervals, each binade split in 4 by ``q`` (the two mantissa bits
  below the hidden bit). On interval ``k`` with midpoint ``μ_k``, ``t = a − μ_k`` (exact by Sterbenz' lemma)
  and ``p = c0 + t·(c1 + t·(c2 + t·(c3 + t·(c4 + t·c5))))`` in Horner order, every ``·`` and ``+`` one float32
  operation (no fused multiply-add). Coefficients are float32, fitted by :func:`fit_tanh_table`
  (least squares of the relative error on 200 Chebyshev nodes per interval) and stored in :data:`TANH_TABLE`.
* ``E ≥ 131`` (``|x| ≥ 16``, ``±inf`` included): ``±1`` (``tanh(16)`` rounds to 1 in float32).
  NaN gives the canonical NaN.
* The sign of ``x`` is put back (``tanh`` is odd; ``tanh(−0) = −0``).

**Bound.** Checked exhaustively over every non-NaN float32 input, both signs (:func:`tanh_ulp_error`):
at most :data:`TANH_ULP_BOUND` = 1 ULP from ``torch.tanh`` (torch 2.13 CPU) and at most 1 ULP from the correctly
rounded tanh (float64 ``numpy.tanh`` rounded to float32).

:func:`tanh_reference` is this method in plain torch float32 operations; :func:`tanh_planes` is the same
sequence of operations as IF-gate circuits (decoder neurons select the interval, one wide-OR neuron per
coefficient bit reads the table, then :func:`~snnrl.exact.floats.float_add_planes` /
:func:`~snnrl.exact.floats.float_mul_planes`), so the two agree bit for bit.

Example
-------
>>> import torch
>>> x = torch.tensor([0.0, -0.3, 1.0, 5.0, 20.0])
>>> bool(torch.equal(tanh_reference(x).view(torch.int32), tanh_via_gates(x).view(torch.int32)))
True
>>> ulps = (tanh_reference(x).view(torch.int32) - torch.tanh(x).view(torch.int32)).abs()
>>> bool((ulps <= TANH_ULP_BOUND).all())
True
"""

from __future__ import annotations

import numpy as np
import torch

from snnrl.exact.bits import constant_planes, decode, encode
from snnrl.exact.blocks import stack_planes
from snnrl.exact.floats import CANONICAL_NAN_BITS, float_add_planes, float_mul_planes
from snnrl.exact.gates import AND, NOT, GateMeter, at_least, lane_mask, literal_and, literal_or, mux

__all__ = ["TANH_TABLE", "TANH_DEGREE", "TANH_ULP_BOUND", "tanh_reference", "tanh_planes", "tanh_via_gates",
           "fit_tanh_table", "tanh_ulp_error"]

TANH_DEGREE = 5
TANH_ULP_BOUND = 1
"""Max distance in ULPs of :func:`tanh_reference` from ``torch.tanh`` over every float32 input."""
_SPLIT_BITS = 2                 # intervals per binade: 2**_SPLIT_BITS
_FIRST_EXPONENT = 115           # 2^-12
_LAST_EXPONENT = 130            # [8, 16)
_INTERVALS = (_LAST_EXPONENT - _FIRST_EXPONENT + 1) << _SPLIT_BITS

TANH_TABLE: tuple[tuple[int, ...], ...] = (
    (0xB9900000, 0x39900000, 0x3F7FFFFF, 0xB98FB3E8, 0x309FF784, 0xAA90096B, 0x21A00ECD),
    (0xB9B00000, 0x39B00000, 0x3F7FFFFE, 0xB9AFC1CE, 0x309FFA54, 0xAAB007B8, 0x21A009E5),
    (0xB9D00000, 0x39CFFFFF, 0x3F7FFFFD, 0xB9CFCB66, 0x309FFBF1, 0xAAD00689, 0x21A00713),
    (0xB9F00000, 0x39EFFFFF, 0x3F7FFFFC, 0xB9EFD26C, 0x309FFCF3, 0xAAF005A9, 0x21A0054E),
    (0xBA100000, 0x3A0FFFFF, 0x3F7FFFFB, 0xBA0FB3E6, 0x319FF781, 0xAC100968, 0x23A00ECA),
    (0xBA300000, 0x3A2FFFFE, 0x3F7FFFF8, 0xBA2FC1C9, 0x319FFA4F, 0xAC3007B3, 0x23A009DF),
    (0xBA500000, 0x3A4FFFFD, 0x3F7FFFF5, 0xBA4FCB5E, 0x319FFBEA, 0xAC500680, 0x23A0070B),
    (0xBA700000, 0x3A6FFFFC, 0x3F7FFFF2, 0xBA6FD25E, 0x319FFCE9, 0xAC70059B, 0x23A00544),
    (0xBA900000, 0x3A8FFFFC, 0x3F7FFFEC, 0xBA8FFFF1, 0xBEAAAA71, 0x36182C3F, 0xB1D5BAD1),
    (0xBAB00000, 0x3AAFFFF9, 0x3F7FFFE2, 0xBAAFFFE4, 0xBEAAAA5C, 0x35F8C0B3, 0xB1D598EF),
    (0xBAD00000, 0x3ACFFFF5, 0x3F7FFFD6, 0xBACFFFD2, 0xBEAAAA3D, 0x35D25B7B, 0xB1D5856A),
    (0xBAF00000, 0x3AEFFFEE, 0x3F7FFFC8, 0xBAEFFFBA, 0xBEAAAA1D, 0x35B63DA5, 0xB1D57922),
    (0xBB100000, 0x3B0FFFF1, 0x3F7FFFAF, 0xBB0FFFC3, 0xBEAAA9D3, 0x36982AC4, 0xB2D5BA0C),
    (0xBB300000, 0x3B2FFFE4, 0x3F7FFF87, 0xBB2FFF91, 0xBEAAA969, 0x3678BD08, 0xB2D597BF),
    (0xBB500000, 0x3B4FFFD2, 0x3F7FFF57, 0xBB4FFF48, 0xBEAAA8E9, 0x36525724, 0xB2D583C1),
    (0xBB700000, 0x3B6FFFBA, 0x3F7FFF1F, 0xBB6FFEE6, 0xBEAAA854, 0x3636389F, 0xB2D576E7),
    (0xBB900000, 0x3B8FFFC3, 0x3F7FFEBC, 0xBB8FFF0C, 0xBEAAA74C, 0x371824C8, 0xB3D5B6E3),
    (0xBBB00000, 0x3BAFFF91, 0x3F7FFE1C, 0xBBAFFE43, 0xBEAAA5A2, 0x36F8AE64, 0xB3D59306),
    (0xBBD00000, 0x3BCFFF49, 0x3F7FFD5C, 0xBBCFFD22, 0xBEAAA3A1, 0x36D245D5, 0xB3D57D28),
    (0xBBF00000, 0x3BEFFEE7, 0x3F7FFC7C, 0xBBEFFB99, 0xBEAAA14C, 0x36B624A3, 0xB3D56E1D),
    (0xBC100000, 0x3C0FFF0D, 0x3F7FFAF0, 0xBC0FFC34, 0xBEAA9D26, 0x3BBFC88C, 0xB54010A7),
    (0xBC300000, 0x3C2FFE44, 0x3F7FF870, 0xBC2FF911, 0xBEAA967C, 0x3BEA202D, 0xB53FE14D),
    (0xBC500000, 0x3C4FFD24, 0x3F7FF570, 0xBC4FF48F, 0xBEAA8E7C, 0x3C0A9485, 0xB53FF6C4),
    (0xBC700000, 0x3C6FFB9B, 0x3F7FF1F1, 0xBC6FEE6D, 0xBEAA8528, 0x3C1FCFF5, 0xB53FDE18),
    (0xBC900000, 0x3C8FFC34, 0x3F7FEBC1, 0xBC8FF0D1, 0xBEAA749B, 0x3C3F9630, 0xB63FDDB2),
    (0xBCB00000, 0x3CAFF912, 0x3F7FE1C2, 0xBCAFE448, 0xBEAA59F8, 0x3C6A29CA, 0xB63FBA26),
    (0xBCD00000, 0x3CCFF48F, 0x3F7FD5C5, 0xBCCFD241, 0xBEAA3A05, 0x3C8A5398, 0xB63F9324),
    (0xBCF00000, 0x3CEFEE6E, 0x3F7FC7C8, 0xBCEFB9BD, 0xBEAA14C4, 0x3C9F8A17, 0xB63F6968),
    (0xBD100000, 0x3D0FF0D2, 0x3F7FAF11, 0xBD0FC350, 0xBEA9D2B7, 0x3CBF1724, 0xB73F333E),
    (0xBD300000, 0x3D2FE44B, 0x3F7F8726, 0xBD2F9142, 0xBEA96884, 0x3CE93F8B, 0xB73EBAAC),
    (0xBD500000, 0x3D4FD247, 0x3F7F574A, 0xBD4F4951, 0xBEA8E951, 0x3D09934F, 0xB73E2F20),
    (0xBD700000, 0x3D6FB9C9, 0x3F7F1F84, 0xBD6EE792, 0xBEA85540, 0x3D1E6165, 0xB73D8F1F),
    (0xBD900000, 0x3D8FC35F, 0x3F7EBD11, 0xBD8F0E05, 0xBEA750B0, 0x3D3D51F5, 0x3E02DEED),
    (0xBDB00000, 0x3DAF9169, 0x3F7E1E5F, 0xBDAE471B, 0xBEA5AD68, 0x3D65CC0C, 0x3E001EE3),
    (0xBDD00000, 0x3DCF49AB, 0x3F7D609F, 0xBDCD2A0B, 0xBEA3BA14, 0x3D86AAE4, 0x3DF9BB6F),
    (0xBDF00000, 0x3DEEE849, 0x3F7C842D, 0xBDEBA802, 0xBEA178BE, 0x3D99E3BC, 0x3DF2401D),
    (0xBE100000, 0x3E0F0EE8, 0x3F7B00E5, 0xBE0C441E, 0xBE9D89A8, 0x3DB5828E, 0x3DE55C51),
    (0xBE300000, 0x3E2E4984, 0x3F789580, 0xBE293CFF, 0xBE9751FE, 0x3DD7CDBB, 0x3DD14468),
    (0xBE500000, 0x3E4D2F8E, 0x3F75B8AD, 0xBE44F287, 0xBE90151A, 0x3DF6BBFC, 0x3DBA6598),
    (0xBE700000, 0x3E6BB32E, 0x3F726FD9, 0xBE5F365C, 0xBE87EF82, 0x3E08F4F9, 0x3DA15724),
    (0xBE900000, 0x3E8C51CD, 0x3F6CC59B, 0xBE81C7B8, 0xBE748F7D, 0x3E196FE6, 0x3D7260C5),
    (0xBEB00000, 0x3EA96163, 0x3F63FB92, 0xBE96D7CC, 0xBE4C2C47, 0x3E27FFBD, 0x3D0345DF),
    (0xBED00000, 0x3EC543F1, 0x3F59FF97, 0xBEA7FB89, 0xBE213900, 0x3E2E016B, 0x3BC49AAE),
    (0xBEF00000, 0x3EDFD735, 0x3F4F11D7, 0xBEB50E9C, 0xBDEB8FBE, 0x3E2C1CD0, 0xBC8C2584),
    (0xBF100000, 0x3F028438, 0x3F3D7573, 0xBEC12EF2, 0xBD5E864D, 0x3E1CED6B, 0xBD31A605),
    (0xBF300000, 0x3F18ABF0, 0x3F24F360, 0xBEC4BE91, 0x3C6BB4D3, 0x3DF49D7B, 0xBD7C1549),
    (0xBF500000, 0x3F2BC480, 0x3F0CBFE7, 0xBEBCE073, 0x3D83966C, 0x3DA3A1AE, 0xBD805E77),
    (0xBF700000, 0x3F3BEC1C, 0x3EEC1A69, 0xBEAD5112, 0x3DC21A5C, 0x3D319D61, 0xBD596B1F),
    (0xBF900000, 0x3F4F2E5B, 0x3EB0A801, 0xBE8EF82B, 0x3DE34765, 0x3B728795, 0xBD037BE4),
    (0xBFB00000, 0x3F613C53, 0x3E6753A2, 0xBE4B8769, 0x3DCBEC41, 0xBCACCF9E, 0xBC1C3DC3),
    (0xBFD00000, 0x3F6CE37E, 0x3E132F1A, 0xBE08325D, 0x3D99EF9E, 0xBCCDCAFE, 0x3AB62E73),
    (0xBFF00000, 0x3F743C4F, 0x3DB7E7D3, 0xBDAF7455, 0x3D542E10, 0xBCAACB52, 0x3B96BFD6),
    (0xC0100000, 0x3F7A5FEB, 0x3D320845, 0xBD2E1D1E, 0x3CDDE705, 0xBC4B00E8, 0x3B825897),
    (0xC0300000, 0x3F7DEA85, 0x3C84D3D5, 0xBC83BC82, 0x3C2CCA22, 0xBBA8CAD8, 0x3AFB043E),
    (0xC0500000, 0x3F7F3B3D, 0x3BC477B7, 0xBBC3DC37, 0x3B81CB18, 0xBB01BA82, 0x3A49FDFE),
    (0xC0700000, 0x3F7FB78C, 0x3B10D3DA, 0xBB10A755, 0x3AC0738F, 0xBA41F411, 0x39996F48),
    (0xC0900000, 0x3F7FEFD3, 0x3A01601F, 0xBA012274, 0x39AC301D, 0xB934EF15, 0x388F3F7C),
    (0xC0B00000, 0x3F7FFDD0, 0x388C1A3B, 0xB88BDEAE, 0x383A94E0, 0xB7C44824, 0x371BB099),
    (0xC0D00000, 0x3F7FFFB4, 0x3717B0DA, 0xB7177170, 0x36CA0811, 0xB6549155, 0x35A8A67A),
    (0xC0F00000, 0x3F7FFFF6, 0x35A43BCE, 0xB5A3F74E, 0x355ABD42, 0xB4E626D0, 0x34369B86),
    (0xC1100000, 0x3F7FFFFF, 0x338306D6, 0xB37E573C, 0x332B3C38, 0xB2D45E86, 0x32248943),
    (0xC1300000, 0x3F800000, 0x309996F0, 0xB09511B8, 0x3048B8E2, 0xAFF8F08A, 0x2F40DE8D),
    (0xC1500000, 0x3F800000, 0x2DB409A4, 0xADAEBCFF, 0x2D6B49F0, 0xAD11E6B1, 0x2C6212A9),
    (0xC1700000, 0x3F800000, 0x2AD312EE, 0xAACD0C94, 0x2A899649, 0xAA2A9D37, 0x2985EFF8),
)
"""Per interval (64): float32 bit patterns of ``(−μ_k, c0, c1, c2, c3, c4, c5)``, made by :func:`fit_tanh_table`."""


def fit_tanh_table() -> tuple[tuple[int, ...], ...]:
    """Re-derive :data:`TANH_TABLE`: per interval, least squares of the relative error of a degree-5 polynomial
    in ``t = x − μ`` on 200 Chebyshev nodes (float64), coefficients rounded to float32."""
    rows = []
    for k in range(_FIRST_EXPONENT - 127, _LAST_EXPONENT - 127 + 1):
        for q in range(1 << _SPLIT_BITS):
            lo, hi = 2.0 ** k * (1 + q / 2 ** _SPLIT_BITS), 2.0 ** k * (1 + (q + 1) / 2 ** _SPLIT_BITS)
            mid, nodes = 0.5 * (lo + hi), 200
            xs = mid + 0.5 * (hi - lo) * np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)
            t, y = xs - mid, np.tanh(xs)
            coeffs, *_ = np.linalg.lstsq(np.vander(t, TANH_DEGREE + 1, increasing=True) / y[:, None],
                                         np.ones_like(y), rcond=None)
            row = np.array([-mid, *coeffs], dtype=np.float32).view(np.uint32)
            rows.append(tuple(int(v) for v in row))
    return tuple(rows)


def _table_tensor() -> torch.Tensor:
    return torch.tensor(np.array(TANH_TABLE, dtype=np.uint32).view(np.int32)).view(torch.float32)   # [64, 7]


def tanh_reference(x: torch.Tensor) -> torch.Tensor:
    """The exact-mode tanh in plain torch float32 operations (see the module docstring)."""
    if x.dtype != torch.float32:
        raise TypeError(f"tanh_reference expects float32, got {x.dtype}.")
    bits = x.view(torch.int32)
    exponent = (bits >> 23) & 0xFF
    quarter = (bits >> (23 - _SPLIT_BITS)) & ((1 << _SPLIT_BITS) - 1)
    index = (((exponent - _FIRST_EXPONENT) << _SPLIT_BITS) | quarter).clamp(0, _INTERVALS - 1)
    row = _table_tensor()[index.long()]                                           # [..., 7]
    a = torch.abs(x)
    t = torch.add(a, row[..., 0])
    p = row[..., TANH_DEGREE + 1]
    for m in range(TANH_DEGREE, 0, -1):
        p = torch.add(torch.mul(p, t), row[..., m])
    magnitude = torch.where(exponent <= _FIRST_EXPONENT - 1, a,
                            torch.where(exponent >= _LAST_EXPONENT + 1, torch.ones_like(a), p))
    out = torch.where(bits < 0, -magnitude, magnitude)
    nan = torch.tensor(CANONICAL_NAN_BITS, dtype=torch.int32).view(torch.float32)
    return torch.where(torch.isnan(x), nan, out)


def _rom(meter: GateMeter, select: np.ndarray) -> np.ndarray:
    """Table lookup: ``[7, 32, ...]`` planes of the row whose decoder fires (0 if none). One wide-OR neuron per
    table bit that is set in some row; its inputs are the decoders of the rows where it is set."""
    table = np.array(TANH_TABLE, dtype=np.uint32)                                # [64, 7]
    bits = ((table[..., None] >> np.arange(32, dtype=np.uint32)) & 1).astype(bool)   # [64, 7, 32]
    gated = np.where(bits.reshape(_INTERVALS, -1)[..., None, None], select[:, None], np.uint64(0))
    out = np.bitwise_or.reduce(gated, axis=0)                                     # [224, R, W]
    used = bits.reshape(_INTERVALS, -1).any(0)
    meter.record(out[used], [])                                                   # neurons: the used bits only
    meter.add_synaptic_events(gated)
    return out.reshape(TANH_DEGREE + 2, 32, *out.shape[1:])


def tanh_planes(meter: GateMeter, x: np.ndarray) -> np.ndarray:
    """:func:`tanh_reference` as IF-gate circuits on ``[32, R, W]`` bit planes."""
    exponent, top = x[23:31], x[23 - _SPLIT_BITS:23]
    key = stack_planes(top, exponent)                                                # 10 bits: q, then E
    codes = [(e << _SPLIT_BITS) | q for e in range(_FIRST_EXPONENT, _LAST_EXPONENT + 1)
             for q in range(1 << _SPLIT_BITS)]                                      # interval k <-> key value
    select = np.stack([meter.fire_wide(literal_and(tuple(not (code >> i) & 1 for i in range(10))), key)
                       for code in codes])                                          # [64, R, W], one-hot
    rom = _rom(meter, select)
    a = stack_planes(x[:31], np.zeros((1, 1, 1), dtype=np.uint64))                  # |x|: the sign wire dropped
    t = float_add_planes(meter, a, rom[0])
    p = rom[TANH_DEGREE + 1]
    for m in range(TANH_DEGREE, 0, -1):
        p = float_add_planes(meter, float_mul_planes(meter, p, t), rom[m])
    small = meter.fire(NOT, meter.fire_wide(at_least(_FIRST_EXPONENT, 8), exponent))
    large = meter.fire_wide(at_least(_LAST_EXPONENT + 1, 8), exponent)
    magnitude = mux(meter, large, p, constant_planes(0x3F800000, 32))
    magnitude = mux(meter, small, magnitude, a)
    nan = meter.fire(AND, meter.fire_wide(literal_and((False,) * 8), exponent),
                     meter.fire_wide(literal_or((False,) * 23), x[:23]))
    magnitude = mux(meter, nan, magnitude, constant_planes(CANONICAL_NAN_BITS, 32))
    sign = meter.fire(literal_and((False, True)), x[31], nan)
    return stack_planes(magnitude[:31], sign[None])


def tanh_via_gates(x: torch.Tensor) -> torch.Tensor:
    """:func:`tanh_planes` on a float32 tensor (encode, circuit, decode)."""
    flat = x.reshape(1, -1)
    meter = GateMeter(lane_mask(1, flat.shape[1]), enabled=False)
    return decode(tanh_planes(meter, encode(flat)), flat.shape[1]).reshape(x.shape)


def tanh_ulp_error(first_bits: int = 0, end_bits: int = 0x7F800001, *, chunk: int = 1 << 22) -> dict[str, int]:
    """Max ULP distance of :func:`tanh_reference` from ``torch.tanh`` and from the correctly rounded tanh, over
    the float32 inputs whose bit patterns lie in ``[first_bits, end_bits)`` and their negatives. The default
    covers every non-NaN float32 (``±0`` to ``±inf``); that takes several minutes on one core."""
    worst_torch = worst_true = 0
    for start in range(first_bits, end_bits, chunk):
        bits = torch.arange(start, min(start + chunk, end_bits), dtype=torch.int64).to(torch.int32)
        for x in (bits.view(torch.float32), -bits.view(torch.float32)):
            ours = tanh_reference(x).view(torch.int32).long()
            theirs = torch.tanh(x).view(torch.int32).long()
            true = torch.from_numpy(np.tanh(x.numpy().astype(np.float64)).astype(np.float32)).view(torch.int32)
            worst_torch = max(worst_torch, int((ours - theirs).abs().max()))
            worst_true = max(worst_true, int((ours - true.long()).abs().max()))
    return {"ulp_vs_torch": worst_torch, "ulp_vs_correctly_rounded": worst_true}
