#include "milter/milter_session.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "common/text.hpp"
#include "milter/decision.hpp"
#include "milter/header_text.hpp"
#include "milter/message_facts.hpp"

namespace tlsrelay::milter {

namespace {

MilterRuntime* g_runtime = nullptr;

// Only the macros this milter reads; requested with smfi_setsymlist for MAIL FROM (TLS
// facts are there after STARTTLS, AUTH after AUTH) and end of message (Postfix assigns
// the queue id only after the first accepted RCPT by default).
constexpr const char* kMailMacros =
    "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer} {auth_authen}";
constexpr const char* kEomMacros = "i";

struct Message {
  MessageFacts facts;
  int route_fields = 0;  // copies of our own fields the message arrived with
  int inbound_fields = 0;
};

struct Connection {
  std::string session;
  std::unique_ptr<Message> message;
};

std::string macro(SMFICTX* ctx, const char* name) {
  const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
  return v ? std::string(v) : std::string();
}

Connection* connection(SMFICTX* ctx) {
  return static_cast<Connection*>(smfi_getpriv(ctx));
}

// Connection state, made on first use (connect normally; a callback after a failed
// allocation in connect gets a second chance).
Connection* ensure_connection(SMFICTX* ctx) {
  if (Connection* c = connection(ctx)) return c;
  auto c = std::make_unique<Connection>();
  c->session = "m" + std::to_string(g_runtime->next_session.fetch_add(1));
  if (smfi_setpriv(ctx, c.get()) != MI_SUCCESS) return nullptr;
  return c.release();
}

// The exception barrier every callback goes through: libmilter is C, an exception
// unwinding into it is undefined behaviour. On one, the message is accepted (fail open).
template <typename Fn>
sfsistat guarded(SMFICTX* ctx, const char* stage, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    Connection* c = ctx ? connection(ctx) : nullptr;
    log_line(c ? c->session : "", LogFields("internal-error")
                                      .add("stage", stage)
                                      .add("error", printable(e.what(), 200))
                                      .add("action", "accept"));
  } catch (...) {
    log_line("", LogFields("internal-error").add("stage", stage).add("action", "accept"));
  }
  return SMFIS_CONTINUE;
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long,
                      unsigned long, unsigned long* pf0, unsigned long* pf1, unsigned long* pf2,
                      unsigned long* pf3) {
  return guarded(ctx, "negotiate", [&] {
    // Only the actions used: add our fields, remove forged copies, hold, ask for macros.
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
    // Steps we do not need, where the MTA can leave them out.
    *pf1 = f1 & (SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOEOH | SMFIP_NOUNKNOWN |
                 SMFIP_NODATA);
    *pf2 = 0;
    *pf3 = 0;
    if (f0 & SMFIF_SETSYMLIST) {
      smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>(kMailMacros));
      smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>(kEomMacros));
    }
    return SMFIS_CONTINUE;
  });
}

sfsistat on_connect(SMFICTX* ctx, char*, _SOCK_ADDR*) {
  return guarded(ctx, "connect", [&] {
    ensure_connection(ctx);
    return SMFIS_CONTINUE;
  });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
  return guarded(ctx, "envfrom", [&] {
    Connection* c = ensure_connection(ctx);
    if (!c) return SMFIS_CONTINUE;
    auto m = std::make_unique<Message>();
    std::vector<std::string> params;
    for (int i = 1; argv && argv[0] && argv[i]; ++i) params.emplace_back(argv[i]);
    m->facts.requiretls = has_requiretls(params);
    InboundFacts& in = m->facts.inbound;
    in.tls_version = macro(ctx, "{tls_version}");
    in.cipher = macro(ctx, "{cipher}");
    in.cipher_bits = macro(ctx, "{cipher_bits}");
    in.cert_subject = macro(ctx, "{cert_subject}");
    in.cert_issuer = macro(ctx, "{cert_issuer}");
    in.auth_authen = macro(ctx, "{auth_authen}");
    c->message = std::move(m);
    return SMFIS_CONTINUE;
  });
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
  return guarded(ctx, "header", [&] {
    Connection* c = connection(ctx);
    if (!c || !c->message || !name) return SMFIS_CONTINUE;
    Message& m = *c->message;
    if (iequals(name, "TLS-Required") && m.facts.tls_required == TlsRequiredField::Absent) {
      m.facts.tls_required = parse_tls_required(value ? value : "");
    } else if (iequals(name, kRouteField)) {
      ++m.route_fields;
    } else if (iequals(name, kInboundField)) {
      ++m.inbound_fields;
    }
    return SMFIS_CONTINUE;
  });
}

// Removes the copies of one of our fields that the message arrived with: a sender must
// not be able to pass its own "TLS-Relay-Route: state=healthy" off as ours.
void remove_forged(SMFICTX* ctx, std::string_view name, int count, const std::string& session) {
  for (int i = count; i >= 1; --i) {
    if (smfi_chgheader(ctx, const_cast<char*>(std::string(name).c_str()), i, nullptr) !=
        MI_SUCCESS) {
      log_line(session, LogFields("warning")
                            .add("what", name)
                            .add("note", "could not remove a copy the message arrived with"));
      return;
    }
  }
}

