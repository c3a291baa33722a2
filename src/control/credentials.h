// The control plane's credentials, kept in its data directory and made at first start:
// a self-signed CA (ca.crt, ca.key), a serving certificate for the listen address signed by it
// (server.crt, server.key; remade when the address changes), a bearer token (token, mode 0600),
// and a kubeconfig pointing kubectl at the server with that CA and token.
//
// Thread safety: call from one thread at start-up.
#pragma once

#include <string>

#include "control/store.h"

namespace migdra::control {

struct Credentials {
  std::string ca_cert_path;
  std::string cert_path;
  std::string key_path;
  std::string token;
  std::string kubeconfig_path;
};

// Ensures every file exists and is valid for `host` (an IP address or DNS name); creates
// `data_dir` (mode 0700) if needed. Private keys and the token are written with mode 0600.
Result<Credentials> EnsureCredentials(const std::string& data_dir, const std::string& host,
                                      int port);

}  // namespace migdra::control
