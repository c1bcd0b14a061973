// A thin Node-API addon over the prebuilt whisper.cpp 1.8.3 shared libraries that
// @spader/node-whisper-cpp-x64-linux-cpu-gnu ships (libwhisper.so, libggml*.so and one
// libggml-cpu-<microarchitecture>.so per x86-64 level, picked at run time).
//
// The libraries are opened with dlopen from the folder JS passes to init(), never linked: the
// addon builds from the vendored public headers alone (include/, unmodified, whisper.cpp's MIT
// licence beside them), and a missing or different prebuilt is an error JS can log and fall back
// from, not a failed require. init() refuses a library whose version or whisper_full_params
// defaults do not match the 1.8.3 headers this file was compiled against.
//
// Everything slow runs on libuv's pool (AsyncWorker): model and VAD loads, transcription, frees.
// whisper.cpp's compute threads start from that pool thread, so they inherit its nice value.
#include <dlfcn.h>
#include <link.h>
#include <napi.h>

#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "ggml-backend.h"
#include "whisper.h"

namespace {

// Each entry point is looked up by name and called through a pointer of its header's type.
#define WHISPER_FUNCTIONS(X)                          \
  X(whisper_version)                                  \
  X(whisper_log_set)                                  \
  X(whisper_print_system_info)                        \
  X(whisper_context_default_params_by_ref)            \
  X(whisper_free_context_params)                      \
  X(whisper_full_default_params_by_ref)               \
  X(whisper_free_params)                              \
  X(whisper_init_from_file_with_params_no_state)      \
  X(whisper_init_state)                               \
  X(whisper_free)                                     \
  X(whisper_free_state)                               \
  X(whisper_is_multilingual)                          \
  X(whisper_token_eot)                                \
  X(whisper_lang_max_id)                              \
  X(whisper_lang_id)                                  \
  X(whisper_lang_str)                                 \
  X(whisper_pcm_to_mel_with_state)                    \
  X(whisper_lang_auto_detect_with_state)              \
  X(whisper_full_with_state)                          \
  X(whisper_full_n_segments_from_state)               \
  X(whisper_full_lang_id_from_state)                  \
  X(whisper_full_get_segment_t0_from_state)           \
  X(whisper_full_get_segment_t1_from_state)           \
  X(whisper_full_get_segment_text_from_state)         \
  X(whisper_full_get_segment_no_speech_prob_from_state) \
  X(whisper_full_n_tokens_from_state)                 \
  X(whisper_full_get_token_text_from_state)           \
  X(whisper_full_get_token_data_from_state)           \
  X(whisper_vad_default_params)                       \
  X(whisper_vad_default_context_params)               \
  X(whisper_vad_init_from_file_with_params)           \
  X(whisper_vad_segments_from_samples)                \
  X(whisper_vad_segments_n_segments)                  \
  X(whisper_vad_segments_get_segment_t0)              \
  X(whisper_vad_segments_get_segment_t1)              \
  X(whisper_vad_free_segments)                        \
  X(whisper_vad_free)

#define GGML_FUNCTIONS(X)             \
  X(ggml_log_set)                     \
  X(ggml_backend_load_all_from_path)  \
  X(ggml_backend_dev_count)           \
  X(ggml_backend_dev_get)             \
  X(ggml_backend_dev_name)            \
  X(ggml_backend_dev_description)     \
  X(ggml_backend_dev_type)            \
  X(ggml_backend_dev_backend_reg)     \
  X(ggml_backend_reg_get_proc_address)

struct Api {
#define DECLARE(name) decltype(&::name) name = nullptr;
  WHISPER_FUNCTIONS(DECLARE)
  GGML_FUNCTIONS(DECLARE)
#undef DECLARE
};

Api api;
std::mutex init_mutex;
bool initialized = false;
std::string loaded_dir;
std::string init_error;
std::string cpu_variant;
std::string cpu_description;
std::string system_info;
bool abort_inside_graphs = false;

constexpr const char* kHeaderVersion = "1.8.3";

// Warnings and errors of the native call running on this thread, for its error message; the
// rest of whisper.cpp's and ggml's log is dropped rather than written to stderr.
thread_local std::string* log_capture = nullptr;

void OnNativeLog(enum ggml_log_level level, const char* text, void*) {
  if (log_capture == nullptr || text == nullptr) return;
  if (level != GGML_LOG_LEVEL_ERROR && level != GGML_LOG_LEVEL_WARN) return;
  if (log_capture->size() < 4096) log_capture->append(text);
}

struct CaptureLog {
  explicit CaptureLog(std::string* into) { log_capture = into; }
  ~CaptureLog() { log_capture = nullptr; }
};

/** The last non-empty line of a captured log, for an error message. */
std::string LastLine(const std::string& log) {
  std::string trimmed = log;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.pop_back();
  const size_t cut = trimmed.rfind('\n');
  return cut == std::string::npos ? trimmed : trimmed.substr(cut + 1);
}

/** Length of the longest prefix of `bytes` that does not end inside a UTF-8 character. */
size_t CompleteUtf8Prefix(const std::string& bytes) {
  const size_t n = bytes.size();
  for (size_t back = 1; back <= 4 && back <= n; back++) {
    const auto c = static_cast<unsigned char>(bytes[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back for the lead
    const size_t length = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return back >= length ? n : n - back;
  }
  return n;  // only continuation bytes: not UTF-8 we can mend, pass them on
}

int FindCpuVariant(struct dl_phdr_info* info, size_t, void* data) {
  const char* name = info->dlpi_name;
  if (name == nullptr) return 0;
  const char* at = std::strstr(name, "libggml-cpu-");
  if (at == nullptr) return 0;
  std::string variant(at + std::strlen("libggml-cpu-"));
  const size_t dot = variant.find(".so");
  if (dot != std::string::npos) variant.resize(dot);
  *static_cast<std::string*>(data) = variant;
  return 1;
}

// whisper.cpp 1.8.3 checks its abort_callback only between graph computations: after a whole
// encoder pass (1.5 s for `base` on 2 threads) or a decoder step. ggml's CPU backend can check a
// callback between graph nodes, but whisper.cpp keeps the backends of a whisper_state to itself.
// So the CPU device's backend constructor is wrapped: a backend made on a thread that is running
// one of our calls gets that call's abort flag, and stops within a node of it being set.
thread_local std::atomic<bool>* constructing_for = nullptr;
ggml_backend_t (*original_init_backend)(ggml_backend_dev_t, const char*) = nullptr;
void (*set_cpu_abort_callback)(ggml_backend_t, ggml_abort_callback, void*) = nullptr;

bool AbortFlagSet(void* data) { return static_cast<std::atomic<bool>*>(data)->load(); }

ggml_backend_t InitBackendWithAbort(ggml_backend_dev_t dev, const char* params) {
  ggml_backend_t backend = original_init_backend(dev, params);
  if (backend != nullptr && constructing_for != nullptr) set_cpu_abort_callback(backend, AbortFlagSet, constructing_for);
  return backend;
}

// The start of ggml 1.8.3's struct ggml_backend_device (ggml/src/ggml-backend-impl.h, not a public
// header): its interface's first six function pointers. Used only after the checks below confirm it.
struct DeviceInterfaceStart {
  const char* (*get_name)(ggml_backend_dev_t);
  const char* (*get_description)(ggml_backend_dev_t);
  void (*get_memory)(ggml_backend_dev_t, size_t*, size_t*);
  enum ggml_backend_dev_type (*get_type)(ggml_backend_dev_t);
  void (*get_props)(ggml_backend_dev_t, struct ggml_backend_dev_props*);
  ggml_backend_t (*init_backend)(ggml_backend_dev_t, const char*);
};

/** Wraps the CPU device's backend constructor when its layout is the one above; false otherwise. */
bool HookCpuAbort(ggml_backend_dev_t cpu) {
  auto* start = reinterpret_cast<DeviceInterfaceStart*>(cpu);
  ggml_backend_reg_t reg = api.ggml_backend_dev_backend_reg(cpu);
  if (reg == nullptr) return false;
  set_cpu_abort_callback = reinterpret_cast<decltype(set_cpu_abort_callback)>(
      api.ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_abort_callback"));
  // The public accessors call through the same pointers: they must agree on every one we can see.
  const bool layout_ok = set_cpu_abort_callback != nullptr && start->get_name != nullptr &&
                         start->get_description != nullptr && start->get_type != nullptr &&
                         start->init_backend != nullptr && start->get_name(cpu) == api.ggml_backend_dev_name(cpu) &&
                         start->get_description(cpu) == api.ggml_backend_dev_description(cpu) &&
                         start->get_type(cpu) == api.ggml_backend_dev_type(cpu) &&
                         start->get_type(cpu) == GGML_BACKEND_DEVICE_TYPE_CPU;
  if (!layout_ok) return false;
  original_init_backend = start->init_backend;
  start->init_backend = InitBackendWithAbort;
  return true;
}

/** Empty when the library behaves as the 1.8.3 headers describe; otherwise why not. */
std::string CheckAbi() {
  const char* version = api.whisper_version();
  // The fields at the end of the structs are where a layout change would show first.
  whisper_full_params* full = api.whisper_full_default_params_by_ref(WHISPER_SAMPLING_GREEDY);
  const bool full_ok =
      full != nullptr && full->strategy == WHISPER_SAMPLING_GREEDY && full->n_max_text_ctx == 16384 &&
      full->temperature_inc == 0.2f && full->no_speech_thold == 0.6f && full->greedy.best_of == 5 &&
      full->beam_search.beam_size == -1 && full->abort_callback == nullptr &&
      full->grammar_rules == nullptr && full->grammar_penalty == 100.0f && !full->vad &&
      full->vad_model_path == nullptr && full->vad_params.threshold == 0.5f &&
      full->vad_params.min_speech_duration_ms == 250 && full->vad_params.min_silence_duration_ms == 100 &&
      full->vad_params.max_speech_duration_s == FLT_MAX && full->vad_params.speech_pad_ms == 30 &&
      std::fabs(full->vad_params.samples_overlap - 0.1f) < 1e-6f;
  if (full != nullptr) api.whisper_free_params(full);
  whisper_context_params* context = api.whisper_context_default_params_by_ref();
  const bool context_ok = context != nullptr && context->flash_attn && context->dtw_n_top == -1 &&
                          context->dtw_aheads.n_heads == 0 && context->dtw_mem_size == 1024u * 1024u * 128u;
  if (context != nullptr) api.whisper_free_context_params(context);
  const whisper_vad_params vad = api.whisper_vad_default_params();
  const bool vad_ok = vad.threshold == 0.5f && vad.speech_pad_ms == 30;
  if (!full_ok || !context_ok || !vad_ok) {
    return std::string("libwhisper.so says it is ") + version +
           " but its default parameters do not match the 1.8.3 struct layout";
  }
  return "";
}

std::string OpenLibraries(const std::string& dir) {
  // libggml first, so its soname satisfies libwhisper.so's dependency on it.
  void* ggml = dlopen((dir + "/libggml.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (ggml == nullptr) return std::string("cannot open libggml.so: ") + dlerror();
  void* whisper = dlopen((dir + "/libwhisper.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (whisper == nullptr) return std::string("cannot open libwhisper.so: ") + dlerror();
  // The version first: a different release is named as such, whatever else it exports.
  auto version = reinterpret_cast<decltype(&::whisper_version)>(dlsym(whisper, "whisper_version"));
  const char* found = version == nullptr ? nullptr : version();
  if (found == nullptr || std::strcmp(found, kHeaderVersion) != 0) {
    return std::string("libwhisper.so is version ") + (found == nullptr ? "(unknown)" : found) +
           ", but this addon was compiled against whisper.cpp " + kHeaderVersion + "'s headers";
  }
  std::string missing;
#define LOOKUP(handle, name)                                                     \
  api.name = reinterpret_cast<decltype(api.name)>(dlsym(handle, #name));         \
  if (api.name == nullptr) missing += std::string(missing.empty() ? "" : ", ") + #name;
#define LOOKUP_WHISPER(name) LOOKUP(whisper, name)
#define LOOKUP_GGML(name) LOOKUP(ggml, name)
  WHISPER_FUNCTIONS(LOOKUP_WHISPER)
  GGML_FUNCTIONS(LOOKUP_GGML)
#undef LOOKUP_GGML
#undef LOOKUP_WHISPER
#undef LOOKUP
  if (!missing.empty()) return "the prebuilt libraries do not export " + missing;
  const std::string abi = CheckAbi();
  if (!abi.empty()) return abi;
  // Quiet from here on: backend discovery, model loads and every call log through these.
  api.ggml_log_set(OnNativeLog, nullptr);
  api.whisper_log_set(OnNativeLog, nullptr);
  // Runtime CPU dispatch: ggml scores each libggml-cpu-*.so for this CPU and loads the best.
  api.ggml_backend_load_all_from_path(dir.c_str());
  for (size_t i = 0; i < api.ggml_backend_dev_count(); i++) {
    ggml_backend_dev_t device = api.ggml_backend_dev_get(i);
    const char* name = api.ggml_backend_dev_name(device);
    if (name != nullptr && std::strcmp(name, "CPU") == 0) {
      const char* description = api.ggml_backend_dev_description(device);
      cpu_description = description == nullptr ? "" : description;
      abort_inside_graphs = HookCpuAbort(device);
    }
  }
  dl_iterate_phdr(FindCpuVariant, &cpu_variant);
  if (cpu_variant.empty()) return "no libggml-cpu-*.so in " + dir + " supports this CPU";
  const char* info = api.whisper_print_system_info();
  system_info = info == nullptr ? "" : info;
  return "";
}

/** init(binsDir) → { version, cpuVariant, cpuDescription, systemInfo }; once per process. */
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "init(binsDir) needs the folder of the prebuilt libraries");
  }
  const std::string dir = info[0].As<Napi::String>();
  std::lock_guard<std::mutex> lock(init_mutex);
  if (!initialized) {
    initialized = true;
    loaded_dir = dir;
    init_error = OpenLibraries(dir);
  }
  if (!init_error.empty()) throw Napi::Error::New(env, init_error);
  if (dir != loaded_dir) {
    throw Napi::Error::New(env, "whisper.cpp was already loaded from " + loaded_dir);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("version", api.whisper_version());
  result.Set("cpuVariant", cpu_variant);
  result.Set("cpuDescription", cpu_description);
  result.Set("systemInfo", system_info);
  result.Set("abortInsideGraphs", abort_inside_graphs);
  return result;
}

void RequireInit(Napi::Env env) {
  std::lock_guard<std::mutex> lock(init_mutex);
  if (!initialized || !init_error.empty()) {
    throw Napi::Error::New(env, "call init() with the prebuilt libraries' folder first");
  }
}

struct Model {
  whisper_context* ctx = nullptr;
  bool multilingual = false;
  whisper_token eot = 0;
};

struct Vad {
  whisper_vad_context* ctx = nullptr;
};

template <typename T>
T* Unwrap(const Napi::Value& value, const char* what) {
  if (!value.IsExternal()) throw Napi::TypeError::New(value.Env(), std::string("expected a ") + what);
  return value.As<Napi::External<T>>().Data();
}

bool BoolOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

/** A promise-returning worker: `Run` on the pool, `Resolve` back on the main thread. */
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  virtual Napi::Value Resolve() { return Env().Undefined(); }
  void OnOK() override { deferred_.Resolve(Resolve()); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
};

class LoadModelWorker : public PromiseWorker {
 public:
  LoadModelWorker(Napi::Env env, std::string path, bool flash) : PromiseWorker(env), path_(std::move(path)), flash_(flash) {}

  void Execute() override {
    CaptureLog capture(&log_);
    whisper_context_params* defaults = api.whisper_context_default_params_by_ref();
    whisper_context_params params = *defaults;
    api.whisper_free_context_params(defaults);
    params.use_gpu = false;
    params.flash_attn = flash_;
    // No default state: every call makes its own, so concurrent slots share the weights only.
    ctx_ = api.whisper_init_from_file_with_params_no_state(path_.c_str(), params);
    if (ctx_ == nullptr) {
      const std::string line = LastLine(log_);
      SetError(line.empty() ? "whisper.cpp could not read the model file" : line);
      return;
    }
    // whisper.cpp takes a file that ends before its tensors as an "empty model for testing".
    if (log_.find("no tensors loaded") != std::string::npos) {
      api.whisper_free(ctx_);
      ctx_ = nullptr;
      SetError("the file holds no weights (truncated download?)");
    }
  }

  Napi::Value Resolve() override {
    auto* model = new Model();
    model->ctx = ctx_;
    model->multilingual = api.whisper_is_multilingual(ctx_) != 0;
    model->eot = api.whisper_token_eot(ctx_);
    // Freed by free(); the finalizer only catches a handle dropped without it.
    return Napi::External<Model>::New(Env(), model, [](Napi::Env, Model* m) {
      if (m->ctx != nullptr) api.whisper_free(m->ctx);
      delete m;
    });
  }

 private:
  std::string path_;
  bool flash_;
  std::string log_;
  whisper_context* ctx_ = nullptr;
};

/** loadModel(path, flashAttention) → Promise<handle>. */
Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env);
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "loadModel(path, flash)");
  const bool flash = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  auto* worker = new LoadModelWorker(env, info[0].As<Napi::String>(), flash);
  worker->Queue();
  return worker->Promise();
}

class FreeModelWorker : public PromiseWorker {
 public:
  FreeModelWorker(Napi::Env env, whisper_context* ctx) : PromiseWorker(env), ctx_(ctx) {}
  void Execute() override {
    if (ctx_ != nullptr) api.whisper_free(ctx_);
  }

 private:
  whisper_context* ctx_;
};

/** freeModel(handle) → Promise; the caller waits for its running calls first. Safe twice. */
Napi::Value FreeModel(const Napi::CallbackInfo& info) {
  Model* model = Unwrap<Model>(info[0], "model handle");
  whisper_context* ctx = model->ctx;
  model->ctx = nullptr;
  auto* worker = new FreeModelWorker(info.Env(), ctx);
  worker->Queue();
  return worker->Promise();
}

class TranscribeWorker : public Napi::AsyncWorker {
 public:
  TranscribeWorker(Napi::Function callback, Napi::Value modelHandle, Model* model, Napi::Float32Array samples,
                   const Napi::Object& options)
      : Napi::AsyncWorker(callback),
        model_(model),
        samples_(samples.Data()),
        n_samples_(static_cast<int>(samples.ElementLength())) {
    // Held so neither the model handle nor the samples' buffer is collected during the call.
    model_ref_ = Napi::Persistent(modelHandle);
    samples_ref_ = Napi::Persistent(static_cast<Napi::Value>(samples));
    Napi::Value language = options.Get("language");
    language_ = language.IsString() ? language.As<Napi::String>().Utf8Value() : "auto";
    Napi::Value prompt = options.Get("prompt");
    if (prompt.IsString()) prompt_ = prompt.As<Napi::String>().Utf8Value();
    Napi::Value temperature = options.Get("temperature");
    has_temperature_ = temperature.IsNumber();
    if (has_temperature_) temperature_ = temperature.As<Napi::Number>().FloatValue();
    Napi::Value threads = options.Get("threads");
    if (threads.IsNumber()) threads_ = threads.As<Napi::Number>().Int32Value();
    translate_ = BoolOption(options, "translate");
    token_timestamps_ = BoolOption(options, "tokenTimestamps");
    language_only_ = BoolOption(options, "languageOnly");
  }

  ~TranscribeWorker() override { FreeState(); }

  std::shared_ptr<std::atomic<bool>> aborted = std::make_shared<std::atomic<bool>>(false);

  void Execute() override {
    Run();
    // Freeing a state unmaps its buffers (130 MB and more on base dimensions, 7-8 ms): done here,
    // on the pool thread, so the event loop never waits for it.
    FreeState();
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object result = Napi::Object::New(env);
    Napi::Array segments = Napi::Array::New(env, segments_.size());
    if (language_only_) {
      result.Set("language", api.whisper_lang_str(lang_id_));
      result.Set("languageProbability", lang_p_);
    } else if (language_code_ != nullptr) {
      result.Set("language", language_code_);
    }
    for (size_t i = 0; i < segments_.size(); i++) segments.Set(static_cast<uint32_t>(i), Segment(env, segments_[i]));
    result.Set("segments", segments);
    Callback().Call({env.Null(), result});
  }

  void OnError(const Napi::Error& error) override { Callback().Call({error.Value()}); }

 private:
  struct TokenResult {
    int id;
    std::string text;
    float p;
    int64_t t0;
    int64_t t1;
  };
  struct SegmentResult {
    int64_t t0;
    int64_t t1;
    std::string text;
    float no_speech_prob;
    std::vector<TokenResult> tokens;
  };

  void Run() {
    CaptureLog capture(&log_);
    whisper_context* ctx = model_->ctx;
    if (ctx == nullptr) {
      SetError("the model was freed");
      return;
    }
    if (aborted->load()) {
      SetError("aborted");
      return;
    }
    // The state's CPU backend is made here, on this thread: it takes this call's abort flag.
    constructing_for = aborted.get();
    state_ = api.whisper_init_state(ctx);
    constructing_for = nullptr;
    if (state_ == nullptr) {
      SetError("whisper_init_state failed: " + LastLine(log_));
      return;
    }
    whisper_full_params* defaults = api.whisper_full_default_params_by_ref(WHISPER_SAMPLING_GREEDY);
    whisper_full_params params = *defaults;
    api.whisper_free_params(defaults);
    const int threads = threads_ > 0 ? threads_ : params.n_threads;
    if (language_only_) {
      DetectLanguage(ctx, threads);
      return;
    }
    params.n_threads = threads;
    params.language = language_.c_str();
    params.translate = translate_;
    // Condition each window on the text before it, as the reference implementation does.
    params.no_context = false;
    params.print_progress = false;
    params.print_realtime = false;
    params.print_timestamps = false;
    params.token_timestamps = token_timestamps_;
    if (!prompt_.empty()) params.initial_prompt = prompt_.c_str();
    if (has_temperature_) {
      params.temperature = temperature_;
      params.temperature_inc = 0.0f;
    }
    // Stops at the next graph node, decoder step or window once JS sets the flag.
    params.abort_callback = [](void* data) { return static_cast<std::atomic<bool>*>(data)->load(); };
    params.abort_callback_user_data = aborted.get();
    params.encoder_begin_callback = [](whisper_context*, whisper_state*, void* data) {
      return !static_cast<std::atomic<bool>*>(data)->load();
    };
    params.encoder_begin_callback_user_data = aborted.get();
    const int rc = api.whisper_full_with_state(ctx, state_, params, samples_, n_samples_);
    if (aborted->load()) {
      SetError("aborted");
    } else if (rc != 0) {
      const std::string line = LastLine(log_);
      SetError("whisper_full failed (" + std::to_string(rc) + ")" + (line.empty() ? "" : ": " + line));
    } else {
      ReadResults(ctx);
    }
  }

  /** Copies what OnOK reports out of the state, so the state can be freed off the event loop. */
  void ReadResults(whisper_context* ctx) {
    const int lang = api.whisper_full_lang_id_from_state(state_);
    language_code_ = lang >= 0 ? api.whisper_lang_str(lang) : nullptr;
    const int n = api.whisper_full_n_segments_from_state(state_);
    segments_.reserve(n);
    for (int i = 0; i < n; i++) {
      SegmentResult segment{api.whisper_full_get_segment_t0_from_state(state_, i),
                            api.whisper_full_get_segment_t1_from_state(state_, i),
                            api.whisper_full_get_segment_text_from_state(state_, i),
                            api.whisper_full_get_segment_no_speech_prob_from_state(state_, i),
                            {}};
      // Byte-level BPE can split one UTF-8 character over two tokens (ä, é, most CJK): each token
      // gets the whole characters that end in it, so words put together from tokens read right.
      std::string pending;
      const int n_tokens = api.whisper_full_n_tokens_from_state(state_, i);
      for (int j = 0; j < n_tokens; j++) {
        const whisper_token_data data = api.whisper_full_get_token_data_from_state(state_, i, j);
        // Special and timestamp tokens sit at and above end-of-text.
        if (data.id >= model_->eot) continue;
        pending += api.whisper_full_get_token_text_from_state(ctx, state_, i, j);
        const size_t whole = CompleteUtf8Prefix(pending);
        segment.tokens.push_back({data.id, pending.substr(0, whole), data.p, data.t0, data.t1});
        pending.erase(0, whole);
      }
      if (!pending.empty() && !segment.tokens.empty()) segment.tokens.back().text += pending;
      segments_.push_back(std::move(segment));
    }
  }

  void DetectLanguage(whisper_context* ctx, int threads) {
    if (!model_->multilingual) {
      // An English-only model knows one language.
      lang_id_ = api.whisper_lang_id("en");
      lang_p_ = 1.0f;
      return;
    }
    std::vector<float> probs(api.whisper_lang_max_id() + 1, 0.0f);
    if (api.whisper_pcm_to_mel_with_state(ctx, state_, samples_, n_samples_, threads) != 0) {
      SetError("whisper_pcm_to_mel failed: " + LastLine(log_));
      return;
    }
    lang_id_ = api.whisper_lang_auto_detect_with_state(ctx, state_, 0, threads, probs.data());
    if (lang_id_ < 0) {
      SetError("language detection failed: " + LastLine(log_));
      return;
    }
    lang_p_ = probs[lang_id_];
  }

  Napi::Object Segment(Napi::Env env, const SegmentResult& result) {
    Napi::Object segment = Napi::Object::New(env);
    // whisper.cpp's times are centiseconds.
    segment.Set("start", result.t0 * 0.01);
    segment.Set("end", result.t1 * 0.01);
    segment.Set("text", result.text);
    segment.Set("noSpeechProb", result.no_speech_prob);
    Napi::Array tokens = Napi::Array::New(env, result.tokens.size());
    for (size_t k = 0; k < result.tokens.size(); k++) {
      const TokenResult& data = result.tokens[k];
      Napi::Object token = Napi::Object::New(env);
      token.Set("id", data.id);
      token.Set("text", data.text);
      token.Set("p", data.p);
      if (token_timestamps_) {
        token.Set("start", data.t0 * 0.01);
        token.Set("end", data.t1 * 0.01);
      }
      tokens.Set(static_cast<uint32_t>(k), token);
    }
    segment.Set("tokens", tokens);
    return segment;
  }

  void FreeState() {
    if (state_ != nullptr) api.whisper_free_state(state_);
    state_ = nullptr;
  }

  Model* model_;
  Napi::Reference<Napi::Value> model_ref_;
  Napi::Reference<Napi::Value> samples_ref_;
  const float* samples_;
  int n_samples_;
  std::string language_;
  std::string prompt_;
  bool has_temperature_ = false;
  float temperature_ = 0.0f;
  int threads_ = 0;
  bool translate_ = false;
  bool token_timestamps_ = false;
  bool language_only_ = false;
  whisper_state* state_ = nullptr;
  int lang_id_ = -1;
  float lang_p_ = 0.0f;
  const char* language_code_ = nullptr;
  std::vector<SegmentResult> segments_;
  std::string log_;
};

/**
 * transcribe(handle, samples, options, callback(err, result)) → abort(). The samples are read in
 * place (not copied); the caller must leave them alone until the callback.
 */
Napi::Value Transcribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[1].IsTypedArray() || !info[2].IsObject() || !info[3].IsFunction()) {
    throw Napi::TypeError::New(env, "transcribe(handle, Float32Array, options, callback)");
  }
  Model* model = Unwrap<Model>(info[0], "model handle");
  if (model->ctx == nullptr) throw Napi::Error::New(env, "the model was freed");
  Napi::TypedArray typed = info[1].As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "samples must be a Float32Array");
  auto* worker = new TranscribeWorker(info[3].As<Napi::Function>(), info[0], model, info[1].As<Napi::Float32Array>(),
                                      info[2].As<Napi::Object>());
  std::shared_ptr<std::atomic<bool>> aborted = worker->aborted;
  worker->Queue();
  return Napi::Function::New(env, [aborted](const Napi::CallbackInfo&) { aborted->store(true); });
}

class LoadVadWorker : public PromiseWorker {
 public:
  LoadVadWorker(Napi::Env env, std::string path, int threads) : PromiseWorker(env), path_(std::move(path)), threads_(threads) {}

  void Execute() override {
    CaptureLog capture(&log_);
    whisper_vad_context_params params = api.whisper_vad_default_context_params();
    params.use_gpu = false;
    if (threads_ > 0) params.n_threads = threads_;
    ctx_ = api.whisper_vad_init_from_file_with_params(path_.c_str(), params);
    if (ctx_ == nullptr) {
      const std::string line = LastLine(log_);
      SetError(line.empty() ? "whisper.cpp could not read the VAD model file" : line);
      return;
    }
    if (log_.find("no tensors loaded") != std::string::npos) {
      api.whisper_vad_free(ctx_);
      ctx_ = nullptr;
      SetError("the VAD file holds no weights (truncated download?)");
    }
  }

  Napi::Value Resolve() override {
    auto* vad = new Vad();
    vad->ctx = ctx_;
    return Napi::External<Vad>::New(Env(), vad, [](Napi::Env, Vad* v) {
      if (v->ctx != nullptr) api.whisper_vad_free(v->ctx);
      delete v;
    });
  }

 private:
  std::string path_;
  int threads_;
  std::string log_;
  whisper_vad_context* ctx_ = nullptr;
};

/** loadVad(path, threads) → Promise<handle>. */
Napi::Value LoadVad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env);
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "loadVad(path, threads)");
  const int threads = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  auto* worker = new LoadVadWorker(env, info[0].As<Napi::String>(), threads);
  worker->Queue();
  return worker->Promise();
}

