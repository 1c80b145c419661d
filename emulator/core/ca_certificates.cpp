#include "emulator/core/ca_certificates.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include "emulator/core/crypto.hpp"

namespace emu::core {

namespace {

struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct store_free {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct store_ctx_free {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct stack_free {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};

error invalid(std::string message) {
  return error{hub_error::argument_invalid, std::move(message)};
}

std::unique_ptr<X509, void (*)(X509*)> no_cert() {
  return {nullptr, X509_free};
}

/// PEM text, or base64 of DER or of PEM (ARM's `properties.certificate`).
std::unique_ptr<X509, void (*)(X509*)> read_certificate(std::string_view text) {
  auto from_pem = [](std::string_view pem) {
    std::unique_ptr<BIO, bio_free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return std::unique_ptr<X509, void (*)(X509*)>(
        bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, X509_free);
  };
  if (text.find("-----BEGIN") != std::string_view::npos) return from_pem(text);
  std::string compact;
  for (const char c : text)
    if (c != '\r' && c != '\n' && c != ' ') compact.push_back(c);
  const auto raw = base64_decode(compact);
  if (!raw || raw->empty()) return no_cert();
  if (raw->find("-----BEGIN") != std::string::npos) return from_pem(*raw);
  const auto* p = reinterpret_cast<const unsigned char*>(raw->data());
  return {d2i_X509(nullptr, &p, static_cast<long>(raw->size())), X509_free};
}

std::string to_pem(X509* x) {
  std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), x) != 1) return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string der_of(X509* x) {
  unsigned char* out = nullptr;
  const int n = i2d_X509(x, &out);
  if (n <= 0) return {};
  std::string der(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  return der;
}

std::string one_line(const X509_NAME* name) {
  std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
  // "CN=name, O=org" as Azure shows subjects (ONELINE without the spaces around '=').
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0,
                                 XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB & ~XN_FLAG_SPC_EQ) < 0)
    return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

/// The certificate's times and thumbprint via the same parser the devices' chains go through.
result<client_certificate> facts_of(X509* x) {
  const std::string der = der_of(x);
  return parse_client_certificate(std::span<const std::string>(&der, 1));
}

bool valid_at(const client_certificate& c, time_point now) {
  return c.not_before <= now && now < c.not_after;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string hex;
  for (const unsigned char b : raw) {
    hex.push_back(digits[b >> 4]);
    hex.push_back(digits[b & 0x0f]);
  }
  return hex;
}

status etag_holds(const ca_certificate& c, std::string_view if_match) {
  if (!if_match.empty() && if_match != "*" && if_match != c.etag)
    return error{hub_error::precondition_failed, "The etag does not match the certificate's etag."};
  return success();
}

error not_found(std::string_view name) {
  return error{hub_error::certificate_not_found,
               "Certificate '" + std::string(name) + "' not found."};
}

}  // namespace

bool is_valid_certificate_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void ca_certificates::x509_free::operator()(X509* x) const {
  X509_free(x);
}

ca_certificates::~ca_certificates() = default;

void ca_certificates::restore(const std::vector<ca_certificate>& all) {
  entries_.clear();
  for (const auto& c : all) {
    auto parsed = read_certificate(c.pem);
    if (!parsed) continue;  // cannot happen for what put() stored
    entries_.emplace(c.name, entry{c, x509_ptr(parsed.release())});
  }
}

void ca_certificates::clear() {
  entries_.clear();
}

std::string ca_certificates::new_etag() {
  return base64_encode(std::to_string(journal_.next(&hub_counters::next_generation)));
}

result<ca_certificate> ca_certificates::put(std::string_view name, std::string_view certificate,
                                            bool verified, std::string_view if_match,
                                            time_point now) {
  if (!is_valid_certificate_name(name))
    return invalid("The certificate name must be 1 to 64 of A-Z a-z 0-9 - _ .");
  const auto it = entries_.find(name);
  if (it != entries_.end()) {
    if (auto ok = etag_holds(it->second.value, if_match); !ok) return ok.error();
  } else if (!if_match.empty() && if_match != "*") {
    return not_found(name);
  }
  auto x = read_certificate(certificate);
  if (!x) return invalid("The certificate is not a PEM or base64 DER X.509 certificate.");
  if (X509_check_ca(x.get()) == 0)
    return invalid("The certificate is not a CA certificate (basicConstraints CA:TRUE).");
  const auto facts = facts_of(x.get());
  if (!facts) return facts.error();

  ca_certificate c;
  c.name = std::string(name);
  c.pem = to_pem(x.get());
  c.subject = one_line(X509_get_subject_name(x.get()));
  c.thumbprint = facts->sha1_thumbprint;
  c.not_before = facts->not_before;
  c.not_after = facts->not_after;
  c.verified = verified;
  c.etag = new_etag();
  c.created = it != entries_.end() ? it->second.value.created : now;
  c.updated = now;
  journal_.record(change::put_ca_certificate{c});
  entries_.insert_or_assign(c.name, entry{c, x509_ptr(x.release())});
  return c;
}

const ca_certificate* ca_certificates::find(std::string_view name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second.value;
}

std::vector<ca_certificate> ca_certificates::list() const {
  std::vector<ca_certificate> out;
  for (const auto& [name, e] : entries_) out.push_back(e.value);
  return out;
}

status ca_certificates::remove(std::string_view name, std::string_view if_match) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return not_found(name);
  if (auto ok = etag_holds(it->second.value, if_match); !ok) return ok;
  journal_.record(change::remove_ca_certificate{it->first});
  entries_.erase(it);
  return success();
}

