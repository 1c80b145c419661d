#include "emulator/core/twin_query.hpp"

#include <cctype>
#include <utility>
#include <variant>
#include <vector>

namespace emu::core {

using json = nlohmann::json;

/// The parsed WHERE condition: a small immutable tree.
struct twin_query::node {
  enum class kind : std::uint8_t { and_, or_, not_, compare, is_defined };
  enum class op : std::uint8_t { eq, ne, lt, le, gt, ge };
  /// A path (the names of its segments) or a literal value.
  using operand = std::variant<std::vector<std::string>, json>;

  kind what = kind::compare;
  op comparison = op::eq;
  std::vector<std::shared_ptr<const node>> children;  // and_/or_ (2), not_ (1)
  operand left;
  operand right;
  std::vector<std::string> path;  // is_defined
};

namespace {

using node = twin_query::node;

// ---- tokens ---------------------------------------------------------------------------------

struct token {
  enum class kind : std::uint8_t { word, string, number, symbol, end };
  kind what = kind::end;
  std::string text;  // word/symbol as written, string decoded, number as written
  std::size_t at = 0;
};

bool word_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$';
}
bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$' || c == '-';
}

error syntax(std::size_t at, const std::string& what) {
  return error{hub_error::argument_invalid,
               "Syntax error at " + std::to_string(at + 1) + ": " + what + "."};
}

result<std::vector<token>> tokenize(std::string_view text) {
  std::vector<token> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      ++i;
      continue;
    }
    token t;
    t.at = i;
    if (word_start(c)) {
      std::size_t j = i + 1;
      while (j < text.size() && word_char(text[j])) ++j;
      t.what = token::kind::word;
      t.text = std::string(text.substr(i, j - i));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) != 0 ||
               (c == '-' && i + 1 < text.size() &&
                std::isdigit(static_cast<unsigned char>(text[i + 1])) != 0)) {
      std::size_t j = i + 1;
      while (j < text.size() &&
             (std::isdigit(static_cast<unsigned char>(text[j])) != 0 || text[j] == '.' ||
              text[j] == 'e' || text[j] == 'E' ||
              ((text[j] == '+' || text[j] == '-') && (text[j - 1] == 'e' || text[j - 1] == 'E'))))
        ++j;
      t.what = token::kind::number;
      t.text = std::string(text.substr(i, j - i));
      i = j;
    } else if (c == '\'' || c == '"') {
      // Quoted strings: '' (or "") doubles the quote, and \' \" \\ escape it.
      std::string value;
      std::size_t j = i + 1;
      bool closed = false;
      while (j < text.size()) {
        if (text[j] == '\\' && j + 1 < text.size()) {
          value += text[j + 1];
          j += 2;
        } else if (text[j] == c) {
          if (j + 1 < text.size() && text[j + 1] == c) {
            value += c;
            j += 2;
          } else {
            closed = true;
            ++j;
            break;
          }
        } else {
          value += text[j++];
        }
      }
      if (!closed) return syntax(i, "unterminated string");
      t.what = token::kind::string;
      t.text = std::move(value);
      i = j;
    } else {
      static const char* const symbols[] = {"<=", ">=", "!=", "<>", "=", "<",
                                            ">",  "(",  ")",  ".",  ",", "*"};
      t.what = token::kind::symbol;
      for (const char* s : symbols) {
        const std::string_view sv(s);
        if (text.substr(i, sv.size()) == sv) {
          t.text = std::string(sv);
          break;
        }
      }
      if (t.text.empty()) return syntax(i, std::string("unexpected character '") + c + "'");
      i += t.text.size();
    }
    out.push_back(std::move(t));
  }
  token end;
  end.at = text.size();
  out.push_back(end);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// ---- parser ---------------------------------------------------------------------------------

class parser {
 public:
  explicit parser(std::vector<token> tokens) : tokens_(std::move(tokens)) {}

  const token& peek() const { return tokens_[pos_]; }
  const token& next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool keyword(std::string_view k) const {
    return peek().what == token::kind::word && iequals(peek().text, k);
  }
  bool symbol(std::string_view s) const {
    return peek().what == token::kind::symbol && peek().text == s;
  }
  status expect_keyword(std::string_view k) {
    if (!keyword(k)) return syntax(peek().at, "expected " + std::string(k));
    ++pos_;
    return success();
  }
  status expect_symbol(std::string_view s) {
    if (!symbol(s)) return syntax(peek().at, "expected '" + std::string(s) + "'");
    ++pos_;
    return success();
  }

