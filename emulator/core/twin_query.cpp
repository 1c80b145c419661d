#include "emulator/core/twin_query.hpp"

#include <charconv>
#include <compare>
#include <cstdint>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "emulator/core/ascii.hpp"

// The twin query language subset of next-capabilities §2.5 (DOC "IoT Hub query language for
// device and module twins"). Three stages, each bounded by the input:
//   1. tokenize(): the whole text (at most query_limits::max_text_bytes) into tokens, with
//      the byte offset of each for error messages;
//   2. parser: recursive descent over the tokens, building an immutable tree. The recursion
//      depth is counted in "levels" — one per '(' and one per NOT — and refused beyond
//      query_limits::max_nesting, so hostile text cannot exhaust the stack. AND/OR chains are
//      n-ary nodes built by iteration, not left-deep trees, so a long `a=1 AND a=1 AND …`
//      does not deepen the tree (evaluation and destruction recurse only as deep as levels);
//   3. evaluate(): the tree over one device's twin JSON, with Azure's comparison rules.
//
// Error positions are 1-based byte offsets into the query text ("Syntax error at 23: …").

namespace emu::core {

using json = nlohmann::json;

/// The parsed WHERE condition. Immutable once built; queries share it through
/// shared_ptr<const node>, so copying a twin_query is cheap.
struct twin_query::node {
  /// A property path: the names of its segments (tags.location.region → 3 names).
  struct path {
    std::vector<std::string> names;
  };
  /// A literal: string, number (int64 or double), boolean or null.
  struct literal {
    json value;
  };
  using operand = std::variant<path, literal>;
  enum class op : std::uint8_t { eq, ne, lt, le, gt, ge };

  struct any_of {  // t1 OR t2 OR …   (at least two terms)
    std::vector<std::shared_ptr<const node>> terms;
  };
  struct all_of {  // t1 AND t2 AND … (at least two terms)
    std::vector<std::shared_ptr<const node>> terms;
  };
  struct negation {  // NOT term
    std::shared_ptr<const node> term;
  };
  struct comparison {  // left op right
    operand left;
    op how = op::eq;
    operand right;
  };
  struct is_defined {  // IS_DEFINED(path)
    path what;
  };

  std::variant<any_of, all_of, negation, comparison, is_defined> form;
};

namespace {

using node = twin_query::node;
using node_ptr = std::shared_ptr<const node>;

// ---- errors ---------------------------------------------------------------------------------

/// `at` is a 0-based byte offset; messages show it 1-based, as editors count columns.
error syntax(std::size_t at, std::string_view what) {
  return error{hub_error::argument_invalid,
               "Syntax error at " + std::to_string(at + 1) + ": " + std::string(what) + "."};
}

// ---- tokens ---------------------------------------------------------------------------------

struct token {
  enum class kind : std::uint8_t { word, string, number, symbol, end };
  kind what = kind::end;
  std::string text;  // word and symbol as written; string decoded
  json number;       // number: the value (int64 when integral and in range, else double)
  std::size_t at = 0;
};

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
/// Names: [A-Za-z_$][A-Za-z0-9_$-]* — `$` for $version/$metadata, `-` for device ids and
/// property names written unquoted. Locale-free on purpose: query text is protocol text.
constexpr bool word_start(char c) {
  return is_alpha(c) || c == '_' || c == '$';
}
constexpr bool word_char(char c) {
  return word_start(c) || is_digit(c) || c == '-';
}
constexpr bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/// How a token or character is named in messages: printable text quoted (cut at 32 bytes),
/// anything else as a byte value, so messages stay readable whatever the input.
std::string describe(const token& t) {
  switch (t.what) {
    case token::kind::end:
      return "the end of the query";
    case token::kind::string:
      return "a string";
    case token::kind::number:
      return "a number";
    case token::kind::word:
    case token::kind::symbol:
      break;
  }
  return "'" + t.text.substr(0, 32) + (t.text.size() > 32 ? "...'" : "'");
}

std::string describe(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x21 && byte < 0x7f) return std::string("'") + c + "'";
  static constexpr char hex[] = "0123456789abcdef";
  return std::string("byte 0x") + hex[byte >> 4] + hex[byte & 0xf];
}

void append_utf8(std::string& out, std::uint32_t cp) {
  const auto put = [&out](std::uint32_t b) { out += static_cast<char>(b); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xc0 | (cp >> 6));
    put(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    put(0xe0 | (cp >> 12));
    put(0x80 | ((cp >> 6) & 0x3f));
    put(0x80 | (cp & 0x3f));
  } else {
    put(0xf0 | (cp >> 18));
    put(0x80 | ((cp >> 12) & 0x3f));
    put(0x80 | ((cp >> 6) & 0x3f));
    put(0x80 | (cp & 0x3f));
  }
}

class tokenizer {
 public:
  explicit tokenizer(std::string_view text) : text_(text) {}

