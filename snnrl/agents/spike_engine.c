/* The spike-driven kernel for converted MLP actors, register-blocked (see snnrl/agents/spike_engine.py).
 *
 * The same decision as the numba kernel `_decide_rows`, with the same additions in the same order, so both give the
 * same spikes, potentials and pre-actions; only the loop order differs. Rows are (sample, timestep) pairs. Layer by
 * layer over a block of rows: the IF layer's spikes of every row are stored as a bit mask per 16 neurons, then
 * turned into index lists (a sample's timesteps ordered by spike count and grouped four at a time, so a group's rows
 * are of similar length); the next layer's weights, packed as chunks of 16 outputs (`[chunk][input][16]`, 25.6 kB
 * for 400 inputs), are read chunk by chunk, so one chunk stays in L1 while every row of the block adds the rows of
 * its spiked inputs into registers (a group's four rows: four independent chains of additions). Compiled with
 * -ffp-contract=off: a multiply and an add stay two roundings, as numba and torch compute them.
 *
 * With AVX-512 the 16 neurons of a chunk are one register; without it the same steps run lane by lane.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define LANES 16
#define GROUP 4        /* timesteps of one sample accumulated together: four independent chains of additions */

#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vec;
static inline vec vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vec a) { _mm512_storeu_ps(p, a); }
static inline vec vadd(vec a, vec b) { return _mm512_add_ps(a, b); }
static inline vec vmul(vec a, vec b) { return _mm512_mul_ps(a, b); }
static inline uint32_t vge(vec a, vec b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline vec vsub_where(vec a, uint32_t m, vec b) { return _mm512_mask_sub_ps(a, (__mmask16)m, a, b); }
static inline vec vadd_where(vec a, uint32_t m, vec b) { return _mm512_mask_add_ps(a, (__mmask16)m, a, b); }
static inline vec vset1(float x) { return _mm512_set1_ps(x); }
#else
typedef struct { float x[LANES]; } vec;
static inline vec vload(const float *p) { vec a; memcpy(a.x, p, sizeof a.x); return a; }
static inline void vstore(float *p, vec a) { memcpy(p, a.x, sizeof a.x); }
static inline vec vadd(vec a, vec b) { for (int i = 0; i < LANES; i++) a.x[i] += b.x[i]; return a; }
static inline vec vmul(vec a, vec b) { for (int i = 0; i < LANES; i++) a.x[i] *= b.x[i]; return a; }
static inline uint32_t vge(vec a, vec b) {
    uint32_t m = 0;
    for (int i = 0; i < LANES; i++) m |= (uint32_t)(a.x[i] >= b.x[i]) << i;
    return m;
}
static inline vec vsub_where(vec a, uint32_t m, vec b) {
    for (int i = 0; i < LANES; i++) if (m >> i & 1u) a.x[i] -= b.x[i];
    return a;
}
static inline vec vadd_where(vec a, uint32_t m, vec b) {
    for (int i = 0; i < LANES; i++) if (m >> i & 1u) a.x[i] += b.x[i];
    return a;
}
static inline vec vset1(float x) { vec a; for (int i = 0; i < LANES; i++) a.x[i] = x; return a; }
#endif

static inline int64_t chunks_of(int64_t width) { return (width + LANES - 1) / LANES; }
static inline int64_t groups_of(int64_t timesteps) { return (timesteps + GROUP - 1) / GROUP; }
static inline int64_t align64(int64_t bytes) { return (bytes + 63) & ~(int64_t)63; }

/* Spike lists of one IF layer over a block of samples. A sample's timesteps are ordered by their spike counts and
 * taken GROUP at a time (rows of similar length, so little padding); group g of sample b holds its rows interleaved,
 * idx[start + k*GROUP + u] the k-th spiking input (ascending) of the group's u-th row, as a byte offset into a packed
 * chunk (input × 64), padded to the group's longest row with the layer's width: an input whose weights are zeros.
 * slot[b*T + t] is where timestep t went: g*GROUP + u. */
typedef struct {
    uint32_t *idx;                       /* [block * groups * GROUP * width] at most */
    int64_t *start, *most;               /* [block * groups] */
    int32_t *slot;                       /* [block * T] */
    int64_t *fired;                      /* [block] spikes per sample */
} lists_t;

typedef struct {
    float *v, *v_start, *n_spk, *cur0;   /* [block][P] padded neurons (cur0: [block][pad(w0)]) */
    uint16_t *masks;                     /* [rows][most chunks] one layer's spikes, 16 neurons per mask */
    uint16_t *row;                       /* [T][pad(widest) + 16] one sample's rows while sorting them */
    float *acc;                          /* [4][groups * GROUP][16] four samples' input currents of one chunk */
    int64_t *order;                      /* [2][T] one sample's row lengths and their order, while sorting */
    float *x;                            /* [obs_dim] one clipped observation */
    lists_t lists[2];                    /* the previous and the current layer */
    double *total;                       /* [actions] */
} scratch_t;

/* Bytes of scratch for `block` samples, and the layout when `base` is given. */
static int64_t scratch_layout(int64_t layers, const int64_t *widths, int64_t obs_dim, int64_t timesteps,
                              int64_t block, char *base, scratch_t *s) {
    int64_t padded = 0, widest = 0;
    for (int64_t l = 0; l < layers; l++) {
        padded += chunks_of(widths[l]) * LANES;
        if (widths[l] > widest) widest = widths[l];
    }
    const int64_t rows = block * timesteps, groups = block * groups_of(timesteps), wide = chunks_of(widest) * LANES;
    const int64_t slots = groups_of(timesteps) * GROUP;
    scratch_t sizing;                                   /* only sizes wanted: lay out into a throw-away record */
    if (!s) s = &sizing;
    void **at[] = {(void **)&s->v, (void **)&s->v_start, (void **)&s->n_spk, (void **)&s->cur0, (void **)&s->masks,
                   (void **)&s->row, (void **)&s->acc, (void **)&s->total, (void **)&s->order, (void **)&s->x,
                   (void **)&s->lists[0].idx, (void **)&s->lists[0].start, (void **)&s->lists[0].most,
                   (void **)&s->lists[0].slot, (void **)&s->lists[0].fired,
                   (void **)&s->lists[1].idx, (void **)&s->lists[1].start, (void **)&s->lists[1].most,
                   (void **)&s->lists[1].slot, (void **)&s->lists[1].fired};
    const int64_t sizes[] = {
        block * padded * 4, block * padded * 4, block * padded * 4, block * chunks_of(widths[0]) * LANES * 4,
        rows * chunks_of(widest) * 2, timesteps * (wide + LANES) * 2, 4 * slots * LANES * 4, widths[layers] * 8,
        2 * timesteps * 8, obs_dim * 4,
        groups * GROUP * widest * 4, groups * 8, groups * 8, rows * 4, block * 8,
        groups * GROUP * widest * 4, groups * 8, groups * 8, rows * 4, block * 8};
    int64_t total = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        *at[k] = (void *)((uintptr_t)base + (uintptr_t)total);
        total += align64(sizes[k]);
    }
    return total + 64;                                 /* + room to align the base */
}