sfsistat on_eom(SMFICTX* ctx) {
  return guarded(ctx, "eom", [&] {
    Connection* c = ensure_connection(ctx);
    if (!c) return SMFIS_CONTINUE;
    std::unique_ptr<Message> m = std::move(c->message);
    if (!m) m = std::make_unique<Message>();  // no MAIL FROM seen (cannot happen in Postfix)
    const std::string queue_id = printable(macro(ctx, "i"), 40);
    MilterRuntime& rt = *g_runtime;
    rt.messages.fetch_add(1);

    const StatusReading status = rt.cache->get();
    Decision d = decide(status, m->facts, rt.settings);
    const auto now = FailOpenLog::Clock::now();
    if (d.fail_open) {
      if (auto line = rt.fail_open->record(status.problem, now)) log_line(c->session, *line);
    } else if (auto line = rt.fail_open->recovered(now)) {
      log_line(c->session, *line);
    }

    remove_forged(ctx, kRouteField, m->route_fields, c->session);
    remove_forged(ctx, kInboundField, m->inbound_fields, c->session);

    sfsistat answer = SMFIS_CONTINUE;
    if (d.verdict == Verdict::Hold &&
        smfi_quarantine(ctx, const_cast<char*>(d.quarantine_reason.c_str())) != MI_SUCCESS) {
      // The MTA did not grant quarantine: holding is impossible, so the mail stays with the
      // sender (4xx) rather than going on towards a failing route against the policy.
      log_line(c->session,
               LogFields("warning").add(
                   "note", "quarantine not available from the MTA; tempfail instead of hold"));
      d.verdict = Verdict::Tempfail;
      d.reply_code = "451";
      d.reply_xcode = "4.7.5";
      d.reply_text = reply_text(d.quarantine_reason + "; try again later");
    }
    if (d.verdict == Verdict::Tempfail) {
      if (smfi_setreply(ctx, d.reply_code.data(), d.reply_xcode.data(), d.reply_text.data()) !=
          MI_SUCCESS) {
        log_line(c->session, LogFields("warning").add(
                                 "note", "smfi_setreply failed; the MTA answers its own 4xx"));
      }
      answer = SMFIS_TEMPFAIL;
    } else {
      for (auto& h : d.headers) {
        if (smfi_addheader(ctx, h.name.data(), h.value.data()) != MI_SUCCESS) {
          log_line(c->session,
                   LogFields("warning").add("what", h.name).add("note", "could not add"));
        }
      }
    }
    LogFields line("message");
    line.add("queue_id", queue_id.empty() ? "-" : queue_id)
        .add("verdict", to_string(d.verdict))
        .add("why", d.why);
    if (status.route) {
      line.add("route_state", to_string(status.route->state))
          .add("upstream", status.route->upstream.empty() ? "-" : status.route->upstream);
      if (status.route->failure_class) line.add("class", *status.route->failure_class);
    } else {
      line.add("route_state", "unavailable");
    }
    line.add("requiretls", m->facts.requiretls ? "yes" : "no");
    // Postfix logs "milter triggers HOLD action" without the reason: it is kept here.
    if (d.verdict == Verdict::Hold) line.add("hold_reason", d.quarantine_reason);
    if (m->facts.tls_required == TlsRequiredField::No) line.add("tls_required", "no");
    if (m->route_fields + m->inbound_fields > 0) {
      line.add("removed_forged", static_cast<std::uint64_t>(m->route_fields + m->inbound_fields));
    }
    log_line(c->session, line);
    return answer;
  });
}

sfsistat on_abort(SMFICTX* ctx) {
  return guarded(ctx, "abort", [&] {
    if (Connection* c = connection(ctx)) c->message.reset();
    return SMFIS_CONTINUE;
  });
}

sfsistat on_close(SMFICTX* ctx) {
  return guarded(ctx, "close", [&] {
    // close may come without connect (the MTA gave up early): no data then.
    std::unique_ptr<Connection> c(connection(ctx));
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
  });
}

}  // namespace

void set_milter_runtime(MilterRuntime* runtime) {
  g_runtime = runtime;
}

smfiDesc milter_description() {
  smfiDesc d{};
  d.xxfi_name = const_cast<char*>("tlsrelay-milter");
  d.xxfi_version = SMFI_VERSION;
  d.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST;
  d.xxfi_connect = on_connect;
  d.xxfi_envfrom = on_envfrom;
  d.xxfi_header = on_header;
  d.xxfi_eom = on_eom;
  d.xxfi_abort = on_abort;
  d.xxfi_close = on_close;
  d.xxfi_negotiate = on_negotiate;
  return d;
}

}  // namespace tlsrelay::milter
