#include "control/credentials.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "common/hex.h"

namespace migdra::control {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

Error Failure(const std::string& what) { return MakeError(ErrorReason::kInternal, what); }

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// Writes atomically (temp file + rename) with `mode`.
bool WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);
  ::fsync(fd);
  ::close(fd);
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

PkeyPtr NewKey() {
  return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

PkeyPtr LoadKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return PkeyPtr(key, EVP_PKEY_free);
}

X509Ptr LoadCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return X509Ptr(cert, X509_free);
}

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// Fills `out` from OpenSSL's random generator; false (with OpenSSL's reason in `error`) when it
// cannot, e.g. without entropy: a predictable token or serial must never be used.
bool RandomBytes(unsigned char* out, size_t n, std::string& error) {
  if (RAND_bytes(out, static_cast<int>(n)) == 1) return true;
  char reason[256] = "no reason given";
  if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, reason, sizeof reason);
  error = std::string("the random number generator failed (RAND_bytes): ") + reason;
  return false;
}

// ": why", or nothing when there is no reason to add.
std::string Reason(const std::string& why) { return why.empty() ? "" : ": " + why; }

// Signs a certificate for `key` with `issuer_key` (self-signed when issuer is null). Null, with
// `error` set, when no random serial number can be had.
X509Ptr MakeCert(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key,
                 bool is_ca, const std::string& subject_alt_names, long days, std::string& error) {
  X509Ptr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (!RandomBytes(serial, sizeof serial, error)) return X509Ptr(nullptr, X509_free);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("migdra"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* signer = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  bool ok = true;
  if (is_ca) {
    ok = ok && AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    ok = ok && AddExtension(cert.get(), signer, NID_key_usage,
                            "critical,keyCertSign,cRLSign,digitalSignature");
    ok = ok && AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  } else {
    ok = ok && AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    ok = ok && AddExtension(cert.get(), signer, NID_key_usage,
                            "critical,digitalSignature,keyEncipherment");
    ok = ok && AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    ok = ok && AddExtension(cert.get(), signer, NID_subject_alt_name, subject_alt_names);
  }
  if (!ok || X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
    return X509Ptr(nullptr, X509_free);
  }
  return cert;
}

bool IsIp(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string Base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// 32 random bytes in hex; nullopt (with `error`) when the generator fails.
std::optional<std::string> NewToken(std::string& error) {
  unsigned char raw[32];
  if (!RandomBytes(raw, sizeof raw, error)) return std::nullopt;
  return HexEncode(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
}

}  // namespace

Result<Credentials> EnsureCredentials(const std::string& data_dir, const std::string& host,
                                      int port) {
  if (::mkdir(data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Failure("cannot create " + data_dir + ": " + std::strerror(errno));
  }
  Credentials c;
  c.ca_cert_path = data_dir + "/ca.crt";
  const std::string ca_key_path = data_dir + "/ca.key";
  c.cert_path = data_dir + "/server.crt";
  c.key_path = data_dir + "/server.key";
  c.kubeconfig_path = data_dir + "/kubeconfig";
  const std::string token_path = data_dir + "/token";
  const std::string hosts_path = data_dir + "/server.hosts";

  std::string ca_pem, ca_key_pem;
  bool new_ca = !ReadFile(c.ca_cert_path, &ca_pem) || !ReadFile(ca_key_path, &ca_key_pem);
  X509Ptr ca(nullptr, X509_free);
  PkeyPtr ca_key(nullptr, EVP_PKEY_free);
  if (!new_ca) {
    ca = LoadCert(ca_pem);
    ca_key = LoadKey(ca_key_pem);
    new_ca = !ca || !ca_key;
  }
  if (new_ca) {
    ca_key = NewKey();
    if (!ca_key) return Failure("cannot generate the CA key");
    std::string why;
    ca = MakeCert(ca_key.get(), "migdra-ca", nullptr, nullptr, true, "", 3650, why);
    if (!ca) return Failure("cannot sign the CA certificate" + Reason(why));
    if (!WriteFile(ca_key_path, KeyPem(ca_key.get()), 0600) ||
        !WriteFile(c.ca_cert_path, CertPem(ca.get()), 0644)) {
      return Failure("cannot write the CA files in " + data_dir);
    }
    ReadFile(c.ca_cert_path, &ca_pem);
  }

  const std::string sans =
      "IP:127.0.0.1,IP:::1,DNS:localhost" +
      (host == "127.0.0.1" || host == "localhost" || host.empty() || host == "0.0.0.0"
           ? std::string()
           : std::string(IsIp(host) ? ",IP:" : ",DNS:") + host);
  std::string old_sans;
  if (new_ca || !Exists(c.cert_path) || !Exists(c.key_path) || !ReadFile(hosts_path, &old_sans) ||
      old_sans != sans) {
    PkeyPtr key = NewKey();
    if (!key) return Failure("cannot generate the serving key");
    std::string why;
    X509Ptr cert =
        MakeCert(key.get(), "migdra-apiserver", ca.get(), ca_key.get(), false, sans, 825, why);
    if (!cert) return Failure("cannot sign the serving certificate" + Reason(why));
    if (!WriteFile(c.key_path, KeyPem(key.get()), 0600) ||
        !WriteFile(c.cert_path, CertPem(cert.get()), 0644) || !WriteFile(hosts_path, sans, 0644)) {
      return Failure("cannot write the serving certificate in " + data_dir);
    }
  }

  if (!ReadFile(token_path, &c.token) || c.token.size() < 32) {
    std::string why;
    std::optional<std::string> token = NewToken(why);
    if (!token) return Failure("cannot make the API token: " + why);
    c.token = *token;
    if (!WriteFile(token_path, c.token, 0600)) {
      return Failure("cannot write " + token_path);
    }
  }
  while (!c.token.empty() && (c.token.back() == '\n' || c.token.back() == ' ')) c.token.pop_back();
  ::chmod(token_path.c_str(), 0600);

  std::string client_host = (host.empty() || host == "0.0.0.0") ? "127.0.0.1" : host;
  if (client_host == "::") client_host = "::1";
  if (client_host.find(':') != std::string::npos) client_host = "[" + client_host + "]";
  const std::string kubeconfig =
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: migdra\n"
      "  cluster:\n"
      "    server: https://" +
      client_host + ":" + std::to_string(port) +
      "\n"
      "    certificate-authority-data: " +
      Base64(ca_pem) +
      "\n"
      "users:\n"
      "- name: migdra-admin\n"
      "  user:\n"
      "    token: " +
      c.token +
      "\n"
      "contexts:\n"
      "- name: migdra\n"
      "  context:\n"
      "    cluster: migdra\n"
      "    user: migdra-admin\n"
      "    namespace: default\n"
      "current-context: migdra\n";
  if (!WriteFile(c.kubeconfig_path, kubeconfig, 0600)) {
    return Failure("cannot write " + c.kubeconfig_path);
  }
  return c;
}

}  // namespace migdra::control
