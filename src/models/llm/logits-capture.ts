// The next-token distribution without node-llama-cpp's full-vocabulary Map (Node edge, Linux). Asking
// node-llama-cpp for `probabilities` costs ~60 ms per position on a 128,256-token vocabulary (measured: a
// std::sort of the vocabulary ~15 ms, building a 256,512-element JS array ~45 ms, then a Map), against
// ~1.5 ms for evaluating the token; node-llama-cpp 3.21.1 has no call that returns logits or a full-vocabulary
// normaliser without that sort (its top-k sampler returns probabilities renormalised over the k kept).
// So a tiny N-API module (C source below, compiled with the system C compiler on first use and cached)
// defines llama_get_logits_ith, loaded with RTLD_GLOBAL before node-llama-cpp's addon so that the addon
// binds to it; it forwards to libllama's and, when armed, writes e_i = expf(l_i - max) for every entry and
// the float32 sum of the e_i in descending order into typed arrays: exactly the arithmetic of
// node-llama-cpp's own softmax, so fround(e_i / sum) equals, bit for bit, the probability it would return
// (the tests compare). All of it O(V) and vectorised, no sort of the vocabulary: expf is glibc's own
// algorithm in a loop the compiler vectorises (checked against libm's expf at load), and only the entries
// that can change the float32 sum (e >= 2^-24; a few hundred of 128,256 for a trained or random model's
// peaked distribution) are sorted; the top-k's candidate ids come back with it, so JS reads about k entries,
// not the vocabulary. Where the module cannot be built or bound (no compiler or Node headers, macOS's
// two-level namespace, Windows), `captureUnavailableReason()` is non-empty and callers use the Map.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { cacheRoot } from '../hub.js';