  result<std::vector<token>> run() {
    std::vector<token> out;
    while (true) {
      while (i_ < text_.size() && is_space(text_[i_])) ++i_;
      if (i_ == text_.size()) break;
      auto t = next();
      if (!t) return t.error();
      out.push_back(std::move(*t));
    }
    token end;
    end.at = text_.size();
    out.push_back(std::move(end));
    return out;
  }

 private:
  result<token> next() {
    const char c = text_[i_];
    if (word_start(c)) return word();
    if (is_digit(c) || (c == '-' && i_ + 1 < text_.size() && is_digit(text_[i_ + 1])))
      return number();
    if (c == '\'' || c == '"') return string();
    return symbol();
  }

  token word() {
    token t{token::kind::word, {}, {}, i_};
    const std::size_t start = i_;
    while (i_ < text_.size() && word_char(text_[i_])) ++i_;
    t.text = std::string(text_.substr(start, i_ - start));
    return t;
  }

  /// -?digits[.digits][(e|E)[+|-]digits]. Integers that fit in int64 stay exact (versions,
  /// counters); anything else is a double.
  result<token> number() {
    token t{token::kind::number, {}, {}, i_};
    const std::size_t start = i_;
    const auto digits = [this] {
      const std::size_t from = i_;
      while (i_ < text_.size() && is_digit(text_[i_])) ++i_;
      return i_ > from;
    };
    if (text_[i_] == '-') ++i_;
    digits();
    bool integral = true;
    if (i_ < text_.size() && text_[i_] == '.') {
      ++i_;
      integral = false;
      if (!digits()) return syntax(start, "malformed number (digits expected after '.')");
    }
    if (i_ < text_.size() && (text_[i_] == 'e' || text_[i_] == 'E')) {
      ++i_;
      integral = false;
      if (i_ < text_.size() && (text_[i_] == '+' || text_[i_] == '-')) ++i_;
      if (!digits()) return syntax(start, "malformed number (digits expected in the exponent)");
    }
    // "12abc" or "1.5.2" is one malformed token, not a number followed by something.
    if (i_ < text_.size() && (word_char(text_[i_]) || text_[i_] == '.'))
      return syntax(start, "malformed number");

    const std::string_view written = text_.substr(start, i_ - start);
    const char* const first = written.data();
    const char* const last = written.data() + written.size();
    if (integral) {
      std::int64_t value = 0;
      const auto [end, ec] = std::from_chars(first, last, value);
      if (ec == std::errc{} && end == last) {
        t.number = value;
        return t;
      }
    }
    double value = 0;
    const auto [end, ec] = std::from_chars(first, last, value);
    if (ec != std::errc{} || end != last) return syntax(start, "number out of range");
    t.number = value;
    return t;
  }

