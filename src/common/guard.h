// Units of work that never take the process down. An exception escaping a thread's function
// calls std::terminate: one malformed object met by a worker thread would abort the whole server,
// and abort it again at every restart. Each thread entry point (and each object a controller
// pass visits) runs its work through RunGuarded, which turns an escaping exception into a message
// for `report`; the caller then goes on with the next unit.
//
// Thread safety: stateless.
#pragma once

#include <cstdio>
#include <exception>
#include <string>

namespace migdra {

// Runs `work()`. Returns true when it finished; false when it threw, after calling
// `report(message)` with the exception's what(). An exception thrown by `report` itself is
// written to stderr and dropped.
template <class Work, class Report>
bool RunGuarded(Work&& work, Report&& report) noexcept {
  std::string message;
  try {
    work();
    return true;
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown exception";
  }
  try {
    report(message);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "migdra: reporting \"%s\" failed: %s\n", message.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "migdra: reporting \"%s\" failed\n", message.c_str());
  }
  return false;
}

}  // namespace migdra