  result<std::shared_ptr<const node>> condition(int depth) {
    if (depth > query_limits::max_nesting)
      return syntax(peek().at, "the condition is nested too deeply");
    auto left = conjunction(depth + 1);
    if (!left) return left;
    while (keyword("OR")) {
      ++pos_;
      auto right = conjunction(depth + 1);
      if (!right) return right;
      left = combine(node::kind::or_, std::move(*left), std::move(*right));
    }
    return left;
  }

 private:
  static std::shared_ptr<const node> combine(node::kind k, std::shared_ptr<const node> a,
                                             std::shared_ptr<const node> b) {
    auto n = std::make_shared<node>();
    n->what = k;
    n->children = {std::move(a), std::move(b)};
    return n;
  }

  result<std::shared_ptr<const node>> conjunction(int depth) {
    auto left = negation(depth + 1);
    if (!left) return left;
    while (keyword("AND")) {
      ++pos_;
      auto right = negation(depth + 1);
      if (!right) return right;
      left = combine(node::kind::and_, std::move(*left), std::move(*right));
    }
    return left;
  }

  result<std::shared_ptr<const node>> negation(int depth) {
    if (depth > query_limits::max_nesting)
      return syntax(peek().at, "the condition is nested too deeply");
    if (keyword("NOT")) {
      ++pos_;
      auto inner = negation(depth + 1);
      if (!inner) return inner;
      auto n = std::make_shared<node>();
      n->what = node::kind::not_;
      n->children = {std::move(*inner)};
      return std::shared_ptr<const node>(std::move(n));
    }
    return primary(depth + 1);
  }

  result<std::shared_ptr<const node>> primary(int depth) {
    if (symbol("(")) {
      ++pos_;
      auto inner = condition(depth + 1);
      if (!inner) return inner;
      if (auto ok = expect_symbol(")"); !ok) return ok.error();
      return inner;
    }
    if (keyword("IS_DEFINED")) {
      ++pos_;
      if (auto ok = expect_symbol("("); !ok) return ok.error();
      auto p = path();
      if (!p) return p.error();
      if (auto ok = expect_symbol(")"); !ok) return ok.error();
      auto n = std::make_shared<node>();
      n->what = node::kind::is_defined;
      n->path = std::move(*p);
      return std::shared_ptr<const node>(std::move(n));
    }
    auto left = operand();
    if (!left) return left.error();
    const auto op = comparison();
    if (!op) return op.error();
    auto right = operand();
    if (!right) return right.error();
    auto n = std::make_shared<node>();
    n->what = node::kind::compare;
    n->comparison = *op;
    n->left = std::move(*left);
    n->right = std::move(*right);
    return std::shared_ptr<const node>(std::move(n));
  }

  result<node::op> comparison() {
    static const std::pair<const char*, node::op> ops[] = {
        {"=", node::op::eq},  {"!=", node::op::ne}, {"<>", node::op::ne}, {"<", node::op::lt},
        {"<=", node::op::le}, {">", node::op::gt},  {">=", node::op::ge}};
    for (const auto& [text, op] : ops) {
      if (symbol(text)) {
        ++pos_;
        return op;
      }
    }
    return syntax(peek().at, "expected a comparison operator");
  }

  result<std::vector<std::string>> path() {
    if (peek().what != token::kind::word) return syntax(peek().at, "expected a property path");
    std::vector<std::string> segments{next().text};
    while (symbol(".")) {
      ++pos_;
      if (peek().what != token::kind::word) return syntax(peek().at, "expected a property name");
      segments.push_back(next().text);
    }
    return segments;
  }

  result<node::operand> operand() {
    const token& t = peek();
    switch (t.what) {
      case token::kind::string:
        ++pos_;
        return node::operand{json(t.text)};
      case token::kind::number: {
        ++pos_;
        const json value = json::parse(t.text, nullptr, /*allow_exceptions=*/false);
        if (value.is_discarded() || !value.is_number()) return syntax(t.at, "malformed number");
        return node::operand{value};
      }
      case token::kind::word:
        if (iequals(t.text, "true") || iequals(t.text, "false")) {
          ++pos_;
          return node::operand{json(iequals(t.text, "true"))};
        }
        if (iequals(t.text, "null")) {
          ++pos_;
          return node::operand{json(nullptr)};
        }
        {
          auto p = path();
          if (!p) return p.error();
          return node::operand{std::move(*p)};
        }
      default:
        return syntax(t.at, "expected a property path or a value");
    }
  }