  /// 'text' or "text". Escapes: \' \" \\ and \uXXXX (DOC "IoT Hub query language": the
  /// allowed escapes), and in single-quoted strings a doubled '' stands for one quote, as in
  /// SQL. Any other backslash sequence is refused rather than guessed at.
  result<token> string() {
    token t{token::kind::string, {}, {}, i_};
    const char quote = text_[i_++];
    while (i_ < text_.size()) {
      const char c = text_[i_];
      if (c == quote) {
        if (quote == '\'' && i_ + 1 < text_.size() && text_[i_ + 1] == '\'') {
          t.text += '\'';
          i_ += 2;
          continue;
        }
        ++i_;
        return t;
      }
      if (c != '\\') {
        t.text += c;
        ++i_;
        continue;
      }
      const std::size_t escape_at = i_;
      if (i_ + 1 >= text_.size()) break;  // unterminated
      const char e = text_[i_ + 1];
      if (e == '\'' || e == '"' || e == '\\') {
        t.text += e;
        i_ += 2;
      } else if (e == 'u') {
        i_ += 2;
        auto cp = hex4();
        if (!cp) return cp.error();
        std::uint32_t code = *cp;
        if (code >= 0xd800 && code <= 0xdbff) {  // a high surrogate needs its low half
          if (text_.substr(i_, 2) != "\\u") return syntax(escape_at, "unpaired surrogate");
          i_ += 2;
          auto low = hex4();
          if (!low) return low.error();
          if (*low < 0xdc00 || *low > 0xdfff) return syntax(escape_at, "unpaired surrogate");
          code = 0x10000 + ((code - 0xd800) << 10) + (*low - 0xdc00);
        } else if (code >= 0xdc00 && code <= 0xdfff) {
          return syntax(escape_at, "unpaired surrogate");
        }
        append_utf8(t.text, code);
      } else {
        return syntax(escape_at, "unknown escape sequence '\\" + std::string(1, e) +
                                     "' (allowed: \\' \\\" \\\\ \\uXXXX)");
      }
    }
    return syntax(t.at, "unterminated string");
  }

  result<std::uint32_t> hex4() {
    const auto refuse = [this] { return syntax(i_, "four hexadecimal digits expected after \\u"); };
    if (text_.size() - i_ < 4) return refuse();
    const char* const first = text_.data() + i_;
    std::uint32_t value = 0;
    const auto [end, ec] = std::from_chars(first, first + 4, value, 16);
    if (ec != std::errc{} || end != first + 4) return refuse();
    i_ += 4;
    return value;
  }

  result<token> symbol() {
    // Longest match first: "<=" before "<".
    static constexpr std::string_view symbols[] = {"<=", ">=", "!=", "<>", "=", "<",
                                                   ">",  "(",  ")",  ".",  "*"};
    for (const auto s : symbols) {
      if (text_.substr(i_, s.size()) == s) {
        token t{token::kind::symbol, std::string(s), {}, i_};
        i_ += s.size();
        return t;
      }
    }
    return syntax(i_, "unexpected character " + describe(text_[i_]));
  }

  std::string_view text_;
  std::size_t i_ = 0;
};

/// Words that cannot start a path or be an alias, so that `WHERE AND x = 1` or
/// `COUNT() AS FROM` read as the mistakes they are. Later path segments may be any name
/// (tags.from is a fine tag).
bool reserved(std::string_view word) {
  static constexpr std::string_view words[] = {"SELECT", "FROM",  "WHERE", "AND",
                                               "OR",     "NOT",   "AS",    "IS_DEFINED",
                                               "TRUE",   "FALSE", "NULL",  "COUNT"};
  for (const auto w : words)
    if (iequals(word, w)) return true;
  return false;
}

// ---- parser ---------------------------------------------------------------------------------

/// What the parser found; twin_query::parse moves it into the query's private members.
struct parsed {
  std::optional<std::string> alias;  // SELECT COUNT()
  node_ptr where;                    // null: no WHERE
};

class parser {
 public:
  explicit parser(std::vector<token> tokens) : tokens_(std::move(tokens)) {}

