#include "emulator/amqp/amqp_writer.hpp"

#include <cstring>

namespace emu::amqp {

void amqp_writer::be32(std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) byte(static_cast<int>((v >> shift) & 0xff));
}

void amqp_writer::be64(std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) byte(static_cast<int>((v >> shift) & 0xff));
}

void amqp_writer::variable(int code8, int code32, std::string_view bytes) {
  if (bytes.size() <= 0xff) {
    byte(code8);
    byte(static_cast<int>(bytes.size()));
  } else {
    byte(code32);
    be32(static_cast<std::uint32_t>(bytes.size()));
  }
  out_.insert(out_.end(), bytes.begin(), bytes.end());
}

amqp_writer::container amqp_writer::open(int code) {
  byte(code);
  const container c{out_.size()};
  be32(0);  // size, back-patched by close
  be32(0);  // count, back-patched by close
  return c;
}

void amqp_writer::close(const container& c) {
  // The size counts the bytes after the size field: the count field and the elements.
  const auto size = static_cast<std::uint32_t>(out_.size() - c.size_at - 4);
  char patch[8];
  for (int i = 0; i < 4; ++i) {
    patch[i] = static_cast<char>((size >> (24 - 8 * i)) & 0xff);
    patch[4 + i] = static_cast<char>((c.count >> (24 - 8 * i)) & 0xff);
  }
  std::memcpy(out_.data() + c.size_at, patch, sizeof patch);
}

}  // namespace emu::amqp
