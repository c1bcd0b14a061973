/*
 * Times whisper.cpp's encoder and decoder through its C API, in whichever build `lib` names
 * (a libwhisper.so, or a Node addon that links whisper.cpp in and exports its symbols), so two
 * builds are compared on the same calls: one encoder pass over a 30 s window, then greedy-style
 * single-token decoder steps (what whisper_full runs per token), with the logits' argmax taken
 * each step. Compiled and run by bench/whisper-engines.ts, one process per build, so the peak
 * RSS it prints is that build's alone.
 *
 *   whisper-probe LIB MODEL PCM_F32 THREADS FLASH_ATTN ENCODE_ROUNDS DECODE_TOKENS DECODE_ROUNDS
 *
 * Prints one JSON line on stdout; whisper.cpp's own log lines go to stderr.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* The layout both the bundled sources and 1.8/1.9 share (include/whisper.h). */
struct whisper_aheads {
  size_t n_heads;
  const void *heads;
};
struct whisper_context_params {
  bool use_gpu;
  bool flash_attn;
  int gpu_device;
  bool dtw_token_timestamps;
  int dtw_aheads_preset;
  int dtw_n_top;
  struct whisper_aheads dtw_aheads;
  size_t dtw_mem_size;
};

typedef struct whisper_context_params *(*default_params_fn)(void);
typedef void *(*init_fn)(const char *, struct whisper_context_params);
typedef int (*pcm_fn)(void *, const float *, int, int);
typedef int (*encode_fn)(void *, int, int);
typedef int (*decode_fn)(void *, const int *, int, int, int);
typedef int (*token_fn)(void *);
typedef int (*lang_token_fn)(void *, int);
typedef int (*lang_id_fn)(const char *);
typedef float *(*logits_fn)(void *);
typedef int (*n_vocab_fn)(void *);
typedef void (*free_fn)(void *);
typedef const char *(*version_fn)(void);

static void *need(void *lib, const char *name) {
  void *symbol = dlsym(lib, name);
  if (symbol == NULL) {
    fprintf(stderr, "whisper-probe: %s not exported\n", name);
    exit(2);
  }
  return symbol;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

/* CPU time of all threads: with one thread it is the work itself, whatever else the machine runs. */
static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: whisper-probe LIB MODEL PCM_F32 THREADS FLASH_ATTN ENCODE_ROUNDS DECODE_TOKENS DECODE_ROUNDS\n");
    return 2;
  }
  const int threads = atoi(argv[4]);
  const bool flash = atoi(argv[5]) != 0;
  const int encode_rounds = atoi(argv[6]);
  const int decode_tokens = atoi(argv[7]);
  const int decode_rounds = atoi(argv[8]);

  /* A build with runtime CPU dispatch (GGML_BACKEND_DL) picks its CPU kernels from a folder. */
  const char *backends = getenv("WHISPER_PROBE_BACKENDS");
  if (backends != NULL && backends[0] != '\0') {
    char path[4096];
    snprintf(path, sizeof path, "%s/libggml.so", backends);
    void *ggml = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (ggml == NULL) {
      fprintf(stderr, "whisper-probe: %s\n", dlerror());
      return 2;
    }
    ((void (*)(const char *))need(ggml, "ggml_backend_load_all_from_path"))(backends);
  }
  /* Lazy: an addon's N-API imports stay unresolved, and none of them is called. */
  void *lib = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "whisper-probe: %s\n", dlerror());
    return 2;
  }
  struct whisper_context_params params =
      *((default_params_fn)need(lib, "whisper_context_default_params_by_ref"))();
  params.use_gpu = false;
  params.flash_attn = flash;

  FILE *file = fopen(argv[3], "rb");
  if (file == NULL) return 2;
  fseek(file, 0, SEEK_END);
  const long bytes = ftell(file);
  fseek(file, 0, SEEK_SET);
  float *pcm = malloc(bytes);
  if (fread(pcm, 1, bytes, file) != (size_t)bytes) return 2;
  fclose(file);
  const int n_samples = (int)(bytes / sizeof(float));

  void *ctx = ((init_fn)need(lib, "whisper_init_from_file_with_params"))(argv[2], params);
  if (ctx == NULL) return 3;
  const double mel_start = now_ms();
  if (((pcm_fn)need(lib, "whisper_pcm_to_mel"))(ctx, pcm, n_samples, threads) != 0) return 4;
  const double mel_ms = now_ms() - mel_start;

  encode_fn encode = (encode_fn)need(lib, "whisper_encode");
  decode_fn decode = (decode_fn)need(lib, "whisper_decode");
  logits_fn logits = (logits_fn)need(lib, "whisper_get_logits");
  const int n_vocab = ((n_vocab_fn)need(lib, "whisper_n_vocab"))(ctx);

  /* One untimed pass each: first-call allocations are not what a loaded model pays per request. */
  if (encode(ctx, 0, threads) != 0) return 5;
  double encode_cpu = 0;
  printf("{\"mel_ms\":%.2f,\"encode_ms\":[", mel_ms);
  for (int round = 0; round < encode_rounds; round++) {
    const double start = now_ms();
    const double start_cpu = cpu_ms();
    if (encode(ctx, 0, threads) != 0) return 5;
    encode_cpu += cpu_ms() - start_cpu;
    printf("%s%.2f", round == 0 ? "" : ",", now_ms() - start);
  }

  const int prompt[4] = {
      ((token_fn)need(lib, "whisper_token_sot"))(ctx),
      ((lang_token_fn)need(lib, "whisper_token_lang"))(ctx, ((lang_id_fn)need(lib, "whisper_lang_id"))("en")),
      ((token_fn)need(lib, "whisper_token_transcribe"))(ctx),
      ((token_fn)need(lib, "whisper_token_not"))(ctx),
  };
  printf("],\"encode_cpu_ms\":%.2f,\"decode_ms_per_token\":[", encode_cpu / encode_rounds);
  double decode_cpu = 0;
  for (int round = -1; round < decode_rounds; round++) {
    if (decode(ctx, prompt, 4, 0, threads) != 0) return 6;
    int n_past = 4;
    int token = 440;
    const double start = now_ms();
    const double start_cpu = cpu_ms();
    for (int i = 0; i < decode_tokens; i++) {
      if (decode(ctx, &token, 1, n_past, threads) != 0) return 6;
      n_past += 1;
      const float *row = logits(ctx);
      int best = 0;
      for (int v = 1; v < n_vocab; v++)
        if (row[v] > row[best]) best = v;
      /* Keep to text tokens, as a transcript mostly is. */
      token = best < 50257 ? best : 440;
    }
    if (round >= 0) {
      decode_cpu += cpu_ms() - start_cpu;
      printf("%s%.3f", round == 0 ? "" : ",", (now_ms() - start) / decode_tokens);
    }
  }
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  const char *version = "unknown";
  void *version_symbol = dlsym(lib, "whisper_version");
  if (version_symbol != NULL) version = ((version_fn)version_symbol)();
  printf("],\"decode_cpu_ms_per_token\":%.3f,\"max_rss_kb\":%ld,\"version\":\"%s\"}\n", decode_cpu / decode_tokens / decode_rounds, usage.ru_maxrss, version);
  ((free_fn)need(lib, "whisper_free"))(ctx);
  return 0;
}
