"""In-memory-computing (IMC) crossbar model after SpikeSim: energy, latency and area (a *model*).

Source: A. Moitra, A. Bhattacharjee, R. Kuang, G. Krishnan, Y. Cao, P. Panda, "SpikeSim: An end-to-end
Compute-in-Memory Hardware Evaluation Tool for Benchmarking Spiking Neural Networks", IEEE TCAD 2023
(arXiv:2210.12899), and its public energy-latency-area script (github.com/Intelligent-Computing-Lab-Yale/SpikeSim,
``SNN_train_infer_quantization_ela/ela_spikesim.py``). We re-derived the equations from that script and wrote
them here with named, unit-carrying parameters; the numbers of :data:`SPIKESIM_RRAM_65NM` are that script's
65 nm RRAM defaults (the comments on the fields name the script constant where our name differs).

Architecture (SpikeFlow): a *tile* holds ``pes_per_tile`` processing engines (PEs) plus a tile buffer, an
accumulator (SpikeSim "Sub"), a temporary buffer and its share of the H-tree interconnect. A PE holds
``K = pe_kernel_size²`` crossbars of ``rows × columns`` cells, one per kernel position, and ``n_adc =
columns / columns_per_adc`` ADCs, each shared by ``columns_per_adc`` columns through a multiplexer.

Mapping (weight-stationary). A layer with ``c_in`` input and ``c_out`` output channels whose kernel equals the
PE's kernel puts ``rows`` input channels of every kernel position into one PE (SpikeSim's mapping); any other
layer (linear, 1×1 or other kernels — our extension) is unrolled into ``fan_in`` rows over the PE's ``K``
stacked crossbars. A ``b_w``-bit weight takes ``n_cell = ceil(b_w / cell_bits)`` cells side by side (bit
slicing, our extension; SpikeSim's example stores one 4-bit weight per cell)::

    row_groups = ceil(c_in / rows)           (kernel == PE kernel)   or  ceil(fan_in / (K·rows))
    PEs_l      = row_groups · ceil(c_out · n_cell / columns)
    tiles      = ceil(Σ_l PEs_l / pes_per_tile)

Energy. One *PE cycle* reads all of a PE's crossbars once per multiplexer step (``m = columns_per_adc``
steps) and converts every column::

    E_PEcycle = m·K·E_xbar·[r_{l,t}] + m·n_adc·(E_adc + E_mux) + n_adc·bits_acc·E_acc + n_adc·E_tmp
                + E_tilebuf + E_htree + E_fetch
    E = Σ_l Σ_t [ PEs_l · P_l · E_PEcycle  +  G_l · P_l · E_lif · b_mem / b_ref ]

with ``P_l`` the layer's output positions, ``G_l = row_groups · ceil(c_out / columns)`` the LIF-module
updates per output position (SpikeSim charges ``E_lif`` once per PE cycle; bit slices are merged before the
neuron, so the LIF term does not grow with ``n_cell``), ``b_mem`` the membrane-potential bit width and
``b_ref`` the width the LIF energy is given for. SpikeSim counts every PE cycle at every timestep whatever the
spikes (dense assumption); with ``crossbar_energy_scales_with_input_rate`` the crossbar read term is scaled by
the layer's input spike rate ``r_{l,t}`` (rows without a spike draw no read current; our extension). A layer
with analog input runs only at timesteps where it did MACs (see
:meth:`~snnrl.hardware.workload.Workload.with_static_analog_input`).

Latency (SpikeSim's pipeline): one output value per PE cycle, ``t_PE = clock_cycles_per_pe_cycle / clock_mhz``; layer
``l+1`` starts once layer ``l`` has produced ``pipeline_start_fraction`` of its ``T·N_l`` outputs::

    D = t_PE · T · ( N_L + c · Σ_{l<L} N_l ),   N_l = c_out · P_l

Area::

    A_PE   = K·A_xbar + n_adc·(A_adc + A_mux)
    A_tile = pes_per_tile·A_PE + n_adc·A_acc + A_tmp + A_tilebuf + A_htree
    A      = tiles·A_tile + Σ_l (c_in·P_in,l)·b_buf·A_bit + Σ_l N_l·b_mem·A_bit

the last two terms being the input (activation) buffer and the membrane-potential memory, SRAM at
``A_bit = 0.7391 µm²`` per bit (SpikeSim's per-bit buffer area). SpikeSim stores ``22·A_bit`` per value in both
buffers; we read the 22 as the bit width of the stored word, so SpikeSim's example is ``b_mem = 22``.
SpikeSim's script sums the membrane memory over the first five of its seven layers only; we sum it over all
layers. SpikeSim's VGG9 lists give each conv's output size *after* pooling as ``P_l`` and leave out the
classifier; :func:`~snnrl.hardware.workload.layer_geometries` gives the conv output before pooling (the real
neuron count) and includes linear layers, so a torch VGG9 costs more than SpikeSim's example.

Derived quantities: ``EDAP = E·D·A`` (pJ·ns·mm²); ``TOPS/W = ops / E_pJ`` and ``TOPS/mm² = 1e-3 · ops / (D_ns ·
A_mm2)`` where ``ops = 2 · Σ_l dense MACs executed`` (a crossbar evaluates every synapse, so dense-equivalent
operations, 2 per MAC).

Not modelled: crossbar non-idealities (SpikeSim's NICE), ADC precision vs weight bits, off-chip memory, leakage,
pooling and classifier layers outside the given layer list, grouped convolutions.

Example
-------
>>> from snnrl.hardware.workload import LayerGeometry, workload_from_geometry
>>> conv = LayerGeometry.conv2d("conv", 64, 64, kernel_size=3, input_hw=8, output_hw=8)
>>> cost = imc_cost(workload_from_geometry([conv], timesteps=1), weight_bits=8, membrane_bits=22)
>>> cost.layers[0].pes, cost.tiles, cost.latency_ns        # 8-bit weights: 2 cells each -> 2 PEs
(2, 1, 425984.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from snnrl.hardware._validation import ProfileError, check_profile_fields
from snnrl.hardware.workload import LayerGeometry, Workload, WorkloadError

__all__ = ["ImcProfile", "SPIKESIM_RRAM_65NM", "ImcLayerCost", "ImcCost", "imc_cost", "pe_count",
           "spikesim_vgg9_geometry"]

ENERGY_COMPONENTS = ("crossbar", "adc", "mux", "accumulator", "temp_buffer", "tile_buffer", "htree",
                     "memory_fetch", "lif")
AREA_COMPONENTS = ("crossbars", "adcs", "muxes", "accumulators", "temp_buffers", "tile_buffers", "htree",
                   "input_buffer", "membrane_memory")


@dataclass(frozen=True)
class ImcProfile:
    """Parameters of a SpikeSim-style crossbar accelerator (see the module docstring for the equations)."""

    name: str
    technology_nm: float
    #: crossbar size (SpikeSim ``xbar_size``)
    crossbar_rows: int
    crossbar_columns: int
    #: PE kernel: a PE holds ``pe_kernel_size²`` crossbars (SpikeSim ``kernel_size``)
    pe_kernel_size: int
    #: columns sharing one ADC through a multiplexer (SpikeSim's ``xbar_size / 8``: 8 columns per ADC)
    columns_per_adc: int
    pes_per_tile: int
    clock_mhz: float
    #: clock cycles per PE cycle (SpikeSim ``PE_cycle = 26 · 1000 / clk_freq`` ns)
    clock_cycles_per_pe_cycle: int
    #: bits stored per crossbar cell
    cell_bits: int
    #: fraction of a layer's outputs produced before the next layer starts (SpikeSim ``cp = 0.75``)
    pipeline_start_fraction: float
    #: read energy of one crossbar per multiplexer step (SpikeSim energy ``xbar_ar``, RRAM)
    crossbar_read_energy_pj: float
    adc_energy_pj: float
    mux_energy_pj: float
    #: per bit of the shift-add accumulator word (SpikeSim ``Sub``; ``accumulator_bits`` is its ``16``)
    accumulator_energy_pj_per_bit: float
    accumulator_bits: int
    temp_buffer_energy_pj: float
    tile_buffer_energy_pj: float
    #: SpikeSim ``Htree = 19.64 · 8``
    htree_energy_pj: float
    memory_fetch_energy_pj: float
    #: LIF-module energy per update of a crossbar's worth of neurons, at ``reference_membrane_bits``
    #: (SpikeSim ``neuron = 1.274 · 4``)
    lif_energy_pj: float
    reference_membrane_bits: int
    crossbar_area_um2: float
    adc_area_um2: float
    mux_area_um2: float
    accumulator_area_um2: float
    temp_buffer_area_um2: float
    #: SpikeSim ``Tile_buff = 0.7391 · 64 · 128``
    tile_buffer_area_um2: float
    #: SpikeSim ``Htree = 216830 · 2``
    htree_area_um2: float
    sram_bit_area_um2: float
    #: bits per stored input value (SpikeSim's ``22``)
    input_buffer_bits: int
    default_weight_bits: int
    default_membrane_bits: int
    crossbar_energy_scales_with_input_rate: bool = False

    def __post_init__(self) -> None:
        check_profile_fields(self, kind="imc")
        if self.crossbar_columns % self.columns_per_adc:
            raise ProfileError(f"imc profile field 'columns_per_adc' must divide crossbar_columns "
                               f"({self.crossbar_columns}), received {self.columns_per_adc}. Pick a divisor.")
        if not 0.0 <= self.pipeline_start_fraction <= 1.0:
            raise ProfileError(f"imc profile field 'pipeline_start_fraction' must be in [0, 1], received "
                               f"{self.pipeline_start_fraction}. 0 = fully overlapped layers, 1 = sequential.")
        if self.clock_mhz <= 0:
            raise ProfileError(f"imc profile field 'clock_mhz' must be > 0, received {self.clock_mhz}.")

    # -- derived constants ---------------------------------------------------------------------------
    @property
    def crossbars_per_pe(self) -> int:
        return self.pe_kernel_size ** 2

    @property
    def adcs_per_pe(self) -> int:
        return self.crossbar_columns // self.columns_per_adc

    @property
    def pe_cycle_ns(self) -> float:
        """Duration of one PE cycle: ``clock_cycles_per_pe_cycle / clock_mhz`` µs, in ns."""
        return self.clock_cycles_per_pe_cycle * 1000.0 / self.clock_mhz

    def pe_cycle_energy_pj(self, *, input_rate: float = 1.0) -> dict[str, float]:
        """Energy components (pJ) of one PE cycle, LIF excluded; crossbar term scaled by ``input_rate`` if the
        profile gates it."""
        m, k, n_adc = self.columns_per_adc, self.crossbars_per_pe, self.adcs_per_pe
        rate = input_rate if self.crossbar_energy_scales_with_input_rate else 1.0
        return {
            "crossbar": m * k * self.crossbar_read_energy_pj * rate,
            "adc": m * n_adc * self.adc_energy_pj,
            "mux": m * n_adc * self.mux_energy_pj,
            "accumulator": n_adc * self.accumulator_bits * self.accumulator_energy_pj_per_bit,
            "temp_buffer": n_adc * self.temp_buffer_energy_pj,
            "tile_buffer": self.tile_buffer_energy_pj,
            "htree": self.htree_energy_pj,
            "memory_fetch": self.memory_fetch_energy_pj,
        }

    def tile_area_um2(self) -> dict[str, float]:
        """Area components (µm²) of one tile."""
        n_adc, pes = self.adcs_per_pe, self.pes_per_tile
        return {
            "crossbars": pes * self.crossbars_per_pe * self.crossbar_area_um2,
            "adcs": pes * n_adc * self.adc_area_um2,
            "muxes": pes * n_adc * self.mux_area_um2,
            "accumulators": n_adc * self.accumulator_area_um2,
            "temp_buffers": self.temp_buffer_area_um2,
            "tile_buffers": self.tile_buffer_area_um2,
            "htree": self.htree_area_um2,
        }


SPIKESIM_RRAM_65NM = ImcProfile(
    name="spikesim-rram-65nm (SpikeSim ELA defaults)",
    technology_nm=65.0,
    crossbar_rows=64,
    crossbar_columns=64,
    pe_kernel_size=3,
    columns_per_adc=8,
    pes_per_tile=8,
    clock_mhz=250.0,
    clock_cycles_per_pe_cycle=26,
    cell_bits=4,
    pipeline_start_fraction=0.75,
    crossbar_read_energy_pj=1.76423,
    adc_energy_pj=2.03084,
    mux_energy_pj=0.094245,
    accumulator_energy_pj_per_bit=1.15e-6,
    accumulator_bits=16,
    temp_buffer_energy_pj=0.2,
    tile_buffer_energy_pj=397.0,
    htree_energy_pj=19.64 * 8,
    memory_fetch_energy_pj=4.64,
    lif_energy_pj=1.274 * 4.0,
    reference_membrane_bits=22,
    crossbar_area_um2=26.2144,
    adc_area_um2=693.633,
    mux_area_um2=45.9,
    accumulator_area_um2=13411.41498,
    temp_buffer_area_um2=484.643999,
    tile_buffer_area_um2=0.7391 * 64 * 128,
    htree_area_um2=216830.0 * 2,
    sram_bit_area_um2=0.7391,
    input_buffer_bits=22,
    default_weight_bits=4,
    default_membrane_bits=22,
)
"""SpikeSim's 65 nm RRAM defaults (``ela_spikesim.py``: ``compute_energy`` / ``compute_area`` with
``device='rram'``, ``xbar_size=64``, ``kernel_size=3``, ``pe_per_tile=8``, ``clk_freq=250``,
``PE_cycle = 26`` clocks, latency checkpoint ``cp = 0.75``); one 4-bit weight per cell as in its 4-bit VGG9."""


def spikesim_vgg9_geometry() -> list[LayerGeometry]:
    """The layer shapes of SpikeSim's published VGG9 example (``ela_spikesim.py``), the model's anchor.

    Seven 3x3 convolutions on a 32x32 CIFAR-10 input; as in SpikeSim's lists, each output size is *after*
    pooling and the two classifier layers are left out. With ``workload_from_geometry(..., timesteps=5)``,
    4-bit weights and 22-bit membranes, SpikeSim reports 15.907 µJ, 62.8 ms and 8.43 mm².
    """
    in_channels = [3, 64, 64, 128, 128, 256, 256]
    out_channels = [64, 64, 128, 128, 256, 256, 256]
    in_sizes = [32, 32, 16, 16, 8, 8, 8]
    out_sizes = [32, 16, 16, 8, 8, 8, 4]
    return [LayerGeometry.conv2d(f"conv{i + 1}", c_in, c_out, kernel_size=3, input_hw=d_in, output_hw=d_out)
            for i, (c_in, c_out, d_in, d_out) in enumerate(zip(in_channels, out_channels, in_sizes, out_sizes))]


def _check_bits(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise ValueError(f"{name} must be an integer number of bits in [1, 64], received {value!r}. "
                         f"Pass e.g. {name}=4, or leave it out for the profile's default.")
    return value


def pe_count(profile: ImcProfile, layer: LayerGeometry, *, weight_bits: int) -> tuple[int, int]:
    """``(PEs, LIF updates per output position)`` of ``layer`` with ``weight_bits``-bit weights."""
    if layer.groups != 1:
        raise WorkloadError(f"Layer '{layer.name}': grouped convolutions (groups={layer.groups}) are not "
                            "modelled by the IMC crossbar model.")
    cells = math.ceil(_check_bits("weight_bits", weight_bits) / profile.cell_bits)
    if layer.kind == "conv" and layer.kernel_size == (profile.pe_kernel_size,) * 2:
        row_groups = math.ceil(layer.in_channels / profile.crossbar_rows)
    else:
        row_groups = math.ceil(layer.fan_in / (profile.crossbars_per_pe * profile.crossbar_rows))
    pes = row_groups * math.ceil(layer.out_channels * cells / profile.crossbar_columns)
    lif = row_groups * math.ceil(layer.out_channels / profile.crossbar_columns)
    return pes, lif


@dataclass(frozen=True)
class ImcLayerCost:
    """One layer's share: PEs, PE cycles over all timesteps, energy (pJ) and attributed area (mm²).

    Tile area is attributed in proportion to PEs; buffers and membrane memory to the layer that holds them.
    """

    name: str
    pes: int
    pe_cycles: float
    energy_pj: float
    area_mm2: float
    operations: float
    energy_components_pj: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ImcCost:
    """Whole-network result of :func:`imc_cost` (per sample, ``timesteps`` steps)."""

    profile: str
    timesteps: int
    weight_bits: int
    membrane_bits: int
    tiles: int
    energy_pj: float
    latency_ns: float
    area_mm2: float
    operations: float
    energy_per_timestep_pj: tuple[float, ...]
    energy_components_pj: Mapping[str, float]
    area_components_mm2: Mapping[str, float]
    layers: tuple[ImcLayerCost, ...]


def imc_cost(workload: Workload, *, profile: ImcProfile = SPIKESIM_RRAM_65NM, weight_bits: int | None = None,
             membrane_bits: int | None = None) -> ImcCost:
    """Energy, latency and area of ``workload`` (one sample) on the crossbar accelerator ``profile``.

    Every synaptic layer of the workload needs a :class:`~snnrl.hardware.workload.LayerGeometry`; neuron
    layers are covered by the LIF term and the membrane memory of the synaptic layer they follow.
    ``weight_bits`` / ``membrane_bits`` default to the profile's (SpikeSim's example: 4 and 22).
    """
    w_bits = _check_bits("weight_bits", profile.default_weight_bits if weight_bits is None else weight_bits)
    m_bits = _check_bits("membrane_bits", profile.default_membrane_bits if membrane_bits is None
                         else membrane_bits)
    layers = workload.synaptic_layers
    if not layers:
        raise WorkloadError("The workload has no synaptic (linear / conv) layer to map onto crossbars.")
    shapes = [layer.geometry for layer in layers]
    missing = [layer.name for layer, g in zip(layers, shapes) if g is None]
    if missing:
        raise WorkloadError(f"The IMC model needs each synaptic layer's shape; layers {missing} have none. Build "
                            "the workload with geometry=layer_geometries(net, example_input) or "
                            "workload_from_geometry(...).")
    geometries: list[LayerGeometry] = [g for g in shapes if g is not None]
    steps = workload.timesteps
    lif_pj = profile.lif_energy_pj * m_bits / profile.reference_membrane_bits
    bit_um2 = profile.sram_bit_area_um2

    # Energy: PE cycles of every layer at every timestep it runs, plus the LIF-module updates.
    mapping = [pe_count(profile, g, weight_bits=w_bits) for g in geometries]
    per_step = [0.0] * steps
    layer_parts: list[dict[str, float]] = []
    layer_cycles: list[float] = []
    layer_ops: list[float] = []
    for layer, g, (pes, lif_groups) in zip(layers, geometries, mapping):
        parts = dict.fromkeys(ENERGY_COMPONENTS, 0.0)
        cycles = ops = 0.0
        for t, rate in enumerate(layer.input_rates()):
            if layer.has_analog_input and layer.macs[t] == 0:
                continue  # analog-input layer idle at this step (e.g. a static input computed once)
            step_cycles = pes * g.output_positions
            step = {key: step_cycles * value for key, value in profile.pe_cycle_energy_pj(input_rate=rate).items()}
            step["lif"] = lif_groups * g.output_positions * lif_pj
            for key, value in step.items():
                parts[key] += value
            per_step[t] += sum(step.values())
            cycles += step_cycles
            ops += 2.0 * g.dense_macs
        layer_parts.append(parts)
        layer_cycles.append(cycles)
        layer_ops.append(ops)
    energy_parts = {key: sum(parts[key] for parts in layer_parts) for key in ENERGY_COMPONENTS}

    # Area: tiles shared by all layers' PEs, plus input buffer and membrane memory per layer.
    pes_total = sum(pes for pes, _ in mapping)
    tiles = math.ceil(pes_total / profile.pes_per_tile)
    tile_parts = profile.tile_area_um2()
    area_parts = {key: tiles * value * 1e-6 for key, value in tile_parts.items()}
    input_um2 = [g.input_values * profile.input_buffer_bits * bit_um2 for g in geometries]
    membrane_um2 = [g.output_neurons * m_bits * bit_um2 for g in geometries]
    area_parts["input_buffer"] = sum(input_um2) * 1e-6
    area_parts["membrane_memory"] = sum(membrane_um2) * 1e-6

    # Latency: SpikeSim's layer pipeline, one output value per PE cycle.
    outputs = [g.output_neurons for g in geometries]
    latency_ns = profile.pe_cycle_ns * steps * (outputs[-1] + profile.pipeline_start_fraction * sum(outputs[:-1]))

    tile_um2 = sum(tile_parts.values())
    layer_costs = tuple(
        ImcLayerCost(layer.name, pes, cycles, sum(parts.values()),
                     (tiles * tile_um2 * pes / pes_total + buf + mem) * 1e-6, ops, parts)
        for layer, (pes, _), cycles, parts, buf, mem, ops
        in zip(layers, mapping, layer_cycles, layer_parts, input_um2, membrane_um2, layer_ops))
    return ImcCost(profile=profile.name, timesteps=steps, weight_bits=w_bits, membrane_bits=m_bits, tiles=tiles,
                   energy_pj=sum(energy_parts.values()), latency_ns=latency_ns, area_mm2=sum(area_parts.values()),
                   operations=sum(layer_ops), energy_per_timestep_pj=tuple(per_step),
                   energy_components_pj=energy_parts, area_components_mm2=area_parts, layers=layer_costs)
