#pragma once
/// Well-known development credentials, like Azurite's `devstoreaccount1`: the same on every
/// machine so examples and tests can hard-code them. DEVELOPMENT ONLY: anyone can read them
/// here, so never expose an emulator that uses them beyond your machine or test network.
#include <string_view>

namespace emu::app::dev {

/// The printed HostName: an IP literal, because the C SDK splits HostName at its first dot
/// into hub name and suffix (issue 21) and 127.0.0.1 reaches the emulator without any hosts
/// entry. `localhost` stays an alias (config default_host_aliases) and is the hub's name.
inline constexpr std::string_view host_name = "127.0.0.1";
inline constexpr std::string_view hub_name = "localhost";
inline constexpr std::string_view device_id = "myDevice";

struct key_pair {
  std::string_view primary;
  std::string_view secondary;
};

inline constexpr key_pair iothubowner{"OdtOwlXnHd2Pw8RmbhiPaCN+ZahPZ44vvv4QQtf1LII=",
                                      "UOIywEduSC9yDwPfWPUjJJuoECwC3Fd4ThExCgLROH4="};
inline constexpr key_pair service{"mSPKvd4lm+mwyFqIsJOOKl16X4E1nE7ZZWjpGvjygyQ=",
                                  "SamDnuk2xKPDy6i6RSOH1QgEyRV8s77Ov/NZlMNIxPU="};
inline constexpr key_pair device_policy{"hlccyWauEqbjzFOucVtcVuIk/w85lsbVHRaHTncBuMc=",
                                        "ehX53C4wsnvqblt+5W/NJTUzCS96KTeW0UCrVjbhO9A="};
inline constexpr key_pair registry_read{"dKtzz8AK0B3LiWfvpLezBP3StGxAD5NAFceLx+MxdLo=",
                                        "lXErrVE9dt5tqCK+qWa7zh8fqeNReBzyh+Y4uBtIQ5k="};
inline constexpr key_pair registry_read_write{"2s7TW+uYcEm7E3DjKS3gyyMoB65evzjqyaLeIgA44YU=",
                                              "IEpv48dUePnc4jjluZM3wKiMctKe/cyhJcN/7Du6ezY="};
inline constexpr key_pair device{"SFLuYJxmAK3qF70FLO6fIiRxRUV+YLwFaUSvij7CKnI=",
                                 "cfiuwLrdmVh7RLilwPzcARed9G0JtgbfQkNA8wlutXk="};

}  // namespace emu::app::dev
