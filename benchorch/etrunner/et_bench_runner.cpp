// benchorch's ExecuTorch benchmark runner for hosts (--device local, the x86_64 virtual phone).
//
// Built by `benchorch build --runtime executorch --target host` against the executorch pip
// wheel's executorch/lib/*.so and executorch/include/. It speaks upstream executor_runner's
// flags and prints its lines (in the posix PAL's format, on stderr), so the same parser reads
// both:
//   --model_path PATH  --num_executions N  --cpu_threads N  --print_output=none
//   Model loaded in %f ms.
//   Iteration %u of %u: %f ms                      (one per execution: forward only)
//   Model executed successfully %u time(s) in %f ms.
// Failures as upstream: a file that cannot be opened aborts after "Failed to open ..."; a
// program that does not load or run exits 1 after the runtime's own message.
// Inputs are ones of each input's shape and type, as executor_runner's are.
//
// Built with -DBENCHORCH_LOGCAT the runner logs as the android PAL does: every log line goes to
// logcat (tag ExecuTorch) and none to stderr. It writes liblog's datagrams to logd's socket,
// $BENCHORCH_LOGDW (the virtual phone's logd) or else /dev/socket/logdw, and, like liblog,
// drops a line that logd does not take.

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor_ptr_maker.h>
#include <executorch/runtime/platform/runtime.h>

#ifdef BENCHORCH_LOGCAT
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <ctime>
#endif

#include <chrono>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// threadpool.h is not in the wheel; libexecutorch_threadpool.so exports these symbols.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point kStart = Clock::now();

#ifdef BENCHORCH_LOGCAT
// One logcat entry as liblog sends it: u8 log id (0: main), u16 tid, u32 sec, u32 nsec (little
// endian, CLOCK_REALTIME), then u8 priority, the tag and the message, each NUL-terminated.
void logcat_write(char level, const char* message) {
  static int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  const char* path = std::getenv("BENCHORCH_LOGDW");
  if (path == nullptr || *path == '\0') path = "/dev/socket/logdw";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const unsigned tid = static_cast<unsigned>(syscall(SYS_gettid));
  const unsigned sec = static_cast<unsigned>(now.tv_sec);
  const unsigned nsec = static_cast<unsigned>(now.tv_nsec);
  std::string packet;
  packet.push_back('\0');
  for (int i = 0; i < 2; ++i) packet.push_back(static_cast<char>((tid >> (8 * i)) & 0xff));
  for (int i = 0; i < 4; ++i) packet.push_back(static_cast<char>((sec >> (8 * i)) & 0xff));
  for (int i = 0; i < 4; ++i) packet.push_back(static_cast<char>((nsec >> (8 * i)) & 0xff));
  const char* priorities = "VDIWEF";
  const char* at = std::strchr(priorities, level);
  packet.push_back(static_cast<char>(at != nullptr ? 2 + (at - priorities) : 4));
  packet.append("ExecuTorch");
  packet.push_back('\0');
  packet.append(message);
  packet.push_back('\0');
  sendto(fd, packet.data(), packet.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
         sizeof(addr));
}

// The runtime's own messages (a program that does not load...) take the same way: a PAL whose
// log goes to logcat, registered before runtime_init() as the android PAL is built in.
void pal_to_logcat(et_timestamp_t, et_pal_log_level_t level, const char*, const char*, size_t,
                   const char* message, size_t length) {
  std::string text(message, length);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  logcat_write(static_cast<char>(level), text.c_str());
}
#endif

// One line as the posix PAL writes it: "I 00:00:00.004129 executorch:FILE:LINE] message";
// built with BENCHORCH_LOGCAT, the message alone as a logcat entry.
void log_line(char level, int line, const char* format, ...) {
#ifdef BENCHORCH_LOGCAT
  (void)line;
  char message[1024];
  va_list list;
  va_start(list, format);
  std::vsnprintf(message, sizeof(message), format, list);
  va_end(list);
  logcat_write(level, message);
#else
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - kStart)
                      .count();
  const long long s = us / 1000000;
  std::fprintf(stderr, "%c %02lld:%02lld:%02lld.%06lld executorch:et_bench_runner.cpp:%d] ",
               level, s / 3600, (s / 60) % 60, s % 60, static_cast<long long>(us % 1000000),
               line);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::fflush(stderr);
#endif
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Flags {
  std::string model_path = "model.pte";
  unsigned num_executions = 1;
  int cpu_threads = -1;
  std::string print_output = "none";
};

bool parse_unsigned(const char* text, long long low, long long* out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < low || v > 1000000000LL) return false;
  *out = v;
  return true;
}

