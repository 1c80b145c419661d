# CMake package file of the iothub-emulator test fixture (emulator/testing/).
#   find_package(iothub_emulator REQUIRED)
#   target_link_libraries(my_tests PRIVATE iothub_emulator::testing)
# The fixture's libraries link OpenSSL, SQLite, Threads, nlohmann-json and spdlog (Proton by
# absolute path, so no pkg-config is needed here).
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(OpenSSL)
find_dependency(SQLite3)
find_dependency(nlohmann_json)
find_dependency(spdlog)
include(${CMAKE_CURRENT_LIST_DIR}/iothub_emulatorTargets.cmake)