  std::vector<token> tokens_;
  std::size_t pos_ = 0;
};

// ---- evaluation -----------------------------------------------------------------------------

const json* resolve(const json& document, const std::vector<std::string>& path) {
  const json* at = &document;
  for (const auto& name : path) {
    if (!at->is_object()) return nullptr;
    const auto it = at->find(name);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

const json* value_of(const json& document, const node::operand& o) {
  if (const auto* p = std::get_if<std::vector<std::string>>(&o)) return resolve(document, *p);
  return &std::get<json>(o);
}

/// Azure's comparisons: no conversion between types; an undefined side is false.
bool compare(const json* a, const json* b, node::op op) {
  if (a == nullptr || b == nullptr) return false;
  if (a->is_number() && b->is_number()) {
    const double x = a->get<double>();
    const double y = b->get<double>();
    switch (op) {
      case node::op::eq:
        return x == y;
      case node::op::ne:
        return x != y;
      case node::op::lt:
        return x < y;
      case node::op::le:
        return x <= y;
      case node::op::gt:
        return x > y;
      case node::op::ge:
        return x >= y;
    }
  }
  if (a->is_string() && b->is_string()) {
    const auto& x = a->get_ref<const std::string&>();
    const auto& y = b->get_ref<const std::string&>();
    switch (op) {
      case node::op::eq:
        return x == y;
      case node::op::ne:
        return x != y;
      case node::op::lt:
        return x < y;
      case node::op::le:
        return x <= y;
      case node::op::gt:
        return x > y;
      case node::op::ge:
        return x >= y;
    }
  }
  if (a->type() != b->type()) return false;
  // Booleans, null, objects and arrays: equality only.
  if (op == node::op::eq) return *a == *b;
  if (op == node::op::ne) return *a != *b;
  return false;
}

bool evaluate(const node& n, const json& document) {
  switch (n.what) {
    case node::kind::and_:
      return evaluate(*n.children[0], document) && evaluate(*n.children[1], document);
    case node::kind::or_:
      return evaluate(*n.children[0], document) || evaluate(*n.children[1], document);
    case node::kind::not_:
      // NOT inverts the comparison's truth: NOT (x = 1) holds where x is undefined.
      return !evaluate(*n.children[0], document);
    case node::kind::is_defined: {
      const json* v = resolve(document, n.path);
      return v != nullptr && !v->is_null();
    }
    case node::kind::compare:
      return compare(value_of(document, n.left), value_of(document, n.right), n.comparison);
  }
  return false;
}

}  // namespace

result<twin_query> twin_query::parse(std::string_view text) {
  if (text.size() > query_limits::max_text_bytes)
    return error{hub_error::argument_invalid, "The query is longer than 8 KB."};
  auto tokens = tokenize(text);
  if (!tokens) return tokens.error();
  parser p(std::move(*tokens));
  twin_query q;
  if (auto ok = p.expect_keyword("SELECT"); !ok) return ok.error();
  if (p.symbol("*")) {
    p.next();
  } else if (p.keyword("COUNT")) {
    p.next();
    if (auto ok = p.expect_symbol("("); !ok) return ok.error();
    if (auto ok = p.expect_symbol(")"); !ok) return ok.error();
    q.count_alias_ = "$1";  // Azure's name for an unnamed aggregate
    if (p.keyword("AS")) {
      p.next();
      if (p.peek().what != token::kind::word) return syntax(p.peek().at, "expected an alias");
      q.count_alias_ = p.next().text;
    }
  } else {
    return syntax(p.peek().at, "expected * or COUNT() (projections are not supported)");
  }
  if (auto ok = p.expect_keyword("FROM"); !ok) return ok.error();
  if (!p.keyword("devices")) return syntax(p.peek().at, "only FROM devices is supported");
  p.next();
  if (p.keyword("WHERE")) {
    p.next();
    auto where = p.condition(0);
    if (!where) return where.error();
    q.where_ = std::move(*where);
  }
  if (p.peek().what != token::kind::end) return syntax(p.peek().at, "unexpected text");
  return q;
}

bool twin_query::matches(const json& document) const {
  return where_ == nullptr || evaluate(*where_, document);
}

}  // namespace emu::core