result<ca_certificate> ca_certificates::generate_verification_code(std::string_view name,
                                                                   std::string_view if_match,
                                                                   time_point now) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return not_found(name);
  ca_certificate& c = it->second.value;
  if (auto ok = etag_holds(c, if_match); !ok) return ok.error();
  c.verification_code = random_hex(24);
  c.etag = new_etag();
  c.updated = now;
  journal_.record(change::put_ca_certificate{c});
  return c;
}

result<ca_certificate> ca_certificates::verify(std::string_view name, std::string_view if_match,
                                               std::string_view certificate, time_point now) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return not_found(name);
  ca_certificate& c = it->second.value;
  if (auto ok = etag_holds(c, if_match); !ok) return ok.error();
  if (c.verification_code.empty())
    return invalid("No verification code is pending: call generateVerificationCode first.");
  auto proof = read_certificate(certificate);
  if (!proof)
    return invalid("The verification certificate is not a PEM or base64 DER certificate.");
  const auto facts = facts_of(proof.get());
  if (!facts) return facts.error();
  if (facts->subject_common_name != c.verification_code)
    return invalid("The verification certificate's subject CN is not the verification code.");
  if (!valid_at(*facts, now)) return invalid("The verification certificate is not valid now.");
  EVP_PKEY* ca_key = X509_get0_pubkey(it->second.parsed.get());
  if (ca_key == nullptr || X509_verify(proof.get(), ca_key) != 1)
    return invalid("The verification certificate is not signed by this CA's private key.");
  c.verified = true;
  c.verification_code.clear();
  c.etag = new_etag();
  c.updated = now;
  journal_.record(change::put_ca_certificate{c});
  return c;
}

result<time_point> ca_certificates::check_chain(const client_certificate& presented,
                                                time_point now) const {
  const auto refuse = [](std::string why) {
    return error{hub_error::unauthorized, std::move(why)};
  };
  std::unique_ptr<X509_STORE, store_free> store(X509_STORE_new());
  bool any = false;
  for (const auto& [name, e] : entries_) {
    if (!e.value.verified) continue;
    X509_STORE_add_cert(store.get(), e.parsed.get());
    any = true;
  }
  if (!any) return refuse("The hub has no verified CA certificate.");
  if (presented.chain_der.empty()) return refuse("No client certificate was presented.");
  std::vector<std::unique_ptr<X509, void (*)(X509*)>> chain;
  for (const auto& der : presented.chain_der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    chain.emplace_back(d2i_X509(nullptr, &p, static_cast<long>(der.size())), X509_free);
    if (!chain.back()) return refuse("The client certificate does not parse.");
  }
  std::unique_ptr<STACK_OF(X509), stack_free> untrusted(sk_X509_new_null());
  for (std::size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  std::unique_ptr<X509_STORE_CTX, store_ctx_free> ctx(X509_STORE_CTX_new());
  if (!ctx ||
      X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(), untrusted.get()) != 1)
    return refuse("The certificate chain cannot be checked.");
  // The hub's time, not the machine's (the core never reads the clock); an intermediate CA
  // registered on the hub may be the anchor (Azure accepts intermediate CAs).
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(to_unix_ms(now) / 1000));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) == 1) {
    time_point earliest = presented.not_after;
    STACK_OF(X509)* verified = X509_STORE_CTX_get0_chain(ctx.get());
    for (int i = 0; verified != nullptr && i < sk_X509_num(verified); ++i)
      if (const auto facts = facts_of(sk_X509_value(verified, i));
          facts && facts->not_after < earliest)
        earliest = facts->not_after;
    return earliest;
  }
  const int code = X509_STORE_CTX_get_error(ctx.get());
  return refuse(std::string("The certificate does not chain to a verified CA of the hub: ") +
                X509_verify_cert_error_string(code) + ".");
}

}  // namespace emu::core
