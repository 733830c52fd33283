/* The loop of lstm_viz.trace in C: one layer and direction, step after step.

   Each step is the recurrent product z += h_prev @ W_hh^T (MKL's packed GEMM, called through
   the pointers torch's own library exports), then the element-wise work, fused: for each
   sequence b and unit j,

       i, f, o = sigmoid(z), g = tanh(z)     (the gates, written back over z)
       c = i * g + f * c_prev,  h = o * tanh(c)     (then h @ W_hr^T where there is a projection)

   z holds the input projection plus bias of one step (B rows of i, f, g, o blocks of H units
   each). One pass over memory instead of eight torch calls, and no Python between the steps.
   sigmoid is 1 / (1 + exp(-x)) as torch writes it; exp and tanh are glibc's vector functions
   (libmvec, a few ulp from correctly rounded), so the loop vectorizes without -ffast-math:
   NaN and infinities go through as torch's do.

   Built and checked on first use by lstm_viz/tracing/_native.py. Threads come from the OpenMP runtime
   torch already loaded, so the steps share torch's (and MKL's) thread pool. */

#include <stddef.h>
#include <stdint.h>

__attribute__((simd("notinbranch"))) float expf(float);
__attribute__((simd("notinbranch"))) float tanhf(float);

#define CHUNK 256  /* units per task: a multiple of every vector width */

/* The element-wise work of one step; r (the recurrent product) is added to z unless NULL. */
void lstm_viz_step(int64_t B, int64_t H, int64_t threads, int64_t min_parallel,
                   float *z, int64_t z_rs, const float *r, int64_t r_rs,
                   const float *c_prev, int64_t cp_rs, float *c, int64_t c_rs,
                   float *h, int64_t h_rs)
{
    const int64_t per_row = (H + CHUNK - 1) / CHUNK, tasks = B * per_row;
    #pragma omp parallel for schedule(static) num_threads(threads) \
        if (threads > 1 && B * H >= min_parallel)
    for (int64_t k = 0; k < tasks; k++) {
        const int64_t b = k / per_row, j0 = (k % per_row) * CHUNK;
        const int64_t j1 = j0 + CHUNK < H ? j0 + CHUNK : H;
        float *zi = z + b * z_rs, *zf = zi + H, *zg = zi + 2 * H, *zo = zi + 3 * H;
        const float *cp = c_prev + b * cp_rs;
        float *cb = c + b * c_rs, *hb = h + b * h_rs;
        if (r) {
            const float *ri = r + b * r_rs;
            #pragma omp simd
            for (int64_t j = j0; j < j1; j++) {
                zi[j] += ri[j];
                zf[j] += ri[H + j];
                zg[j] += ri[2 * H + j];
                zo[j] += ri[3 * H + j];
            }
        }
        #pragma omp simd
        for (int64_t j = j0; j < j1; j++) {
            const float i = 1.0f / (1.0f + expf(-zi[j]));
            const float f = 1.0f / (1.0f + expf(-zf[j]));
            const float g = tanhf(zg[j]);
            const float o = 1.0f / (1.0f + expf(-zo[j]));
            zi[j] = i;
            zf[j] = f;
            zg[j] = g;
            zo[j] = o;
            const float cn = i * g + f * cp[j];
            cb[j] = cn;
            hb[j] = o * tanhf(cn);
        }
    }
}

/* MKL's CBLAS, as torch's library exports it (LP64: 32-bit ints; the enums' MKL values). */
typedef void (*sgemm_compute_t)(int layout, int transa, int transb, int m, int n, int k,
                                const float *a, int lda, const float *b, int ldb, float beta,
                                float *c, int ldc);
enum { ROW_MAJOR = 101, NO_TRANS = 111, PACKED = 151 };

/* Steps t = 0 .. steps-1 of one layer and direction. Pointers are at the first step read; the
   *_ts strides (elements) go from one step read to the next, negative when reading backwards.
   whh: W_hh^T packed by cblas_sgemm_pack (rows B, K = h_prev's width); whr: W_hr^T packed the
   same way, or NULL without a projection, when m (o * tanh(c), B rows of H) is h itself. */