  /// query := SELECT ( '*' | COUNT '(' ')' [AS alias] ) FROM devices [WHERE condition]
  result<parsed> query() {
    parsed out;
    if (auto ok = expect_keyword("SELECT"); !ok) return ok.error();
    if (symbol("*")) {
      ++pos_;
    } else if (keyword("COUNT")) {
      ++pos_;
      if (auto ok = expect_symbol("("); !ok) return ok.error();
      if (auto ok = expect_symbol(")"); !ok) return ok.error();
      out.alias = "$1";  // Azure's name for an unnamed aggregate column
      if (keyword("AS")) {
        ++pos_;
        if (peek().what != token::kind::word || reserved(peek().text))
          return unexpected("an alias name after AS");
        out.alias = tokens_[pos_++].text;
      }
    } else {
      return unexpected("* or COUNT() (projections are not supported)");
    }
    if (auto ok = expect_keyword("FROM"); !ok) return ok.error();
    if (!keyword("devices"))
      return unexpected("devices (the only collection supported is FROM devices)");
    ++pos_;
    if (keyword("WHERE")) {
      ++pos_;
      if (peek().what == token::kind::end) return unexpected("a condition after WHERE");
      auto condition = disjunction(0);
      if (!condition) return condition.error();
      out.where = std::move(*condition);
    }
    if (peek().what != token::kind::end) return unexpected("the end of the query");
    return out;
  }

 private:
  const token& peek() const { return tokens_[pos_]; }
  bool keyword(std::string_view k) const {
    return peek().what == token::kind::word && iequals(peek().text, k);
  }
  bool symbol(std::string_view s) const {
    return peek().what == token::kind::symbol && peek().text == s;
  }
  error unexpected(std::string_view expected) const {
    return syntax(peek().at, "expected " + std::string(expected) + ", found " + describe(peek()));
  }
  status expect_keyword(std::string_view k) {
    if (!keyword(k)) return unexpected(k);
    ++pos_;
    return success();
  }
  status expect_symbol(std::string_view s) {
    if (!symbol(s)) return unexpected("'" + std::string(s) + "'");
    ++pos_;
    return success();
  }
  /// One more level of '(' or NOT; refused past query_limits::max_nesting.
  status deeper(int& level) const {
    if (++level > query_limits::max_nesting)
      return syntax(peek().at, "the condition is nested deeper than " +
                                   std::to_string(query_limits::max_nesting) + " levels");
    return success();
  }

  static node_ptr make(auto form) { return std::make_shared<const node>(node{std::move(form)}); }

  /// or := and { OR and }
  result<node_ptr> disjunction(int level) {
    auto first = conjunction(level);
    if (!first) return first;
    if (!keyword("OR")) return first;
    node::any_of any;
    any.terms.push_back(std::move(*first));
    while (keyword("OR")) {
      ++pos_;
      auto next = conjunction(level);
      if (!next) return next;
      any.terms.push_back(std::move(*next));
    }
    return make(std::move(any));
  }

  /// and := not { AND not }
  result<node_ptr> conjunction(int level) {
    auto first = negation(level);
    if (!first) return first;
    if (!keyword("AND")) return first;
    node::all_of all;
    all.terms.push_back(std::move(*first));
    while (keyword("AND")) {
      ++pos_;
      auto next = negation(level);
      if (!next) return next;
      all.terms.push_back(std::move(*next));
    }
    return make(std::move(all));
  }

  /// not := NOT not | primary
  result<node_ptr> negation(int level) {
    if (!keyword("NOT")) return primary(level);
    if (auto ok = deeper(level); !ok) return ok.error();
    ++pos_;
    auto inner = negation(level);
    if (!inner) return inner;
    return make(node::negation{std::move(*inner)});
  }