// String.raw: the C source's macros continue lines with a backslash.
const SOURCE = String.raw`// v2l's logits capture for node-llama-cpp (see logits-capture.ts for why and how it is used).
// Defines llama_get_logits_ith; loaded with RTLD_GLOBAL before node-llama-cpp's addon, it is the
// definition that addon binds to. It forwards to libllama's and, when armed, writes e = expf(l - max) of
// every vocabulary entry to the armed Float32Array and [1, n, max, sum, kth, candidates] to the armed
// Float64Array, with sum accumulated in float32 in descending order: exactly node-llama-cpp's own softmax
// (AddonContext.cpp SampleToken), so p = fround(e / sum) is bit for bit the probability it would return;
// kth is the k-th largest e and the armed Int32Array gets the ids whose e is within 2^-20 of it or above
// (the top-k's candidates, ascending), so that JS never walks the vocabulary.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>

typedef const float *(*logits_ith_fn)(void *ctx, int32_t i);
typedef const void *(*get_model_fn)(const void *ctx);
typedef const void *(*model_vocab_fn)(const void *model);
typedef int32_t (*vocab_n_tokens_fn)(const void *vocab);

static logits_ith_fn real_logits_ith;
static get_model_fn get_model;
static model_vocab_fn model_vocab;
static vocab_n_tokens_fn vocab_n_tokens;
static void *llama_handle;

static float *armed_e;
static size_t armed_cap;
static double *armed_stats;
static size_t armed_k;
static int32_t *armed_cand;
static size_t armed_cand_cap;
static volatile int armed;
static int calls;


static int find_llama(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  const char *name = info->dlpi_name;
  const char *base = name ? strrchr(name, '/') : NULL;
  base = base ? base + 1 : name;
  if (base && strncmp(base, "libllama", 8) == 0 && strncmp(base, "libllama-", 9) != 0) {
    *(const char **)data = name;
    return 1;
  }
  return 0;
}

static int resolve(void) {
  if (real_logits_ith) return 1;
  const char *name = NULL;
  dl_iterate_phdr(find_llama, &name);
  if (!name) return 0;
  llama_handle = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
  if (!llama_handle) return 0;
  get_model = (get_model_fn)dlsym(llama_handle, "llama_get_model");
  model_vocab = (model_vocab_fn)dlsym(llama_handle, "llama_model_get_vocab");
  vocab_n_tokens = (vocab_n_tokens_fn)dlsym(llama_handle, "llama_vocab_n_tokens");
  logits_ith_fn f = (logits_ith_fn)dlsym(llama_handle, "llama_get_logits_ith");
  if (!get_model || !model_vocab || !vocab_n_tokens || !f) return 0;
  real_logits_ith = f;
  return 1;
}

// expf over the vocabulary, vectorised: glibc's expf algorithm (sysdeps/ieee754/flt-32/e_expf.c: 2^(k/32)
// from a table times a cubic in double, rounded to float) written as a loop the compiler vectorises, in two
// forms: glibc's FMA build (x86-64 with FMA: its multiply-adds fused) and its plain build. Which one equals
// the libm in use is checked at load (expf_check: a sample of [-88, 0] and the one input there where the
// two differ; both were compared with glibc 2.36's expf on every float in [-88, 0]); where neither does,
// libm's expf is called. Inputs below -88 (and NaN) take libm's special cases: those entries are redone
// by expf itself.
static const uint64_t EXP2_TAB[32] = {
  0x3ff0000000000000ULL, 0x3fefd9b0d3158574ULL, 0x3fefb5586cf9890fULL, 0x3fef9301d0125b51ULL,
  0x3fef72b83c7d517bULL, 0x3fef54873168b9aaULL, 0x3fef387a6e756238ULL, 0x3fef1e9df51fdee1ULL,
  0x3fef06fe0a31b715ULL, 0x3feef1a7373aa9cbULL, 0x3feedea64c123422ULL, 0x3feece086061892dULL,
  0x3feebfdad5362a27ULL, 0x3feeb42b569d4f82ULL, 0x3feeab07dd485429ULL, 0x3feea47eb03a5585ULL,
  0x3feea09e667f3bcdULL, 0x3fee9f75e8ec5f74ULL, 0x3feea11473eb0187ULL, 0x3feea589994cce13ULL,
  0x3feeace5422aa0dbULL, 0x3feeb737b0cdc5e5ULL, 0x3feec49182a3f090ULL, 0x3feed503b23e255dULL,
  0x3feee89f995ad3adULL, 0x3feeff76f2fb5e47ULL, 0x3fef199bdd85529cULL, 0x3fef3720dcef9069ULL,
  0x3fef5818dcfba487ULL, 0x3fef7c97337b9b5fULL, 0x3fefa4afa2a490daULL, 0x3fefd0765b6e4540ULL,
};
#define INV_LN2_N 0x1.71547652b82fep+5
#define SHIFT 0x1.8p+52
#define POLY0 (0x1.c6af84b912394p-5 / 32 / 32 / 32)
#define POLY1 (0x1.ebfce50fac4f3p-3 / 32 / 32)
#define POLY2 (0x1.62e42ff0c52d6p-1 / 32)
// fused: glibc's FMA build; the multiply-adds of the plain build are rounded twice.
static inline __attribute__((always_inline)) void exp_loop(const float *l, float max, float *e, size_t n, const int fused) {
  for (size_t i = 0; i < n; i++) {
    double xd = (double)(l[i] - max), kd, r, y, s;
    kd = fused ? fma(INV_LN2_N, xd, SHIFT) : INV_LN2_N * xd + SHIFT;
    uint64_t ki, t;
    memcpy(&ki, &kd, sizeof ki);
    kd -= SHIFT;
    r = fused ? fma(INV_LN2_N, xd, -kd) : INV_LN2_N * xd - kd;
    t = EXP2_TAB[ki % 32] + (ki << 47);
    memcpy(&s, &t, sizeof s);
    if (fused) y = fma(fma(POLY0, r, POLY1), r * r, fma(POLY2, r, 1.0));
    else y = (POLY0 * r + POLY1) * (r * r) + (POLY2 * r + 1.0);
    e[i] = (float)(y * s);
  }
}

// Each loop below is compiled for three x86-64 levels (AVX-512, AVX2 + FMA, baseline) and the best the
// CPU has is picked at load (pick_level); elsewhere the baseline only.
#if defined(__x86_64__) && defined(__GNUC__)
#define LEVELS(X) X(v4, __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))) X(v3, __attribute__((target("avx2,fma")))) X(v1, )
#else
#define LEVELS(X) X(v1, )
#endif

static void exp_libm(const float *l, float max, float *e, size_t n) {
  for (size_t i = 0; i < n; i++) e[i] = expf(l[i] - max);
}

// The largest and smallest logit: 16 independent lanes, so that the loop vectorises (a strict > keeps a
// lane's first maximum; max is the same value whichever lane holds it).
static inline __attribute__((always_inline)) void max_min_loop(const float *l, size_t n, float *pmax, float *pmin) {
  float mx[16], mn[16];
  for (int j = 0; j < 16; j++) mx[j] = mn[j] = l[0];
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) {
      float v = l[i + j];
      mx[j] = v > mx[j] ? v : mx[j];
      mn[j] = v < mn[j] ? v : mn[j];
    }
  for (; i < n; i++) {
    mx[0] = l[i] > mx[0] ? l[i] : mx[0];
    mn[0] = l[i] < mn[0] ? l[i] : mn[0];
  }
  for (int j = 1; j < 16; j++) {
    if (mx[j] > mx[0]) mx[0] = mx[j];
    if (mn[j] < mn[0]) mn[0] = mn[j];
  }
  *pmax = mx[0];
  *pmin = mn[0];
}

// The entries with e >= the float whose bits are "least" into keys/ids, in id order: blocks of 16 with
// none are skipped by one vectorised test (most of a peaked distribution), the others copied branch-free
// (every entry written, the count advancing for those kept).
static uint32_t *keys, *ids, *sorted, *scratch;
static inline __attribute__((always_inline)) size_t keep_loop(const float *e, size_t n, uint32_t least) {
  const uint32_t *bits = (const uint32_t *)(const void *)e;
  size_t m = 0;
  for (size_t i = 0; i < n; i += 16) {
    size_t end = i + 16 < n ? i + 16 : n;
    if (end - i == 16) {
      int any = 0;
      for (int j = 0; j < 16; j++) any |= bits[i + j] >= least;
      if (!any) continue;
    }
    for (size_t j = i; j < end; j++) {
      keys[m] = bits[j];
      ids[m] = (uint32_t)j;
      m += bits[j] >= least;
    }
  }
  return m;
}

#define DEFINE_LEVEL(name, attr)                                                                             \
  attr static void exp_fused_##name(const float *l, float max, float *e, size_t n) { exp_loop(l, max, e, n, 1); } \
  attr static void exp_plain_##name(const float *l, float max, float *e, size_t n) { exp_loop(l, max, e, n, 0); } \
  attr static void max_min_##name(const float *l, size_t n, float *a, float *b) { max_min_loop(l, n, a, b); }    \
  attr static size_t keep_##name(const float *e, size_t n, uint32_t least) { return keep_loop(e, n, least); }
LEVELS(DEFINE_LEVEL)

typedef void (*exp_fn)(const float *, float, float *, size_t);
static exp_fn exp_fused = exp_fused_v1, exp_plain = exp_plain_v1, exp_shifted = exp_libm;
static void (*max_min)(const float *, size_t, float *, float *) = max_min_v1;
static size_t (*keep_entries)(const float *, size_t, uint32_t) = keep_v1;
static const char *exp_name = "libm", *level_name = "baseline";

static void pick_level(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("fma")) {
    exp_fused = exp_fused_v4, exp_plain = exp_plain_v4, max_min = max_min_v4, keep_entries = keep_v4;
    level_name = "avx512";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    exp_fused = exp_fused_v3, exp_plain = exp_plain_v3, max_min = max_min_v3, keep_entries = keep_v3;
    level_name = "avx2";
  }
#endif
}

static int exp_matches(exp_fn f, const float *x, float *a, float *b, size_t n) {
  f(x, 0.0f, a, n);
  exp_libm(x, 0.0f, b, n);
  return memcmp(a, b, n * sizeof *a) == 0;
}

static void expf_check(void) {
  enum { N = 1 << 16 };
  float *x = malloc(3 * N * sizeof(float));
  exp_shifted = exp_libm;
  if (!x) return;
  uint32_t lo = 0x80000000u, hi;
  float f = -88.0f;
  memcpy(&hi, &f, sizeof hi);
  for (size_t i = 0; i < N; i++) {
    uint32_t b = lo + (uint32_t)(((uint64_t)(hi - lo) * i) / (N - 1));
    memcpy(&x[i], &b, sizeof b);
  }
  x[1] = -0x1.f8cbb2p+5f; // the fused and plain forms differ here only
  if (exp_matches(exp_fused, x, x + N, x + 2 * N, N)) exp_shifted = exp_fused, exp_name = "fma";
  else if (exp_matches(exp_plain, x, x + N, x + 2 * N, N)) exp_shifted = exp_plain, exp_name = "plain";
  free(x);
}

// Ascending sort of float bit patterns below 2^30 (non-negative floats <= 1 order as their bits): LSD
// radix over three 10-bit digits, insertion sort for a few.
static uint32_t *sort_bits(uint32_t *src, uint32_t *dst, size_t m) {
  if (m <= 64) {
    for (size_t i = 1; i < m; i++) {
      uint32_t v = src[i];
      size_t j = i;
      for (; j > 0 && src[j - 1] > v; j--) src[j] = src[j - 1];
      src[j] = v;
    }
    return src;
  }
  static size_t count[3][1025];
  memset(count, 0, sizeof count);
  for (size_t i = 0; i < m; i++) {
    uint32_t b = src[i];
    count[0][(b & 1023) + 1]++;
    count[1][((b >> 10) & 1023) + 1]++;
    count[2][((b >> 20) & 1023) + 1]++;
  }
  for (int d = 0; d < 3; d++) {
    size_t *c = count[d];
    int shift = 10 * d;
    for (int k = 0; k < 1024; k++) c[k + 1] += c[k];
    for (size_t i = 0; i < m; i++) dst[c[(src[i] >> shift) & 1023]++] = src[i];
    uint32_t *t = src;
    src = dst;
    dst = t;
  }
  return src;
}

// Which entries are sorted. The largest e is expf(0) = 1, first in the descending sum, and the sum only
// grows: adding any e below 2^-24 (half the spacing of floats in [1, 2)) rounds back to the sum. So the
// sum over any set of entries that holds every e >= 2^-24, sorted, is the sum over all of them: a few
// hundred of LLaMA-3's 128,256 for a peaked distribution (every one for a flat one). The top-k's k-th
// largest must be among them too: where fewer than k entries reach 2^-24, the next lower bound of the
// ladder is tried (bits of 2^-24, 2^-48, 2^-72, 2^-96, 2^-120, then every entry).
static const uint32_t LADDER[] = {0x33800000u, 0x27800000u, 0x1b800000u, 0x0f800000u, 0x03800000u, 0};

static size_t keys_cap;
static int grow(size_t n) {
  if (n <= keys_cap) return 1;
  free(keys);
  free(ids);
  free(sorted);
  free(scratch);
  keys = malloc(n * sizeof(uint32_t));
  ids = malloc(n * sizeof(uint32_t));
  sorted = malloc(n * sizeof(uint32_t));
  scratch = malloc(n * sizeof(uint32_t));
  keys_cap = keys && ids && sorted && scratch ? n : 0;
  return keys_cap != 0;
}

// One position's n logits into the armed buffers (capture() below, and check() for the tests).
static void capture_logits(const float *logits, size_t n) {
  double *stats = armed_stats;
  if (n == 0 || n > armed_cap) {
    stats[0] = -1;
    stats[1] = (double)n;
    return;
  }
  if (!grow(n)) {
    stats[0] = -2;
    return;
  }
  float max, min, *e = armed_e;
  max_min(logits, n, &max, &min);
  exp_shifted(logits, max, e, n);
  if (!(min - max >= -88.0f))
    for (size_t i = 0; i < n; i++) {
      float d = logits[i] - max;
      if (!(d >= -88.0f)) e[i] = d < -0x1.9fe368p6f ? 0.0f : expf(d); // below log(2^-150): expf's 0
    }
  size_t k = armed_k < 1 ? 1 : armed_k > n ? n : armed_k;
  size_t m = 0, rung = 0;
  for (;; rung++) {
    m = keep_entries(e, n, LADDER[rung]);
    if (m >= k || LADDER[rung] == 0) break;
  }
  memcpy(sorted, keys, m * sizeof *keys);
  uint32_t *asc = sort_bits(sorted, scratch, m);
  float sum = 0.0f;
  for (size_t i = m; i-- > 0;) {
    float v;
    memcpy(&v, &asc[i], sizeof v);
    sum += v;
  }
  float kth, least;
  memcpy(&kth, &asc[m - k], sizeof kth);
  memcpy(&least, &LADDER[rung], sizeof least);
  // The top-k's candidates: every id whose e is at least kth lowered by 2^-20 relative (JS keeps those
  // whose probability reaches the k-th's, see next-dist.ts), ascending: among the kept entries when that
  // floor is at or above their bound.
  double floor = (double)kth * (1 - 0x1p-20);
  size_t c = 0;
  int32_t *cand = armed_cand;
  if (cand) {
    if (floor >= (double)least) {
      for (size_t j = 0; j < m; j++) {
        float v;
        memcpy(&v, &keys[j], sizeof v);
        if (v >= floor) {
          if (c < armed_cand_cap) cand[c] = (int32_t)ids[j];
          c++;
        }
      }
    } else {
      for (size_t i = 0; i < n; i++)
        if (e[i] >= floor) {
          if (c < armed_cand_cap) cand[c] = (int32_t)i;
          c++;
        }
    }
  }
  stats[1] = (double)n;
  stats[2] = (double)max;
  stats[3] = (double)sum;
  stats[4] = (double)kth;
  stats[5] = !cand || c > armed_cand_cap ? -1 : (double)c;
  stats[0] = 1;
}

static void capture(void *ctx, const float *logits) {
  armed = 0;
  calls++;
  capture_logits(logits, (size_t)vocab_n_tokens(model_vocab(get_model(ctx))));
}

__attribute__((visibility("default"))) const float *llama_get_logits_ith(void *ctx, int32_t i) {
  if (!resolve()) return NULL;
  const float *logits = real_logits_ith(ctx, i);
  if (armed && logits) capture(ctx, logits);
  return logits;
}

static int typed_data(napi_env env, napi_value v, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  return napi_get_typedarray_info(env, v, &type, length, data, &buffer, &offset) == napi_ok;
}

// arm(e: Float32Array, stats: Float64Array(>= 6), k: number, candidates?: Int32Array): the next
// llama_get_logits_ith call captures into them.
static napi_value arm(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *e, *s, *c = NULL;
  size_t ne, ns, nc = 0;
  int64_t k = 1;
  if (argc < 3 || !typed_data(env, argv[0], &e, &ne) || !typed_data(env, argv[1], &s, &ns) || ns < 6 ||
      napi_get_value_int64(env, argv[2], &k) != napi_ok || (argc > 3 && !typed_data(env, argv[3], &c, &nc))) {
    napi_throw_error(env, NULL, "arm(Float32Array, Float64Array(>=6), k, Int32Array?)");
    return NULL;
  }
  armed_k = k < 1 ? 1 : (size_t)k;
  armed_e = e;
  armed_cap = ne;
  armed_stats = s;
  armed_cand = c;
  armed_cand_cap = nc;
  armed_stats[0] = 0;
  armed = 1;
  return NULL;
}

static napi_value disarm(napi_env env, napi_callback_info info) {
  (void)info;
  armed = 0;
  napi_value out;
  napi_create_int32(env, calls, &out);
  return out;
}

// check(logits: Float32Array, k): the capture of these logits against the plain computation (libm's expf
// for every entry, every entry sorted for the sum and the k-th largest, every entry compared with the
// floor); returns "" when e, sum, the k-th and the candidates are equal, else what differs. For the tests,
// which cannot make a model give every kind of distribution.
static napi_value check(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *l;
  size_t n;
  int64_t k64 = 1;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (argc < 2 || napi_get_typedarray_info(env, argv[0], &type, &n, &l, &buffer, &offset) != napi_ok || type != napi_float32_array ||
      n == 0 || napi_get_value_int64(env, argv[1], &k64) != napi_ok) {
    napi_throw_error(env, NULL, "check(Float32Array, k)");
    return NULL;
  }
  const float *logits = l;
  size_t k = k64 < 1 ? 1 : (size_t)k64 > n ? n : (size_t)k64;
  float *e = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
  int32_t *cand = malloc(n * sizeof(int32_t));
  uint32_t *a = malloc(n * sizeof(uint32_t)), *b = malloc(n * sizeof(uint32_t));
  double stats[6];
  const char *diff = "out of memory";
  if (e && ref && cand && a && b) {
    armed_e = e, armed_cap = n, armed_stats = stats, armed_k = k, armed_cand = cand, armed_cand_cap = n;
    capture_logits(logits, n);
    float max = logits[0];
    for (size_t i = 1; i < n; i++)
      if (logits[i] > max) max = logits[i];
    exp_libm(logits, max, ref, n);
    memcpy(a, ref, n * sizeof *a);
    uint32_t *asc = sort_bits(a, b, n);
    float sum = 0.0f, kth;
    for (size_t i = n; i-- > 0;) {
      float v;
      memcpy(&v, &asc[i], sizeof v);
      sum += v;
    }
    memcpy(&kth, &asc[n - k], sizeof kth);
    double floor = (double)kth * (1 - 0x1p-20);
    size_t c = 0;
    int cand_ok = 1;
    for (size_t i = 0; i < n; i++)
      if (ref[i] >= floor) cand_ok &= c < (size_t)stats[5] && cand[c++] == (int32_t)i;
    diff = stats[0] != 1 ? "no capture"
      : memcmp(e, ref, n * sizeof *e) ? "e differs from libm's expf"
      : (float)stats[3] != sum ? "sum differs"
      : (float)stats[4] != kth ? "k-th largest differs"
      : !cand_ok || c != (size_t)stats[5] ? "candidates differ" : "";
  }
  armed_e = NULL, armed_cap = 0, armed_cand = NULL, armed_cand_cap = 0;
  free(e), free(ref), free(cand), free(a), free(b);
  napi_create_string_utf8(env, diff, NAPI_AUTO_LENGTH, &out);
  return out;
}

// The expf in use and the vector level: "fma avx512", "plain avx2", "libm baseline", ... ("fma" or "plain":
// glibc's algorithm, vectorised, found equal to libm's expf).
static napi_value exp_kind(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  char text[64];
  strcpy(text, exp_name);
  strcat(text, " ");
  strcat(text, level_name);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out);
  return out;
}

NAPI_MODULE_INIT() {
  pick_level();
  expf_check();
  napi_property_descriptor props[] = {
    {"arm", NULL, arm, NULL, NULL, NULL, napi_default, NULL},
    {"disarm", NULL, disarm, NULL, NULL, NULL, napi_default, NULL},
    {"expKind", NULL, exp_kind, NULL, NULL, NULL, napi_default, NULL},
    {"check", NULL, check, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 4, props);
  return exports;
}
`;