class DetectSpeechWorker : public Napi::AsyncWorker {
 public:
  DetectSpeechWorker(Napi::Function callback, Napi::Value handle, Vad* vad, Napi::Float32Array samples,
                     const Napi::Object& options)
      : Napi::AsyncWorker(callback),
        vad_(vad),
        samples_(samples.Data()),
        n_samples_(static_cast<int>(samples.ElementLength())),
        params_(api.whisper_vad_default_params()) {
    handle_ref_ = Napi::Persistent(handle);
    samples_ref_ = Napi::Persistent(static_cast<Napi::Value>(samples));
    Napi::Value threshold = options.Get("threshold");
    if (threshold.IsNumber()) params_.threshold = threshold.As<Napi::Number>().FloatValue();
    // Regions as the model sees them: no padding, no minimum speech or silence length.
    if (BoolOption(options, "raw")) {
      params_.min_speech_duration_ms = 0;
      params_.min_silence_duration_ms = 0;
      params_.speech_pad_ms = 0;
    }
  }

  void Execute() override {
    CaptureLog capture(&log_);
    if (vad_->ctx == nullptr) {
      SetError("the VAD model was freed");
      return;
    }
    whisper_vad_segments* segments = api.whisper_vad_segments_from_samples(vad_->ctx, params_, samples_, n_samples_);
    if (segments == nullptr) {
      SetError("voice activity detection failed: " + LastLine(log_));
      return;
    }
    const int n = api.whisper_vad_segments_n_segments(segments);
    for (int i = 0; i < n; i++) {
      // Centiseconds.
      regions_.push_back({api.whisper_vad_segments_get_segment_t0(segments, i) * 0.01,
                          api.whisper_vad_segments_get_segment_t1(segments, i) * 0.01});
    }
    api.whisper_vad_free_segments(segments);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Array regions = Napi::Array::New(env, regions_.size());
    for (size_t i = 0; i < regions_.size(); i++) {
      Napi::Object region = Napi::Object::New(env);
      region.Set("start", regions_[i].first);
      region.Set("end", regions_[i].second);
      regions.Set(static_cast<uint32_t>(i), region);
    }
    Callback().Call({env.Null(), regions});
  }