  /// primary := '(' condition ')' | IS_DEFINED '(' path ')' | operand op operand
  result<node_ptr> primary(int level) {
    if (symbol("(")) {
      if (auto ok = deeper(level); !ok) return ok.error();
      ++pos_;
      auto inner = disjunction(level);
      if (!inner) return inner;
      if (auto ok = expect_symbol(")"); !ok) return ok.error();
      return inner;
    }
    if (keyword("IS_DEFINED")) {
      ++pos_;
      if (auto ok = expect_symbol("("); !ok) return ok.error();
      auto what = path();
      if (!what) return what.error();
      if (auto ok = expect_symbol(")"); !ok) return ok.error();
      return make(node::is_defined{std::move(*what)});
    }
    auto left = operand();
    if (!left) return left.error();
    auto how = comparison();
    if (!how) return how.error();
    auto right = operand();
    if (!right) return right.error();
    return make(node::comparison{std::move(*left), *how, std::move(*right)});
  }

  result<node::op> comparison() {
    static constexpr std::pair<std::string_view, node::op> ops[] = {
        {"=", node::op::eq},  {"!=", node::op::ne}, {"<>", node::op::ne}, {"<", node::op::lt},
        {"<=", node::op::le}, {">", node::op::gt},  {">=", node::op::ge}};
    for (const auto& [text, op] : ops) {
      if (symbol(text)) {
        ++pos_;
        return op;
      }
    }
    return unexpected("a comparison operator (= != <> < <= > >=)");
  }

  /// path := name { '.' name }
  result<node::path> path() {
    if (peek().what != token::kind::word || reserved(peek().text))
      return unexpected("a property path");
    node::path p;
    p.names.push_back(tokens_[pos_++].text);
    while (symbol(".")) {
      ++pos_;
      if (peek().what != token::kind::word) return unexpected("a property name after '.'");
      p.names.push_back(tokens_[pos_++].text);
    }
    return p;
  }

  /// operand := path | string | number | true | false | null
  result<node::operand> operand() {
    const token& t = peek();
    switch (t.what) {
      case token::kind::string:
        ++pos_;
        return node::operand{node::literal{json(t.text)}};
      case token::kind::number:
        ++pos_;
        return node::operand{node::literal{t.number}};
      case token::kind::word:
        if (iequals(t.text, "true") || iequals(t.text, "false")) {
          ++pos_;
          return node::operand{node::literal{json(iequals(t.text, "true"))}};
        }
        if (iequals(t.text, "null")) {
          ++pos_;
          return node::operand{node::literal{json(nullptr)}};
        }
        if (!reserved(t.text)) {
          auto p = path();
          if (!p) return p.error();
          return node::operand{std::move(*p)};
        }
        break;
      case token::kind::symbol:
      case token::kind::end:
        break;
    }
    return unexpected("a condition (a property path or a value)");
  }

