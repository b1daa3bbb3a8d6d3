// The next-token distribution without node-llama-cpp's full-vocabulary Map (Node edge, Linux). Asking
// node-llama-cpp for `probabilities` costs ~60 ms per position on a 128,256-token vocabulary (measured: a
// std::sort of the vocabulary ~15 ms, building a 256,512-element JS array ~45 ms, then a Map), against
// ~1.5 ms for evaluating the token; node-llama-cpp 3.21.1 has no call that returns logits or a full-vocabulary
// normaliser without that sort (its top-k sampler returns probabilities renormalised over the k kept).
// So a tiny N-API module (C source below, compiled with the system C compiler on first use and cached)
// defines llama_get_logits_ith, loaded with RTLD_GLOBAL before node-llama-cpp's addon so that the addon
// binds to it; it forwards to libllama's and, when armed, writes e_i = expf(l_i - max) for every entry and
// the float32 sum of the e_i in descending order (an O(V) radix sort) into typed arrays: exactly the
// arithmetic of node-llama-cpp's own softmax, so fround(e_i / sum) equals, bit for bit, the probability it
// would return (the tests compare). Where the module cannot be built or bound (no compiler or Node headers,
// macOS's two-level namespace, Windows), `captureAvailable()` is false and callers use the Map.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { cacheRoot } from '../hub.js';

const SOURCE = `// v2l's logits capture for node-llama-cpp (see logits-capture.ts for why and how it is used).
// Defines llama_get_logits_ith; loaded with RTLD_GLOBAL before node-llama-cpp's addon, it is the
// definition that addon binds to. It forwards to libllama's and, when armed, writes exp(l - max) of every
// vocabulary entry to the armed Float32Array and [1, n, max, sum] to the armed Float64Array, with sum
// accumulated in float32 in descending order: exactly node-llama-cpp's own softmax (AddonContext.cpp
// SampleToken), so p = fround(e / sum) is bit for bit the probability it would return; and the k-th
// largest e, from the same sort, so that a top-k needs one comparison per entry.
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
static volatile int armed;
static int calls;

static uint32_t *keys, *scratch;
static size_t keys_cap;

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

// e_i = expf(l_i - max) and the sum of the e_i in descending order, float32 accumulation. The order
// comes from an LSD radix sort of the float bits (non-negative floats order as their bit patterns; e <= 1
// so the bits are below 2^30: three 10-bit digits), its three histograms counted in the exp loop: O(n).
static void capture(void *ctx, const float *logits) {
  armed = 0;
  calls++;
  double *stats = armed_stats;
  size_t n = (size_t)vocab_n_tokens(model_vocab(get_model(ctx)));
  if (n == 0 || n > armed_cap) {
    stats[0] = -1;
    stats[1] = (double)n;
    return;
  }
  if (n > keys_cap) {
    free(keys);
    free(scratch);
    keys = malloc(n * sizeof(uint32_t));
    scratch = malloc(n * sizeof(uint32_t));
    keys_cap = keys && scratch ? n : 0;
    if (!keys_cap) {
      stats[0] = -2;
      return;
    }
  }
  float max = logits[0];
  for (size_t i = 1; i < n; i++)
    if (logits[i] > max) max = logits[i];
  float *e = armed_e;
  static size_t count[3][1025];
  memset(count, 0, sizeof count);
  for (size_t i = 0; i < n; i++) {
    float v = expf(logits[i] - max);
    e[i] = v;
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    keys[i] = b;
    count[0][(b & 1023) + 1]++;
    count[1][((b >> 10) & 1023) + 1]++;
    count[2][((b >> 20) & 1023) + 1]++;
  }
  uint32_t *src = keys, *dst = scratch;
  for (int d = 0; d < 3; d++) {
    size_t *c = count[d];
    int shift = 10 * d;
    for (int k = 0; k < 1024; k++) c[k + 1] += c[k];
    for (size_t i = 0; i < n; i++) dst[c[(src[i] >> shift) & 1023]++] = src[i];
    uint32_t *t = src;
    src = dst;
    dst = t;
  }
  float sum = 0.0f;
  for (size_t i = n; i-- > 0;) {
    float v;
    memcpy(&v, &src[i], sizeof v);
    sum += v;
  }
  float kth;
  size_t k = armed_k < 1 ? 1 : armed_k > n ? n : armed_k;
  memcpy(&kth, &src[n - k], sizeof kth);
  stats[1] = (double)n;
  stats[2] = (double)max;
  stats[3] = (double)sum;
  stats[4] = (double)kth;
  stats[0] = 1;
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

// arm(e: Float32Array, stats: Float64Array, k: number): the next llama_get_logits_ith call captures into
// them; stats[4] = the k-th largest e.
static napi_value arm(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *e, *s;
  size_t ne, ns;
  int64_t k = 1;
  if (argc < 3 || !typed_data(env, argv[0], &e, &ne) || !typed_data(env, argv[1], &s, &ns) || ns < 5 ||
      napi_get_value_int64(env, argv[2], &k) != napi_ok) {
    napi_throw_error(env, NULL, "arm(Float32Array, Float64Array(>=5), k)");
    return NULL;
  }
  armed_k = k < 1 ? 1 : (size_t)k;
  armed_e = e;
  armed_cap = ne;
  armed_stats = s;
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

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"arm", NULL, arm, NULL, NULL, NULL, napi_default, NULL},
    {"disarm", NULL, disarm, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}
`;

export interface LogitsCapture {
  /**
   * The next llama_get_logits_ith call (any context) writes e into `e` and [1, n, max, sum, the k-th
   * largest e] into `stats`.
   */
  arm(e: Float32Array, stats: Float64Array, k: number): void;
  /** Cancels an armed capture that did not happen; returns the number of captures so far. */
  disarm(): number;
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
  const key = createHash('sha256').update(SOURCE).update(process.versions.modules).update(process.arch).digest('hex').slice(0, 16);
  const dir = join(cacheRoot(), 'native');
  const file = join(dir, `logits-capture-${key}.node`);
  try {
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      const src = `${tmp}.c`;
      writeFileSync(src, SOURCE);
      try {
        execFileSync(process.env.CC ?? 'cc', ['-O2', '-fPIC', '-shared', `-I${include}`, src, '-o', tmp, '-ldl'], { stdio: 'pipe' });
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
