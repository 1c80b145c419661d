#include "emulator/amqp/encoding_check.hpp"

#include <cstdint>
#include <limits>
#include <vector>

namespace emu::amqp {

namespace {

constexpr std::size_t no_end = std::numeric_limits<std::size_t>::max();

/// An open compound value: where its bytes end (no_end for a described value, whose extent is
/// that of its two parts) and how many values it still holds.
struct open_value {
  std::size_t end;
  std::uint32_t remaining;
};

/// Width of a fixed-width constructor's payload, or -1 if `code` is not fixed-width.
int fixed_width(unsigned char code) {
  switch (code) {
    case 0x40:
    case 0x41:
    case 0x42:
    case 0x43:
    case 0x44:
    case 0x45:
      return 0;
    case 0x50:
    case 0x51:
    case 0x52:
    case 0x53:
    case 0x54:
    case 0x55:
    case 0x56:
      return 1;
    case 0x60:
    case 0x61:
      return 2;
    case 0x70:
    case 0x71:
    case 0x72:
    case 0x73:
    case 0x74:
      return 4;
    case 0x80:
    case 0x81:
    case 0x82:
    case 0x83:
    case 0x84:
      return 8;
    case 0x94:
    case 0x98:
      return 16;
    default:
      return -1;
  }
}

bool is_simple_element(unsigned char code) {
  return fixed_width(code) >= 0 || code == 0xa0 || code == 0xa1 || code == 0xa3 || code == 0xb0 ||
         code == 0xb1 || code == 0xb3;
}

class reader {
 public:
  explicit reader(std::span<const char> bytes) : bytes_(bytes) {}
  std::size_t pos() const { return pos_; }
  bool read_u8(std::uint32_t& v) {
    if (pos_ + 1 > bytes_.size()) return false;
    v = static_cast<unsigned char>(bytes_[pos_++]);
    return true;
  }
  bool read_u32(std::uint32_t& v) {
    if (pos_ + 4 > bytes_.size()) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes_[pos_++]);
    return true;
  }
  bool skip(std::size_t n) {
    if (n > bytes_.size() - pos_) return false;
    pos_ += n;
    return true;
  }

 private:
  std::span<const char> bytes_;
  std::size_t pos_ = 0;
};

/// Reads one complete value (with everything nested in it) starting at the reader's position.
bool read_value(reader& r, int max_depth) {
  std::vector<open_value> stack;
  while (true) {
    if (!stack.empty()) --stack.back().remaining;

    std::uint32_t code = 0;
    if (!r.read_u8(code)) return false;
    const auto c = static_cast<unsigned char>(code);
    if (const int w = fixed_width(c); w >= 0) {
      if (!r.skip(static_cast<std::size_t>(w))) return false;
    } else {
      switch (c) {
        case 0x00:  // described: descriptor value, then the value
          if (static_cast<int>(stack.size()) >= max_depth) return false;
          stack.push_back({no_end, 2});
          continue;
        case 0xa0:
        case 0xa1:
        case 0xa3: {
          std::uint32_t n = 0;
          if (!r.read_u8(n) || !r.skip(n)) return false;
          break;
        }
        case 0xb0:
        case 0xb1:
        case 0xb3: {
          std::uint32_t n = 0;
          if (!r.read_u32(n) || !r.skip(n)) return false;
          break;
        }
        case 0xc0:
        case 0xc1:
        case 0xd0:
        case 0xd1: {
          const bool wide = c >= 0xd0;
          std::uint32_t size = 0, count = 0;
          if (!(wide ? r.read_u32(size) : r.read_u8(size))) return false;
          const std::size_t start = r.pos();
          if (!(wide ? r.read_u32(count) : r.read_u8(count))) return false;
          const std::size_t end = start + size;
          if (r.pos() > end) return false;
          // Each element takes at least one byte: a count beyond the size is a lie.
          if (count > end - r.pos()) return false;
          if ((c == 0xc1 || c == 0xd1) && count % 2 != 0) return false;
          if (static_cast<int>(stack.size()) >= max_depth) return false;
          stack.push_back({end, count});
          break;
        }
        case 0xe0:
        case 0xf0: {
          const bool wide = c == 0xf0;
          std::uint32_t size = 0, count = 0, element = 0;
          if (!(wide ? r.read_u32(size) : r.read_u8(size))) return false;
          const std::size_t start = r.pos();
          if (!(wide ? r.read_u32(count) : r.read_u8(count))) return false;
          if (count > 0) {
            if (!r.read_u8(element)) return false;
            if (!is_simple_element(static_cast<unsigned char>(element))) return false;
          }
          if (r.pos() > start + size) return false;
          if (!r.skip(start + size - r.pos())) return false;
          break;
        }
        default:
          return false;
      }
    }
    // A value is complete; if nothing is open, the outermost value is done.
    while (!stack.empty() && stack.back().remaining == 0) {
      if (stack.back().end != no_end && r.pos() != stack.back().end) return false;
      stack.pop_back();
    }
    if (stack.empty()) return true;
  }
}

}  // namespace

std::optional<std::size_t> first_value_size(std::span<const char> bytes, int max_depth) {
  reader r(bytes);
  if (!read_value(r, max_depth)) return std::nullopt;
  return r.pos();
}

bool well_formed_values(std::span<const char> bytes, int max_depth) {
  while (!bytes.empty()) {
    const auto n = first_value_size(bytes, max_depth);
    if (!n) return false;
    bytes = bytes.subspan(*n);
  }
  return true;
}

}  // namespace emu::amqp