/* Bytes of scratch `snnrl_decide_mlp` needs for `block` samples of `obs_dim` observations. */
int64_t snnrl_scratch_bytes(int64_t layers, const int64_t *widths, int64_t obs_dim, int64_t timesteps,
                            int64_t block) {
    return scratch_layout(layers, widths, obs_dim, timesteps, block, 0, 0);
}

/* One layer's masks -> its lists (lists_t), padded with `width`; adds each sample's spikes to counts[b, record, 3]. */
static void masks_to_lists(const uint16_t *masks, int64_t nb, int64_t timesteps, int64_t width, int64_t stride,
                           uint16_t *row, int64_t *sorting, lists_t *out, int64_t *counts, int64_t records,
                           int64_t record, int64_t b0) {
    const int64_t chunks = chunks_of(width), wide = chunks * LANES + LANES, groups = groups_of(timesteps);
    int64_t at = 0;
    int64_t *len = sorting, *order = sorting + timesteps;
    for (int64_t bb = 0; bb < nb; bb++) {
        int64_t fired = 0;
        for (int64_t t = 0; t < timesteps; t++) {      /* each timestep's spiking inputs, ascending */
            const uint16_t *m_t = masks + (bb * timesteps + t) * stride;
            uint16_t *r_t = row + t * wide;
            int64_t n = 0;
#if defined(__AVX512VBMI2__) && defined(__AVX512VL__)
            __m256i lanes = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            const __m256i step = _mm256_set1_epi16(LANES);
            for (int64_t c = 0; c < chunks; c++, lanes = _mm256_add_epi16(lanes, step)) {
                /* a compress into a register (to memory it is slow on some CPUs); the store writes 16 entries,
                 * the row has room for them */
                _mm256_storeu_si256((__m256i *)(r_t + n), _mm256_maskz_compress_epi16(m_t[c], lanes));
                n += __builtin_popcount(m_t[c]);
            }
#else
            for (int64_t c = 0; c < chunks; c++)
                for (uint32_t m = m_t[c]; m; m &= m - 1) r_t[n++] = (uint16_t)(c * LANES + __builtin_ctz(m));
#endif
            len[t] = n;
            fired += n;
            int64_t i = t;                              /* insertion sort by length, ties in time order */
            for (; i > 0 && len[order[i - 1]] > n; i--) order[i] = order[i - 1];
            order[i] = t;
        }
        for (int64_t g = 0; g < groups; g++) {
            int64_t longest = 0;
            const uint16_t *r[GROUP];
            int64_t n[GROUP];
            for (int64_t u = 0; u < GROUP; u++) {
                const int64_t k = g * GROUP + u;
                r[u] = k < timesteps ? row + order[k] * wide : row;
                n[u] = k < timesteps ? len[order[k]] : 0;
                if (k < timesteps) out->slot[bb * timesteps + order[k]] = (int32_t)k;
                longest = n[u] > longest ? n[u] : longest;
            }
            out->start[bb * groups + g] = at;
            out->most[bb * groups + g] = longest;
            uint32_t *o = out->idx + at;
            for (int64_t u = 0; u < GROUP; u++) {
                int64_t k = 0;
                for (; k < n[u]; k++) o[k * GROUP + u] = (uint32_t)r[u][k] * (LANES * 4);
                for (; k < longest; k++) o[k * GROUP + u] = (uint32_t)width * (LANES * 4);
            }
            at += longest * GROUP;
        }
        out->fired[bb] = fired;
        counts[((b0 + bb) * records + record) * 4 + 3] += fired;
    }
}

