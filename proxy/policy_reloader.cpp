#include "flow/proxy/policy_reloader.hpp"

#include <chrono>
#include <utility>

#include "flow/policy/reload_rule.hpp"
#include "flow/proxy/http/proxy_error.hpp"
#include "flow/proxy/network/handle_close.hpp"

namespace flow::proxy {
namespace {

// A burst of file events (write, rename, symlink swap) becomes one reload.
constexpr std::chrono::milliseconds kDebounce{100};

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

struct PolicyReloader::Watch {
  uv_fs_event_t handle{};
  PolicyReloader* owner = nullptr;
  std::string file;
};

// One reload on the thread pool. Owns what the worker touches; the loop side checks `alive`
// because the reloader may be gone by the time the job completes.
struct PolicyReloader::Job {
  uv_work_t req{};
  std::shared_ptr<policy::PolicyStore> store;
  std::string path;
  std::string trigger;
  std::shared_ptr<const policy::FlowConfig> running;
  std::optional<std::string> error;
  bool refused = false;                                   // valid, but reload_refusal said no
  std::vector<std::string> restart_only;                  // changed keys a reload does not apply
  std::shared_ptr<const policy::PolicySnapshot> applied;  // the new policy, on success
  std::uint64_t generation = 0;
  std::shared_ptr<bool> alive;
  PolicyReloader* owner = nullptr;
  std::vector<Done> done;  // told the result on the loop
};

PolicyReloader::PolicyReloader(uv_loop_t* loop, Logger& log,
                               std::shared_ptr<policy::PolicyStore> store, std::string path,
                               policy::FlowConfig running)
    : loop_(loop),
      log_(log),
      store_(std::move(store)),
      path_(std::move(path)),
      in_force_(std::make_shared<const policy::FlowConfig>(std::move(running))),
      debounce_(loop, [this] { start_job(); }),
      alive_(std::make_shared<bool>(true)) {}

PolicyReloader::~PolicyReloader() {
  *alive_ = false;
  if (watch_ != nullptr) {
    watch_->owner = nullptr;
    auto* handle = reinterpret_cast<uv_handle_t*>(&watch_->handle);
    close_handle(handle, std::move(watch_owner_));
  }
}

bool PolicyReloader::watch() {
  watch_owner_ = std::make_unique<Watch>();
  watch_owner_->owner = this;
  watch_owner_->file = base_name(path_);
  uv_fs_event_init(loop_, &watch_owner_->handle);
  watch_owner_->handle.data = watch_owner_.get();
  const std::string dir = directory_of(path_);
  const int rc = uv_fs_event_start(
      &watch_owner_->handle,
      [](uv_fs_event_t* h, const char* filename, int /*events*/, int status) {
        auto* w = static_cast<Watch*>(h->data);
        if (w->owner == nullptr || status != 0) return;
        // Our file, or the `..data` symlink of a ConfigMap volume; nothing else in the folder.
        const std::string name = filename ? filename : "";
        if (name.empty() || name == w->file || name == "..data") w->owner->request("file change");
      },
      dir.c_str(), 0);
  watch_ = watch_owner_.get();
  if (rc != 0) {
    std::string fields = "\"dir\":";
    append_json_string(fields, dir);
    fields += ",\"error\":\"" + std::string(uv_err_name(rc)) + "\"";
    log_.warn("cannot watch the policy file's directory; reload on SIGHUP only", fields);
    return false;
  }
  return true;
}

void PolicyReloader::request(const char* trigger) {
  trigger_ = trigger;
  if (running_) {
    again_ = true;
    return;
  }
  if (!debounce_.active()) debounce_.start(kDebounce);
}

void PolicyReloader::request(const char* trigger, Done done) {
  waiting_.push_back(std::move(done));
  request(trigger);
}

void PolicyReloader::start_job() {
  running_ = true;
  auto job = std::make_unique<Job>();
  job->done = std::exchange(waiting_, {});
  job->store = store_;
  job->path = path_;
  job->trigger = trigger_;
  job->running = in_force_;
  job->alive = alive_;
  job->owner = this;
  job->req.data = job.get();
  const int rc = uv_queue_work(
      loop_, &job->req,
      [](uv_work_t* req) {
        auto* j = static_cast<Job*>(req->data);
        j->error = j->store->reload(j->path, [j](const policy::FlowConfig& next) {
          if (auto why = policy::reload_refusal(*j->running, next)) {
            j->refused = true;
            return why;
          }
          j->restart_only = policy::restart_only_changes(*j->running, next);
          j->applied = next.policy;
          return std::optional<std::string>();
        });
        j->generation = j->store->generation();
      },
      [](uv_work_t* req, int /*status*/) {
        std::unique_ptr<Job> j(static_cast<Job*>(req->data));
        if (*j->alive) j->owner->finished(*j);
      });
  if (rc == 0) {
    job.release();  // owned by libuv until the after-work callback
  } else {
    running_ = false;
    log_.error("cannot schedule a policy reload",
               "\"error\":\"" + std::string(uv_err_name(rc)) + "\"");
    Result result;
    result.errors.push_back("cannot schedule a policy reload: " + std::string(uv_err_name(rc)));
    for (auto& done : job->done) done(result);
  }
}

void PolicyReloader::finished(Job& job) {
  running_ = false;
  std::string fields = "\"trigger\":";
  append_json_string(fields, job.trigger);
  if (job.error) {
    fields += job.refused ? ",\"reason\":" : ",\"error\":";
    append_json_string(fields, *job.error);
    log_.error(job.refused ? "policy reload refused; the policy in force is unchanged"
                           : "policy reload rejected; the policy in force is unchanged",
               fields);
  } else {
    auto next = std::make_shared<policy::FlowConfig>(*in_force_);
    next->policy = job.applied;
    in_force_ = std::move(next);
    fields += ",\"generation\":" + std::to_string(job.generation);
    log_.info("policy reloaded", fields);
    warn_restart_only(job);
  }
  tell(job);
  if (again_) {
    again_ = false;
    debounce_.start(kDebounce);
  }
}

void PolicyReloader::tell(Job& job) {
  if (job.done.empty()) return;
  Result result;
  result.applied = !job.error.has_value();
  if (job.error) result.errors.push_back(*job.error);
  for (const auto& key : job.restart_only) {
    result.warnings.push_back(key + " changed: it takes effect at the next restart");
  }
  result.generation = job.generation;
  for (auto& done : job.done) done(result);
}

void PolicyReloader::warn_restart_only(const Job& job) {
  if (job.restart_only.empty()) return;
  std::string keys;
  for (const auto& key : job.restart_only) {
    if (!keys.empty()) keys += ',';
    append_json_string(keys, key);
  }
  log_.warn("flow.yaml changes that need a restart were not applied", "\"keys\":[" + keys + "]");
}

}  // namespace flow::proxy
