#include "common/table.h"

#include "gtest/gtest.h"

namespace feedloop {
namespace {

TEST(Table, AlignsTextLeftAndNumbersRight) {
  Table t({"name", "value"});
  t.AddRow({"a", "1.5"});
  t.AddRow({"longer", "10.25 ± 0.1"});
  EXPECT_EQ(t.Render(),
            "name          value\n"
            "-------------------\n"
            "a               1.5\n"
            "longer  10.25 ± 0.1\n");
}

TEST(Table, CsvQuotesOnlyWhenNeeded) {
  Table t({"k", "v"});
  t.AddRow({"plain", "a,b"});
  t.AddRow({"quote\"d", "x"});
  EXPECT_EQ(t.RenderCsv(), "k,v\nplain,\"a,b\"\n\"quote\"\"d\",x\n");
}

}  // namespace
}  // namespace feedloop