/* A converted MLP actor, packed by SpikeEngine (spike_engine.py): the arrays it points to outlive every call. */
typedef struct {
    int64_t obs_dim, layers;             /* layers: IF layers L */
    const int64_t *widths;               /* [L + 1]: IF widths, then actions */
    int64_t clip, tanh_squash;
    const float *obs_low, *obs_high;     /* [obs_dim] (read where clip) */
    const float *w_in, *b_in;            /* [obs_dim][chunks(w0) * 16], [chunks(w0) * 16]: zeros past the layer */
    const float *packed;                 /* hidden synapse l = 1..L-1 at packed_off[l]: [chunks(w_l)][w_{l-1} + 1][16],
                                          * the last input of a chunk zeros */
    const int64_t *packed_off;
    const float *bias_pad;               /* IF layer l = 1..L-1 at bias_off[l]: [chunks(w_l) * 16] */
    const int64_t *bias_off;
    const float *w_out, *b_out;          /* [w_{L-1} + 1][actions] (the last input zeros), [actions] */
    const float *theta_pad;              /* IF layer l at pad_off[l]: [chunks(w_l) * 16], +inf past the layer */
    const int64_t *pad_off, *n_off;      /* [L] padded and plain neuron offsets */
    const float *action_low, *action_high;
    const float *start_pad;              /* IF layer l at pad_off[l]: fresh start potentials V0 (θ/2 unless
                                          * staggered) */
} snnrl_mlp;

/* One IF step of 16 neurons: charge, fire, soft reset (V -= θ·s); the spike mask goes to *mask. */
static inline void if_step(vec *v, vec *n, vec th, vec current, uint16_t *mask) {
    *v = vadd(*v, current);
    const uint32_t m = vge(*v, th);
    *v = vsub_where(*v, m, th);
    *n = vadd_where(*n, m, vset1(1.0f));
    *mask = (uint16_t)m;
}

/* The first layer's current of Q chunks from chunk c for one (clipped) observation x: b + Σ_k W[k]·x_k, inputs in
 * order, a multiply and an add per term (as numba computes it). */
