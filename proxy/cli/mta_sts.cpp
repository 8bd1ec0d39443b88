#include "proxy/cli/mta_sts.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include "common/text.hpp"

namespace tlsrelay::proxy {

namespace {

// What the domain published, quoted for a problem line: it is remote text, so escaped and
// cut (a policy file can hold anything up to 64 KiB).
std::string sts_quoted(std::string_view s) {
  return "\"" + printable(s, 64) + "\"";
}

bool sts_is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

std::string sts_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// RFC 8461 3.1 sts-id: 1*32(ALPHA / DIGIT).
bool sts_valid_id(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  for (char c : id) {
    if (!sts_is_alnum(c)) return false;
  }
  return true;
}

// sts-ext-name (RFC 8461 3.1, 3.2) and tlsrpt-ext-name (RFC 8460 3) alike:
// (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
bool sts_valid_ext_name(std::string_view name) {
  if (name.empty() || name.size() > 32 || !sts_is_alnum(name[0])) return false;
  for (char c : name) {
    if (!sts_is_alnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

// sts-ext-value / tlsrpt-ext-value: 1*(%x21-3A / %x3C / %x3E-7E), so no "=", ";", space
// or control character.
bool sts_valid_ext_value(std::string_view value) {
  if (value.empty()) return false;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E || c == '=' || c == ';') return false;
  }
  return true;
}

// RFC 5321 4.1.2 Domain, which sts-policy-mx-value builds on: dot-separated labels of
// letters, digits and inner hyphens; no trailing dot. Labels of at most 63 octets and a
// name of at most 253 are DNS's (RFC 1035 2.3.4).
bool sts_valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = d.find('.', start);
    const std::string_view label =
        d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!sts_is_alnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// One "key=value" field of a TXT record, as the record's fields are split at ";".
struct StsTxtField {
  std::string_view text;  // the field as written, without the WSP around it
  std::string_view key;
  std::string_view value;
  bool has_equals = false;
  bool spaced = false;  // whitespace around "=", which neither grammar allows
};

struct StsTxtFields {
  std::vector<StsTxtField> fields;
  bool bad_start = false;          // WSP or ";" before the first field
  bool empty_field = false;        // ";;"
  bool space_after_first = false;  // "v=STSv1 ;": WSP before the first ";"
};

// RFC 8461 3.1 and RFC 8460 3 share the shape: fields joined by *WSP ";" *WSP, one optional
// ";" at the end. Neither quotes, so a ";" always ends a field.
StsTxtFields sts_split_txt(std::string_view txt) {
  StsTxtFields out;
  out.bad_start = !txt.empty() && (is_wsp(txt.front()) || txt.front() == ';');
  std::size_t start = 0;
  bool first = true;
  while (start <= txt.size()) {
    const std::size_t semi = txt.find(';', start);
    const bool last = semi == std::string_view::npos;
    const std::string_view raw = txt.substr(start, last ? std::string_view::npos : semi - start);
    if (first && !last && !raw.empty() && is_wsp(raw.back())) out.space_after_first = true;
    const std::string_view text = trim_wsp(raw);
    if (text.empty()) {
      // Only the empty remainder after a final ";" is allowed.
      if (!last) out.empty_field = true;
    } else {
      StsTxtField f;
      f.text = text;
      const std::size_t eq = text.find('=');
      f.has_equals = eq != std::string_view::npos;
      if (f.has_equals) {
        const std::string_view k = text.substr(0, eq);
        const std::string_view v = text.substr(eq + 1);
        f.key = trim_wsp(k);
        f.value = trim_wsp(v);
        f.spaced = f.key.size() != k.size() || f.value.size() != v.size();
      } else {
        f.key = text;
      }
      out.fields.push_back(f);
    }
    if (last) break;
    start = semi + 1;
    first = false;
  }
  return out;
}

// Where the version field is, for a record that does not begin with it: "not ours" and
// "ours but written wrongly" are different findings for the audit.
enum class StsVersionAt { First, Later, CaseVariant, Absent };

StsVersionAt sts_find_version(const StsTxtFields& t, std::string_view tag,
                              std::string_view version) {
  if (t.fields.empty()) return StsVersionAt::Absent;
  const StsTxtField& f0 = t.fields[0];
  if (!t.bad_start && f0.has_equals && !f0.spaced && f0.key == tag && f0.value == version) {
    return StsVersionAt::First;
  }
  if (f0.has_equals && iequals(f0.key, tag) && iequals(f0.value, version)) {
    return StsVersionAt::CaseVariant;  // also "v = STSv1", a leading space or ";"
  }
  for (std::size_t i = 1; i < t.fields.size(); ++i) {
    const StsTxtField& f = t.fields[i];
    if (f.has_equals && iequals(f.key, tag) && iequals(f.value, version)) {
      return StsVersionAt::Later;
    }
  }
  return StsVersionAt::Absent;
}

// The problems of the record's shape that do not depend on which record it is.
// Returns false when the record is not what the grammar allows.
bool sts_check_shape(const StsTxtFields& t, std::string_view version_field,
                     std::vector<std::string>& problems) {
  bool ok = true;
  if (t.empty_field) {
    problems.push_back("an empty field (\";;\")");
    ok = false;
  }
  for (const StsTxtField& f : t.fields) {
    if (!f.has_equals) {
      problems.push_back("field " + sts_quoted(f.text) + " has no \"=\"");
      ok = false;
    } else if (f.spaced) {
      problems.push_back("field " + sts_quoted(f.text) + " has whitespace around \"=\"");
      ok = false;
    }
  }
  if (t.space_after_first) {
    // ABNF allows *WSP before ";", but the discard rule (RFC 8461 3.1, RFC 8460 3) looks
    // for the literal prefix "v=...;": erratum 6285. Senders differ, so it is named.
    problems.push_back("whitespace between " + std::string(version_field) +
                       " and \";\": senders that look for \"" + std::string(version_field) +
                       ";\" discard the record");
  }
  return ok;
}

void sts_version_problem(StsVersionAt at, std::string_view version_field,
                         std::vector<std::string>& problems) {
  switch (at) {
    case StsVersionAt::Later:
      problems.push_back(std::string(version_field) + " is not the first field");
      break;
    case StsVersionAt::CaseVariant:
      problems.push_back("the record does not begin with exactly \"" + std::string(version_field) +
                         "\"");
      break;
    case StsVersionAt::First:
    case StsVersionAt::Absent:
      break;
  }
}

// A key written in another case than the grammar's %s"..." (RFC 7405: case-sensitive) is
// an unknown field to a sender, so it is ignored, and the missing field follows from it.
void sts_case_problem(std::string_view key, std::initializer_list<std::string_view> known,
                      std::string_view where, std::vector<std::string>& problems) {
  for (std::string_view k : known) {
    if (key != k && iequals(key, k)) {
      problems.push_back(std::string(where) + "key " + sts_quoted(key) + " is not \"" +
                         std::string(k) + "\" (keys are case-sensitive): ignored");
      return;
    }
  }
}

// An unknown field is ignored when well-formed (RFC 8461 3.2, RFC 8460 3); false when not.
bool sts_check_extension(const StsTxtField& f, std::vector<std::string>& problems) {
  if (!f.has_equals || f.spaced) return true;  // already named by sts_check_shape
  if (!sts_valid_ext_name(f.key)) {
    problems.push_back("field name " + sts_quoted(f.key) + " is not a valid extension name");
    return false;
  }
  if (!sts_valid_ext_value(f.value)) {
    problems.push_back("field " + sts_quoted(f.text) + " has an empty or invalid value");
    return false;
  }
  return true;
}

// RFC 8460 3: "Two URI schemes are supported: mailto and https". A scheme is
// case-insensitive (RFC 3986 3.1).
std::string tlsrpt_uri_problem(std::string_view uri) {
  if (istarts_with(uri, "mailto:")) {
    if (uri.size() == 7 || uri.find('@') == std::string_view::npos) {
      return "rua URI " + sts_quoted(uri) + " has no mail address";
    }
  } else if (istarts_with(uri, "https:")) {
    if (!istarts_with(uri, "https://") || uri.size() == 8 || uri[8] == '/') {
      return "rua URI " + sts_quoted(uri) + " has no host";
    }
  } else {
    return "rua URI " + sts_quoted(uri) + " is neither mailto: nor https:";
  }
  for (char c : uri) {
    if (is_wsp(c) || static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7E) {
      return "rua URI " + sts_quoted(uri) + " holds a space or a byte a URI cannot hold";
    }
  }
  return {};
}

}  // namespace

StsRecord parse_sts_record(std::string_view txt) {
  StsRecord r;
  const StsTxtFields t = sts_split_txt(txt);
  const StsVersionAt at = sts_find_version(t, "v", "STSv1");
  r.is_sts = at == StsVersionAt::First;
  if (!r.is_sts) {
    // Another TXT record at _mta-sts (or a later version) is not ours: nothing to say.
    sts_version_problem(at, "v=STSv1", r.problems);
    return r;
  }
  // RFC 8461 3.1: a record that is "syntactically invalid" is as good as none.
  bool ok = sts_check_shape(t, "v=STSv1", r.problems);
  bool have_id = false;
  bool id_ok = false;
  for (std::size_t i = 1; i < t.fields.size(); ++i) {
    const StsTxtField& f = t.fields[i];
    if (!f.has_equals) continue;
    if (f.key == "v") {
      // RFC 8461 3.2: a repeated field counts once, the first.
      r.problems.push_back("v appears more than once; senders use the first");
    } else if (f.key == "id") {
      if (have_id) {
        r.problems.push_back("id appears more than once; senders use the first");
        continue;
      }
      have_id = true;
      r.id = std::string(f.value);
      id_ok = sts_valid_id(f.value);
      if (!id_ok) r.problems.push_back("id " + sts_quoted(f.value) + " is not 1-32 alphanumerics");
    } else {
      // RFC 8461 3.2: unknown fields "SHALL be ignored", when well-formed.
      sts_case_problem(f.key, {"id"}, "", r.problems);
      if (!sts_check_extension(f, r.problems)) ok = false;
    }
  }
  if (!have_id) r.problems.push_back("id is missing");
  r.valid = ok && id_ok;
  return r;
}

std::string_view to_string(StsMode m) {
  switch (m) {
    case StsMode::Enforce:
      return "enforce";
    case StsMode::Testing:
      return "testing";
    case StsMode::None:
      return "none";
  }
  return "?";
}

StsPolicy parse_sts_policy(std::string_view body) {
  StsPolicy p;
  bool have_version = false;
  bool version_ok = false;
  bool have_mode = false;
  bool have_max_age = false;
  bool max_age_ok = false;
  std::size_t start = 0;
  int line_no = 0;
  while (start < body.size()) {
    ++line_no;
    // RFC 8461 3.2: sts-policy-term = LF / CRLF; a last line without one is allowed.
    const std::size_t lf = body.find('\n', start);
    std::string_view line =
        body.substr(start, lf == std::string_view::npos ? std::string_view::npos : lf - start);
    start = lf == std::string_view::npos ? body.size() : lf + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string where = "line " + std::to_string(line_no) + ": ";

    if (trim_wsp(line).empty()) {
      p.problems.push_back(where + "blank line");
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      p.problems.push_back(where + sts_quoted(line) + " is not \"key: value\"; ignored");
      continue;
    }
    const std::string_view raw_key = line.substr(0, colon);
    const std::string_view key = trim_wsp(raw_key);
    // sts-policy-field-delim = ":" *WSP, then the value and *WSP: space before the key or
    // the colon is outside the grammar, but unambiguous, so the field is still read.
    if (key.size() != raw_key.size()) {
      p.problems.push_back(where + "whitespace around the key " + sts_quoted(key));
    }
    const std::string_view value = trim_wsp(line.substr(colon + 1));

    if (key == "version") {
      if (have_version) {
        // RFC 8461 3.2: "all entries except for the first SHALL be ignored".
        p.problems.push_back(where + "version appears more than once; senders use the first");
        continue;
      }
      have_version = true;
      version_ok = value == "STSv1";
      if (!version_ok) {
        p.problems.push_back(where + "version " + sts_quoted(value) + " is not STSv1");
      }
    } else if (key == "mode") {
      if (have_mode) {
        p.problems.push_back(where + "mode appears more than once; senders use the first");
        continue;
      }
      have_mode = true;
      if (value == "enforce") {
        p.mode = StsMode::Enforce;
      } else if (value == "testing") {
        p.mode = StsMode::Testing;
      } else if (value == "none") {
        p.mode = StsMode::None;
      } else {
        p.problems.push_back(where + "mode " + sts_quoted(value) +
                             " is not enforce, testing or none");
      }
    } else if (key == "max_age") {
      if (have_max_age) {
        p.problems.push_back(where + "max_age appears more than once; senders use the first");
        continue;
      }
      have_max_age = true;
      const bool digits = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
        return c >= '0' && c <= '9';
      });
      if (!digits) {
        p.problems.push_back(where + "max_age " + sts_quoted(value) +
                             " is not a non-negative integer");
        continue;
      }
      std::uint64_t n = 0;
      const bool fits = parse_u64(value, n) &&
                        n <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
      if (!fits || n > static_cast<std::uint64_t>(kStsMaxAgeLimit)) {
        p.problems.push_back(where + "max_age " + sts_quoted(value) + " is over " +
                             std::to_string(kStsMaxAgeLimit) + " (RFC 8461 3.2)");
        if (fits) p.max_age = static_cast<std::int64_t>(n);
        continue;
      }
      p.max_age = static_cast<std::int64_t>(n);
      max_age_ok = true;
    } else if (key == "mx") {
      std::string pattern = sts_lower(value);
      const std::string_view name =
          std::string_view(pattern).substr(pattern.rfind("*.", 0) == 0 ? 2 : 0);
      // sts-policy-mx-value = ["*."] Domain: a pattern outside it never matches an MX host.
      if (!sts_valid_domain(name)) {
        p.problems.push_back(where + "mx " + sts_quoted(value) +
                             " is not a host name or \"*.\" and a host name");
      }
      p.mx.push_back(std::move(pattern));
    } else {
      sts_case_problem(key, {"version", "mode", "max_age", "mx"}, where, p.problems);
      // Unknown keys are ignored (RFC 8461 3.2); one no grammar allows is named.
      if (!sts_valid_ext_name(key)) {
        p.problems.push_back(where + "key " + sts_quoted(key) + " is not a valid field name");
      }
    }
  }