export interface LogitsCapture {
  /**
   * The next llama_get_logits_ith call (any context) writes e into `e`, [1, n, max, sum, the k-th largest
   * e, c] into `stats` (length >= 6) and the c ids whose e is at least the k-th's lowered by 2^-20
   * (ascending) into `candidates` (c = -1 when they do not fit or none is given).
   */
  arm(e: Float32Array, stats: Float64Array, k: number, candidates?: Int32Array): void;
  /** Cancels an armed capture that did not happen; returns the number of captures so far. */
  disarm(): number;
  /**
   * The expf in use and the loops' vector level, e.g. 'fma avx512' ('fma' or 'plain': glibc's algorithm
   * vectorised, found equal to libm's expf; 'libm': libm's own).
   */
  expKind(): string;
  /**
   * The capture of these logits (n = their length, top k) against the plain computation: libm's expf
   * and a sort of every entry. '' when e, the sum, the k-th largest and the candidates are equal, else
   * what differs (for the tests: a model gives only its own kinds of distribution).
   */
  check(logits: Float32Array, k: number): string;
}

let loaded: LogitsCapture | null | undefined;
let reason = '';

/** Why the capture module is unavailable ('' when it is loaded). */
export function captureUnavailableReason(): string {
  return reason;
}

/**
 * Builds (once per source and Node ABI, into <cache>/native/) and loads the module. Must run before
 * node-llama-cpp loads its addon; returns null (with `captureUnavailableReason()`) where it cannot.
 * V2L_LLM_CAPTURE=0 turns it off.
 */