// gflags' spellings: --name=value, --name value, -name=value.
int parse_flags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      std::fprintf(stderr, "ERROR: unexpected argument '%s'\n", argv[i]);
      return 1;
    }
    arg = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name = arg, value;
    const auto eq = arg.find('=');
    if (eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "ERROR: flag '%s' is missing its argument\n", argv[i]);
      return 1;
    }
    long long number = 0;
    if (name == "model_path") {
      flags->model_path = value;
    } else if (name == "num_executions") {
      if (!parse_unsigned(value.c_str(), 1, &number)) {
        std::fprintf(stderr, "ERROR: illegal value '%s' specified for flag 'num_executions'\n",
                     value.c_str());
        return 1;
      }
      flags->num_executions = static_cast<unsigned>(number);
    } else if (name == "cpu_threads") {
      if (!parse_unsigned(value.c_str(), -1, &number)) {
        std::fprintf(stderr, "ERROR: illegal value '%s' specified for flag 'cpu_threads'\n",
                     value.c_str());
        return 1;
      }
      flags->cpu_threads = static_cast<int>(number);
    } else if (name == "print_output") {
      flags->print_output = value;
    } else {
      std::fprintf(stderr, "ERROR: unknown command line flag '%s'\n", name.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using executorch::extension::module::Module;
  using executorch::runtime::Error;
  using executorch::runtime::EValue;

#ifdef BENCHORCH_LOGCAT
  executorch::runtime::register_pal(
      executorch::runtime::PalImpl::create(pal_to_logcat, __FILE__));
#endif
  executorch::runtime::runtime_init();
  Flags flags;
  if (parse_flags(argc, argv, &flags) != 0) return 1;

  if (flags.cpu_threads > 0) {
    auto* pool = executorch::extension::threadpool::get_threadpool();
    if (pool != nullptr) pool->_unsafe_reset_threadpool(static_cast<uint32_t>(flags.cpu_threads));
  }
  if (FILE* probe = std::fopen(flags.model_path.c_str(), "rb")) {
    std::fclose(probe);
  } else {
    log_line('E', __LINE__, "Failed to open %s: %s", flags.model_path.c_str(),
             std::strerror(errno));
    std::abort();  // upstream's ET_CHECK_MSG on the data loader: exit 134
  }

  const auto load_start = Clock::now();
  Module module(flags.model_path, Module::LoadMode::File);
  const Error loaded = module.load_forward();
  if (loaded != Error::Ok) {
    log_line('E', __LINE__, "Loading method forward failed with status 0x%x",
             static_cast<unsigned>(loaded));
    return 1;
  }
  log_line('I', __LINE__, "Model loaded in %f ms.", ms_since(load_start));

  auto meta = module.method_meta("forward");
  if (!meta.ok()) {
    log_line('E', __LINE__, "method_meta failed with status 0x%x",
             static_cast<unsigned>(meta.error()));
    return 1;
  }
  std::vector<executorch::extension::TensorPtr> tensors;
  std::vector<EValue> inputs;
  for (size_t i = 0; i < meta->num_inputs(); ++i) {
    auto info = meta->input_tensor_meta(i);
    if (!info.ok()) {
      log_line('E', __LINE__, "input %zu is not a tensor: this runner feeds tensors only", i);
      return 1;
    }
    std::vector<executorch::aten::SizesType> sizes(info->sizes().begin(), info->sizes().end());
    tensors.push_back(executorch::extension::full(sizes, 1, info->scalar_type()));
    inputs.emplace_back(tensors.back());
  }
  log_line('I', __LINE__, "Inputs prepared.");

  double total_ms = 0.0;
  for (unsigned i = 0; i < flags.num_executions; ++i) {
    const auto start = Clock::now();
    auto result = module.forward(inputs);
    const double ms = ms_since(start);
    if (!result.ok()) {
      log_line('E', __LINE__, "Execution of method forward failed with status 0x%x",
               static_cast<unsigned>(result.error()));
      return 1;
    }
    total_ms += ms;
    log_line('I', __LINE__, "Iteration %u of %u: %f ms", i + 1, flags.num_executions, ms);
  }
  log_line('I', __LINE__, "Model executed successfully %u time(s) in %f ms.",
           flags.num_executions, total_ms);
  if (flags.print_output != "none") {
    auto outputs = module.forward(inputs);
    if (outputs.ok()) {
      for (size_t i = 0; i < outputs->size(); ++i) {
        const auto& v = (*outputs)[i];
        if (!v.isTensor()) continue;
        const auto& t = v.toTensor();
        log_line('I', __LINE__, "%zu: tensor of %zd elements", i, static_cast<ssize_t>(t.numel()));
      }
    }
  }
  return 0;
}