static inline __attribute__((always_inline)) void first_chunks(const float *w_in, const float *b_in, const float *x,
                                                               int64_t obs_dim, int64_t chunks, int64_t c, int64_t Q,
                                                               float *cur) {
    vec a[4];
    for (int64_t q = 0; q < Q; q++) a[q] = vload(b_in + (c + q) * LANES);
    for (int64_t k = 0; k < obs_dim; k++) {
        const vec xk = vset1(x[k]);
        const float *w_row = w_in + (k * chunks + c) * LANES;
        for (int64_t q = 0; q < Q; q++) a[q] = vadd(a[q], vmul(vload(w_row + q * LANES), xk));
    }
    for (int64_t q = 0; q < Q; q++) vstore(cur + (c + q) * LANES, a[q]);
}

/* IF layer 0 for one sample: Q chunks from chunk c in lockstep (Q independent chains), a constant input current. */
static inline __attribute__((always_inline)) void first_if(float *v_b, float *n_b, const float *theta,
                                                           const float *cur, int64_t c, int64_t Q, int64_t timesteps,
                                                           uint16_t *masks, int64_t stride) {
    vec v[4], n[4], th[4], i[4];
    for (int64_t q = 0; q < Q; q++) {
        v[q] = vload(v_b + (c + q) * LANES);
        n[q] = vload(n_b + (c + q) * LANES);
        th[q] = vload(theta + (c + q) * LANES);
        i[q] = vload(cur + (c + q) * LANES);
    }
    for (int64_t t = 0; t < timesteps; t++)
        for (int64_t q = 0; q < Q; q++) if_step(&v[q], &n[q], th[q], i[q], masks + t * stride + c + q);
    for (int64_t q = 0; q < Q; q++) {
        vstore(v_b + (c + q) * LANES, v[q]);
        vstore(n_b + (c + q) * LANES, n[q]);
    }
}

/* A hidden IF layer's chunk c for Q samples from bb: each sample's input currents (the spiked inputs' rows, GROUP
 * timesteps at a time), then the Q samples' IF steps in time order, in lockstep (Q independent chains). */
static inline __attribute__((always_inline)) void hidden_chunk(
    const lists_t *in, const float *wc, vec bias, vec th, float *v_c, float *n_c, int64_t padded, int64_t bb,
    int64_t Q, int64_t timesteps, float *acc, uint16_t *masks, int64_t stride) {
    const int64_t groups = groups_of(timesteps), slots = groups * GROUP;
    for (int64_t q = 0; q < Q; q++)
        for (int64_t g = 0; g < groups; g++) {
            const uint32_t *e = in->idx + in->start[(bb + q) * groups + g];
            const int64_t most = in->most[(bb + q) * groups + g];
            vec a[GROUP];
            for (int64_t u = 0; u < GROUP; u++) a[u] = bias;
            for (int64_t k = 0; k < most; k++, e += GROUP)           /* GROUP chains, each in input order */
                for (int64_t u = 0; u < GROUP; u++) a[u] = vadd(a[u], vload((const float *)((const char *)wc + e[u])));
            for (int64_t u = 0; u < GROUP; u++) vstore(acc + ((q * slots) + g * GROUP + u) * LANES, a[u]);
        }
    vec v[4], n[4];
    for (int64_t q = 0; q < Q; q++) {
        v[q] = vload(v_c + (bb + q) * padded);
        n[q] = vload(n_c + (bb + q) * padded);
    }
    for (int64_t t = 0; t < timesteps; t++)                             /* IF, in time order */
        for (int64_t q = 0; q < Q; q++) {
            const int32_t slot = in->slot[(bb + q) * timesteps + t];
            if_step(&v[q], &n[q], th, vload(acc + (q * slots + slot) * LANES),
                    masks + ((bb + q) * timesteps + t) * stride);
        }
    for (int64_t q = 0; q < Q; q++) {
        vstore(v_c + (bb + q) * padded, v[q]);
        vstore(n_c + (bb + q) * padded, n[q]);
    }
}