export function loadLogitsCapture(): LogitsCapture | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.V2L_LLM_CAPTURE === '0') {
    reason = 'turned off by V2L_LLM_CAPTURE=0';
    return null;
  }
  if (process.platform !== 'linux') {
    reason = `not supported on ${process.platform} (symbol interposition)`;
    return null;
  }
  const include = join(dirname(process.execPath), '..', 'include', 'node');
  if (!existsSync(join(include, 'node_api.h'))) {
    reason = `no Node headers at ${include}`;
    return null;
  }
  // -O3 vectorises the loops (the exp loop, written for it, per CPU level through target_clones); no
  // contraction, so that fma() is where glibc's algorithm has one and nowhere else.
  const flags = ['-O3', '-fno-math-errno', '-ffp-contract=off', '-fPIC', '-shared'];
  const key = createHash('sha256').update(SOURCE).update(flags.join(' ')).update(process.versions.modules).update(process.arch).digest('hex').slice(0, 16);
  const dir = join(cacheRoot(), 'native');
  const file = join(dir, `logits-capture-${key}.node`);
  try {
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      const src = `${tmp}.c`;
      writeFileSync(src, SOURCE);
      try {
        execFileSync(process.env.CC ?? 'cc', [...flags, `-I${include}`, src, '-o', tmp, '-ldl', '-lm'], { stdio: 'pipe' });
        renameSync(tmp, file);
      } finally {
        rmSync(src, { force: true });
        rmSync(tmp, { force: true });
      }
    }
    const mod = { exports: {} as LogitsCapture };
    process.dlopen(mod, file, constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL);
    loaded = mod.exports;
  } catch (err) {
    reason = `cannot build or load ${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
  return loaded;
}