  if (!have_version) p.problems.push_back("version is missing");
  if (!have_mode) p.problems.push_back("mode is missing");
  if (!have_max_age) p.problems.push_back("max_age is missing");
  const bool mx_needed = !(p.mode && *p.mode == StsMode::None);
  if (p.mx.empty() && mx_needed) {
    p.problems.push_back("no mx line (required unless mode is none)");
  }
  p.valid = version_ok && p.mode.has_value() && max_age_ok && (!mx_needed || !p.mx.empty());
  return p;
}

bool sts_mx_matches(std::string_view pattern, std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (pattern.empty() || host.empty()) return false;
  if (pattern.substr(0, 2) != "*.") return iequals(pattern, host);
  const std::string_view parent = pattern.substr(2);
  // RFC 8461 4.1: the wildcard stands for exactly one label, the leftmost.
  const std::size_t dot = host.find('.');
  if (parent.empty() || dot == 0 || dot == std::string_view::npos) return false;
  return iequals(host.substr(dot + 1), parent);
}

TlsRptRecord parse_tlsrpt_record(std::string_view txt) {
  TlsRptRecord r;
  const StsTxtFields t = sts_split_txt(txt);
  const StsVersionAt at = sts_find_version(t, "v", "TLSRPTv1");
  r.is_tlsrpt = at == StsVersionAt::First;
  if (!r.is_tlsrpt) {
    sts_version_problem(at, "v=TLSRPTv1", r.problems);
    return r;
  }
  // RFC 8460 3 says nothing of a malformed record beyond "syntactically valid" records
  // being accepted, so shape problems are named without costing the rua.
  sts_check_shape(t, "v=TLSRPTv1", r.problems);
  bool have_rua = false;
  bool uris_ok = true;
  for (std::size_t i = 1; i < t.fields.size(); ++i) {
    const StsTxtField& f = t.fields[i];
    if (!f.has_equals) continue;
    if (f.key == "v") {
      r.problems.push_back("v appears more than once; senders use the first");
    } else if (f.key == "rua") {
      if (have_rua) {
        r.problems.push_back("rua appears more than once; senders use the first");
        continue;
      }
      have_rua = true;
      // tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri); a "," inside a URI
      // must be percent-encoded, so every "," separates.
      std::size_t from = 0;
      while (from <= f.value.size()) {
        const std::size_t comma = f.value.find(',', from);
        const std::string_view uri = trim_wsp(f.value.substr(
            from, comma == std::string_view::npos ? std::string_view::npos : comma - from));
        if (uri.empty()) {
          r.problems.push_back("an empty URI in rua (a stray \",\")");
        } else {
          std::string why = tlsrpt_uri_problem(uri);
          if (!why.empty()) {
            r.problems.push_back(std::move(why));
            uris_ok = false;
          }
          r.rua.emplace_back(uri);
        }
        if (comma == std::string_view::npos) break;
        from = comma + 1;
      }
    } else {
      sts_case_problem(f.key, {"rua"}, "", r.problems);
      sts_check_extension(f, r.problems);
    }
  }
  if (!have_rua) {
    r.problems.push_back("rua is missing");
  } else if (r.rua.empty()) {
    r.problems.push_back("rua holds no URI");
  }
  r.valid = !r.rua.empty() && uris_ok;
  return r;
}

}  // namespace tlsrelay::proxy