int snnrl_decide_mlp(
    const snnrl_mlp *net, int64_t batch, int64_t timesteps, const float *obs, const float *carry_in,
    const uint8_t *reset, int32_t crpi, float alpha, int32_t use_floor, float floor_spikes,
    float *pre, float *action, float *v_end, float *spikes, float *carry_out, int64_t *counts,
    void *scratch, int64_t scratch_bytes, int64_t block) {
    const int64_t obs_dim = net->obs_dim, layers = net->layers, *widths = net->widths, *pad_off = net->pad_off;
    const int64_t actions = widths[layers], records = 2 * layers + 1, groups = groups_of(timesteps);
    const int64_t n_total = net->n_off[layers - 1] + widths[layers - 1];
    const int64_t padded = pad_off[layers - 1] + chunks_of(widths[layers - 1]) * LANES;
    int64_t stride = 0;                               /* mask stride: the most chunks of a layer */
    for (int64_t l = 0; l < layers; l++) stride = chunks_of(widths[l]) > stride ? chunks_of(widths[l]) : stride;
    if (block < 1 || scratch_bytes < snnrl_scratch_bytes(layers, widths, obs_dim, timesteps, block)) return -1;
    scratch_t s;
    scratch_layout(layers, widths, obs_dim, timesteps, block, (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63),
                   &s);
    const float half = 0.5f;

    for (int64_t b0 = 0; b0 < batch; b0 += block) {
        const int64_t nb = batch - b0 < block ? batch - b0 : block;
        const int64_t w0 = widths[0], c0n = chunks_of(w0);
        memset(counts + b0 * records * 4, 0, nb * records * 4 * sizeof(int64_t));
        /* the first layer (dense, once; inputs in order, as numba adds them), start potentials V0 + c */
        for (int64_t bb = 0; bb < nb; bb++) {
            const int64_t b = b0 + bb;
            float *x = s.x;
            for (int64_t k = 0; k < obs_dim; k++) {
                const float xk = obs[b * obs_dim + k];
                x[k] = net->clip ? fminf(fmaxf(xk, net->obs_low[k]), net->obs_high[k]) : xk;
            }
            int64_t c = 0;                                /* four chunks in registers; w_in padded to chunks */
            float *cur = s.cur0 + bb * c0n * LANES;
            for (; c + 4 <= c0n; c += 4) first_chunks(net->w_in, net->b_in, x, obs_dim, c0n, c, 4, cur);
            for (; c < c0n; c++) first_chunks(net->w_in, net->b_in, x, obs_dim, c0n, c, 1, cur);
            counts[(b * records + 0) * 4 + 0] = w0 * obs_dim;
            float *vs = (crpi ? s.v_start : s.v) + bb * padded;   /* the start is kept for the CRPI carry only */
            const float *c_in = carry_in + b * n_total;
            memset(vs, 0, padded * sizeof(float));
            for (int64_t l = 0; l < layers; l++) {
                const float *v0 = net->start_pad + pad_off[l];
                const int64_t w = widths[l], o = net->n_off[l];
                float *vs_l = vs + pad_off[l];
                if (reset[b])
                    for (int64_t i = 0; i < w; i++) vs_l[i] = v0[i];
                else
                    for (int64_t i = 0; i < w; i++) vs_l[i] = v0[i] + c_in[o + i];
            }
            if (crpi) memcpy(s.v + bb * padded, vs, padded * sizeof(float));
            memset(s.n_spk + bb * padded, 0, padded * sizeof(float));
        }
        /* IF layer 0: a constant input current */
        for (int64_t bb = 0; bb < nb; bb++) {
            float *v_b = s.v + bb * padded, *n_b = s.n_spk + bb * padded;
            const float *cur = s.cur0 + bb * c0n * LANES;
            uint16_t *m_b = s.masks + bb * timesteps * stride;
            int64_t c = 0;
            for (; c + 4 <= c0n; c += 4) first_if(v_b, n_b, net->theta_pad, cur, c, 4, timesteps, m_b, stride);
            for (; c < c0n; c++) first_if(v_b, n_b, net->theta_pad, cur, c, 1, timesteps, m_b, stride);
            counts[((b0 + bb) * records + 1) * 4 + 2] += w0 * timesteps;
        }
        int prev = 0;
        masks_to_lists(s.masks, nb, timesteps, w0, stride, s.row, s.order, &s.lists[prev], counts, records, 1, b0);
        /* hidden IF layers: the spiked inputs' packed weight rows, chunk by chunk */
        for (int64_t l = 1; l < layers; l++) {
            const int64_t w_prev = widths[l - 1], w = widths[l];
            const lists_t *in = &s.lists[prev];
            for (int64_t c = 0; c < chunks_of(w); c++) {
                const float *wc = net->packed + net->packed_off[l] + c * (w_prev + 1) * LANES;
                const vec bias = vload(net->bias_pad + net->bias_off[l] + c * LANES);
                const vec th = vload(net->theta_pad + pad_off[l] + c * LANES);
                float *v_c = s.v + pad_off[l] + c * LANES, *n_c = s.n_spk + pad_off[l] + c * LANES;
                uint16_t *m_c = s.masks + c;
                int64_t bb = 0;
                for (; bb + 4 <= nb; bb += 4)
                    hidden_chunk(in, wc, bias, th, v_c, n_c, padded, bb, 4, timesteps, s.acc, m_c, stride);
                for (; bb < nb; bb++)
                    hidden_chunk(in, wc, bias, th, v_c, n_c, padded, bb, 1, timesteps, s.acc, m_c, stride);
            }
            for (int64_t bb = 0; bb < nb; bb++) {
                const int64_t b = b0 + bb;
                counts[(b * records + 2 * l) * 4 + 1] += in->fired[bb] * w;
                counts[(b * records + 2 * l + 1) * 4 + 2] += w * timesteps;
            }
            prev ^= 1;
            masks_to_lists(s.masks, nb, timesteps, w, stride, s.row, s.order, &s.lists[prev], counts, records,
                           2 * l + 1, b0);
        }
        /* the accumulating output layer (float64, timestep after timestep), the squashing, the CRPI carry */
        const lists_t *in = &s.lists[prev];
        for (int64_t bb = 0; bb < nb; bb++) {
            const int64_t b = b0 + bb;
            double *total = s.total;
            for (int64_t o = 0; o < actions; o++) total[o] = 0.0;
            for (int64_t t = 0; t < timesteps; t++) {
                const int64_t k_t = in->slot[bb * timesteps + t], g = k_t / GROUP, u = k_t % GROUP;
                const uint32_t *e = in->idx + in->start[bb * groups + g];
                const int64_t most = in->most[bb * groups + g];
                for (int64_t o = 0; o < actions; o++) {        /* padding adds the zero input: x + 0 = x */
                    double x = total[o] + (double)net->b_out[o];
                    for (int64_t k = 0; k < most; k++)
                        x += (double)net->w_out[(int64_t)(e[k * GROUP + u] / (LANES * 4)) * actions + o];
                    total[o] = x;
                }
            }
            counts[(b * records + 2 * layers) * 4 + 1] += in->fired[bb] * actions;
            for (int64_t o = 0; o < actions; o++) {
                const float p = (float)(total[o] / (double)timesteps);
                const float low = net->action_low[o], high = net->action_high[o];
                pre[b * actions + o] = p;
                action[b * actions + o] = net->tanh_squash ? low + half * (tanhf(p) + 1.0f) * (high - low)
                                                           : fmaxf(fminf(p, high), low);
            }
            const float *v = s.v + bb * padded, *vs = s.v_start + bb * padded, *n = s.n_spk + bb * padded;
            for (int64_t l = 0; l < layers; l++) {
                const int64_t w = widths[l], o = b * n_total + net->n_off[l], p = pad_off[l];
                if (v_end) memcpy(v_end + o, v + p, w * sizeof(float));    /* NULL: not wanted */
                if (spikes) memcpy(spikes + o, n + p, w * sizeof(float));
                if (!crpi) {                                   /* no carry: zeros (NULL: the caller has them) */
                    if (carry_out) memset(carry_out + o, 0, w * sizeof(float));
                    continue;
                }
                float *c = carry_out + o;
                const float *th = net->theta_pad + p, *v_l = v + p, *vs_l = vs + p, *n_l = n + p;
                for (int64_t i = 0; i < w; i++) {           /* c = clip(α·max(V − V₀, −n·θ), ±θ/2) */
                    const float h = half * th[i], n_floor = use_floor ? floor_spikes : n_l[i];
                    const float d = v_l[i] - vs_l[i], lowest = -n_floor * th[i];
                    const float floored = alpha * (lowest > d ? lowest : d);
                    const float low_clipped = floored < -h ? -h : floored;
                    c[i] = low_clipped > h ? h : low_clipped;
                }
            }
        }
    }
    return 0;
}