 private:
  Vad* vad_;
  Napi::Reference<Napi::Value> handle_ref_;
  Napi::Reference<Napi::Value> samples_ref_;
  const float* samples_;
  int n_samples_;
  whisper_vad_params params_;
  std::vector<std::pair<double, double>> regions_;
  std::string log_;
};

/**
 * detectSpeech(handle, samples, {threshold?, raw?}, callback(err, [{start, end}] in seconds));
 * one call at a time per handle.
 */
Napi::Value DetectSpeech(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[1].IsTypedArray() || !info[2].IsObject() || !info[3].IsFunction()) {
    throw Napi::TypeError::New(env, "detectSpeech(handle, Float32Array, options, callback)");
  }
  Vad* vad = Unwrap<Vad>(info[0], "VAD handle");
  if (vad->ctx == nullptr) throw Napi::Error::New(env, "the VAD model was freed");
  Napi::TypedArray typed = info[1].As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "samples must be a Float32Array");
  auto* worker = new DetectSpeechWorker(info[3].As<Napi::Function>(), info[0], vad, info[1].As<Napi::Float32Array>(),
                                        info[2].As<Napi::Object>());
  worker->Queue();
  return env.Undefined();
}

class FreeVadWorker : public PromiseWorker {
 public:
  FreeVadWorker(Napi::Env env, whisper_vad_context* ctx) : PromiseWorker(env), ctx_(ctx) {}
  void Execute() override {
    if (ctx_ != nullptr) api.whisper_vad_free(ctx_);
  }