void lstm_viz_loop(int64_t steps, int64_t B, int64_t H, int64_t K, int64_t threads,
                   int64_t min_parallel, void *compute_fn, const float *whh, const float *whr,
                   float *z, int64_t z_ts, int64_t z_rs,
                   const float *h_prev, int64_t hp_rs, const float *c_prev, int64_t cp_rs,
                   float *c, int64_t c_ts, int64_t c_rs, float *h, int64_t h_ts, int64_t h_rs,
                   float *m, int64_t m_rs)
{
    const sgemm_compute_t compute = (sgemm_compute_t)compute_fn;
    for (int64_t t = 0; t < steps; t++) {
        float *zt = z + t * z_ts, *ct = c + t * c_ts, *ht = h + t * h_ts;
        compute(ROW_MAJOR, NO_TRANS, PACKED, (int)B, (int)(4 * H), (int)K, h_prev, (int)hp_rs,
                whh, (int)K, 1.0f, zt, (int)z_rs);
        if (whr) {
            lstm_viz_step(B, H, threads, min_parallel, zt, z_rs, NULL, 0, c_prev, cp_rs, ct,
                          c_rs, m, m_rs);
            compute(ROW_MAJOR, NO_TRANS, PACKED, (int)B, (int)K, (int)H, m, (int)m_rs, whr,
                    (int)H, 0.0f, ht, (int)h_rs);
        } else {
            lstm_viz_step(B, H, threads, min_parallel, zt, z_rs, NULL, 0, c_prev, cp_rs, ct,
                          c_rs, ht, h_rs);
        }
        h_prev = ht;
        hp_rs = h_rs;
        c_prev = ct;
        cp_rs = c_rs;
    }
}

/* The cell state of the layered method, where h came from torch's fused kernel and the gates
   were recomputed for all steps at once: c_t = i_t * g_t + f_t * c_{t-1}, a plain recurrence
   over steps 0 .. steps-1, rounded as torch's mul and addcmul round it. z points at the first
   step read's activated gates (B rows of i, f, g, o blocks of H units); the *_ts strides go
   from one step read to the next (negative when reading backwards). Each cell's recurrence is
   independent of the others, so the threads split the cells and each walks all the steps. */
#define LSTM_VIZ_SCAN(NAME, REAL)                                                            \
void NAME(int64_t steps, int64_t B, int64_t H, int64_t threads, int64_t min_parallel,       \
          const REAL *z, int64_t z_ts, int64_t z_rs, const REAL *c0, int64_t c0_rs,         \
          REAL *c, int64_t c_ts, int64_t c_rs)                                              \
{                                                                                           \
    const int64_t per_row = (H + CHUNK - 1) / CHUNK, tasks = B * per_row;                   \
    _Pragma("omp parallel for schedule(static) num_threads(threads) if (threads > 1 && B * H >= min_parallel)") \
    for (int64_t k = 0; k < tasks; k++) {                                                   \
        const int64_t b = k / per_row, j0 = (k % per_row) * CHUNK;                          \
        const int64_t j1 = j0 + CHUNK < H ? j0 + CHUNK : H;                                 \
        const REAL *cp = c0 + b * c0_rs;                                                    \
        for (int64_t t = 0; t < steps; t++) {                                               \
            const REAL *zi = z + t * z_ts + b * z_rs, *zf = zi + H, *zg = zi + 2 * H;       \
            REAL *ct = c + t * c_ts + b * c_rs;                                             \
            _Pragma("omp simd")                                                             \
            for (int64_t j = j0; j < j1; j++) {                                             \
                const REAL ig = zi[j] * zg[j];                                              \
                ct[j] = ig + zf[j] * cp[j];                                                 \
            }                                                                               \
            cp = ct;                                                                        \
        }                                                                                   \
    }                                                                                       \
}

LSTM_VIZ_SCAN(lstm_viz_scan_f32, float)
LSTM_VIZ_SCAN(lstm_viz_scan_f64, double)

/* lstm_viz_scan_f32 with the gates' activations fused in: z holds the pre-activations and gets
   the activated gates back (as lstm_viz_step computes them), one pass over memory instead of
   torch's three activation calls and the scan. */
void lstm_viz_act_scan_f32(int64_t steps, int64_t B, int64_t H, int64_t threads,
                           int64_t min_parallel, float *z, int64_t z_ts, int64_t z_rs,
                           const float *c0, int64_t c0_rs, float *c, int64_t c_ts, int64_t c_rs)
{
    const int64_t per_row = (H + CHUNK - 1) / CHUNK, tasks = B * per_row;
    #pragma omp parallel for schedule(static) num_threads(threads) \
        if (threads > 1 && B * H >= min_parallel)
    for (int64_t k = 0; k < tasks; k++) {
        const int64_t b = k / per_row, j0 = (k % per_row) * CHUNK;
        const int64_t j1 = j0 + CHUNK < H ? j0 + CHUNK : H;
        const float *cp = c0 + b * c0_rs;
        for (int64_t t = 0; t < steps; t++) {
            float *zi = z + t * z_ts + b * z_rs, *zf = zi + H, *zg = zi + 2 * H, *zo = zi + 3 * H;
            float *ct = c + t * c_ts + b * c_rs;
            #pragma omp simd
            for (int64_t j = j0; j < j1; j++) {
                const float i = 1.0f / (1.0f + expf(-zi[j]));
                const float f = 1.0f / (1.0f + expf(-zf[j]));
                const float g = tanhf(zg[j]);
                zi[j] = i;
                zf[j] = f;
                zg[j] = g;
                zo[j] = 1.0f / (1.0f + expf(-zo[j]));
                const float ig = i * g;
                ct[j] = ig + f * cp[j];
            }
            cp = ct;
        }
    }
}