  std::vector<token> tokens_;  // always ends with a kind::end token
  std::size_t pos_ = 0;        // never moves past the end token
};

// ---- evaluation -----------------------------------------------------------------------------

/// The value at `p` in `document`, or null when undefined. Only objects are walked: twins
/// have no arrays to index into (DOC "Tags and properties format").
const json* resolve(const json& document, const node::path& p) {
  const json* at = &document;
  for (const auto& name : p.names) {
    if (!at->is_object()) return nullptr;
    const auto it = at->find(name);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

const json* value_of(const json& document, const node::operand& o) {
  if (const auto* p = std::get_if<node::path>(&o)) return resolve(document, *p);
  return &std::get<node::literal>(o).value;
}

template <class X, class Y>
std::partial_ordering order_integers(X x, Y y) {
  // std::cmp_* compare across signedness exactly (twins parse non-negative integers as
  // unsigned, literals are signed).
  if (std::cmp_less(x, y)) return std::partial_ordering::less;
  if (std::cmp_equal(x, y)) return std::partial_ordering::equivalent;
  return std::partial_ordering::greater;
}

/// Numbers compare by value, whatever their JSON representation: integers exactly; when a
/// side is a double, as doubles (so 43 = 43.0).
std::partial_ordering order_numbers(const json& a, const json& b) {
  if (a.is_number_float() || b.is_number_float()) return a.get<double>() <=> b.get<double>();
  using integer = std::variant<std::int64_t, std::uint64_t>;
  const auto as_integer = [](const json& v) -> integer {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    return v.get<std::int64_t>();
  };
  return std::visit([](auto x, auto y) { return order_integers(x, y); }, as_integer(a),
                    as_integer(b));
}

bool holds(std::partial_ordering order, node::op op) {
  switch (op) {
    case node::op::eq:
      return order == 0;
    case node::op::ne:
      return order != 0;
    case node::op::lt:
      return order < 0;
    case node::op::le:
      return order <= 0;
    case node::op::gt:
      return order > 0;
    case node::op::ge:
      return order >= 0;
  }
  return false;
}

/// Azure's comparisons (DOC "IoT Hub query language", "Expressions and conditions"): no
/// implicit conversion. A comparison is false — for every operator, != included — when
/// either side is undefined or the two sides have different JSON types. Numbers order by
/// value, strings by bytes (for UTF-8 that is code point order: std::string compares as
/// unsigned char), booleans and null support only = and !=. Objects and arrays (a path to
/// tags.location) are not comparable values: false.
bool compare(const json* a, const json* b, node::op op) {
  if (a == nullptr || b == nullptr) return false;
  if (a->is_number() && b->is_number()) return holds(order_numbers(*a, *b), op);
  if (a->is_string() && b->is_string())
    return holds(a->get_ref<const std::string&>() <=> b->get_ref<const std::string&>(), op);
  const bool both_bool = a->is_boolean() && b->is_boolean();
  const bool both_null = a->is_null() && b->is_null();
  if (!both_bool && !both_null) return false;
  if (op == node::op::eq) return *a == *b;
  if (op == node::op::ne) return *a != *b;
  return false;
}

bool evaluate(const node& n, const json& document) {
  struct visitor {
    const json& document;
    bool operator()(const node::any_of& f) const {
      for (const auto& t : f.terms)
        if (evaluate(*t, document)) return true;
      return false;
    }
    bool operator()(const node::all_of& f) const {
      for (const auto& t : f.terms)
        if (!evaluate(*t, document)) return false;
      return true;
    }
    // NOT inverts the truth of its operand, two-valued: NOT (x = 1) holds where x is
    // undefined, because (x = 1) is false there.
    bool operator()(const node::negation& f) const { return !evaluate(*f.term, document); }
    bool operator()(const node::comparison& f) const {
      return compare(value_of(document, f.left), value_of(document, f.right), f.how);
    }
    // Defined means "resolves to a value other than null": in a twin a null property is a
    // removed one (DOC "Device twins": setting a property to null removes it).
    bool operator()(const node::is_defined& f) const {
      const json* v = resolve(document, f.what);
      return v != nullptr && !v->is_null();
    }
  };
  return std::visit(visitor{document}, n.form);
}

}  // namespace

result<twin_query> twin_query::parse(std::string_view text) {
  if (text.size() > query_limits::max_text_bytes)
    return syntax(query_limits::max_text_bytes, "the query is longer than 8 KB (" +
                                                    std::to_string(query_limits::max_text_bytes) +
                                                    " bytes)");
  auto tokens = tokenizer(text).run();
  if (!tokens) return tokens.error();
  auto found = parser(std::move(*tokens)).query();
  if (!found) return found.error();
  twin_query q;
  q.count_alias_ = std::move(found->alias);
  q.where_ = std::move(found->where);
  return q;
}

bool twin_query::matches(const json& document) const {
  return where_ == nullptr || evaluate(*where_, document);
}

}  // namespace emu::core