 private:
  whisper_vad_context* ctx_;
};

/** freeVad(handle) → Promise; the caller waits for its running call first. Safe twice. */
Napi::Value FreeVad(const Napi::CallbackInfo& info) {
  Vad* vad = Unwrap<Vad>(info[0], "VAD handle");
  whisper_vad_context* ctx = vad->ctx;
  vad->ctx = nullptr;
  auto* worker = new FreeVadWorker(info.Env(), ctx);
  worker->Queue();
  return worker->Promise();
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
#ifdef __GLIBC__
  // whisper.cpp allocates and frees buffers of a few MB on every call (samples, mel, state).
  // glibc's adaptive threshold soon serves those from the heap, which it rarely returns to the
  // system, so a server's RSS ratchets up request after request. A fixed threshold keeps them
  // in their own mappings, given back on free.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
  exports.Set("headerVersion", kHeaderVersion);
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
  exports.Set("freeModel", Napi::Function::New(env, FreeModel));
  exports.Set("transcribe", Napi::Function::New(env, Transcribe));
  exports.Set("loadVad", Napi::Function::New(env, LoadVad));
  exports.Set("detectSpeech", Napi::Function::New(env, DetectSpeech));
  exports.Set("freeVad", Napi::Function::New(env, FreeVad));
  return exports;
}

}  // namespace

NODE_API_MODULE(whisper_current, InitModule)
