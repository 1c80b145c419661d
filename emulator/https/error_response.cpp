#include "emulator/https/error_response.hpp"

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

namespace emu::https {

int http_status(core::hub_error e) {
  return core::error_number(e) / 1000;
}

http_response error_response(int status, std::string_view code, std::string_view text) {
  std::string clean(text);
  std::replace(clean.begin(), clean.end(), ';', ',');
  const nlohmann::json body = {
      {"Message", "ErrorCode:" + std::string(code) + ";" + clean},
      {"ExceptionMessage", ""},
  };
  http_response r = json_response(body, status);
  r.headers.emplace_back("iothub-errorcode", std::string(code));
  return r;
}

http_response error_response(const core::error& e) {
  return error_response(http_status(e.code), core::error_name(e.code), e.message);
}

}  // namespace emu::https
