// undoable_map: the volatile state's undo record (hub::round_failed puts sessions and feedback
// receivers back as they were at the last commit).
#include <doctest/doctest.h>

#include <string>

#include "emulator/core/undoable_map.hpp"

using emu::core::undoable_map;

TEST_CASE("rollback undoes every change since the last commit") {
  undoable_map<std::string, int> m;
  m.put("a", 1);
  m.commit();
  m.put("a", 2);
  m.put("b", 3);
  m.erase("a");
  m.rollback();
  REQUIRE(m.find("a") != nullptr);
  CHECK(*m.find("a") == 1);
  CHECK(m.find("b") == nullptr);
}

TEST_CASE("the undo record keeps the first old value of an entry since the commit") {
  undoable_map<std::string, int> m;
  m.put("a", 1);
  m.commit();
  *m.modify("a") = 2;
  *m.modify("a") = 3;
  m.erase("a");
  m.put("c", 6);
  m.rollback();
  REQUIRE(m.find("a") != nullptr);
  CHECK(*m.find("a") == 1);
  CHECK(m.find("c") == nullptr);
  m.put("a", 7);
  m.commit();
  m.rollback();  // nothing since the commit
  CHECK(*m.find("a") == 7);
}
