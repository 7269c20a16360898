// Plain-text tables for terminals, and CSV for pipes.
//
//   Table t({"run", "round", "value"});
//   t.AddRow({"r1", "3", "0.25"});
//   std::cout << t.Render();      // aligned, numbers right-aligned
//   std::cout << t.RenderCsv();

#ifndef FEEDLOOP_COMMON_TABLE_H_
#define FEEDLOOP_COMMON_TABLE_H_

#include <string>
#include <vector>

namespace feedloop {

// One CSV field (RFC 4180): quoted when it holds a comma, quote or newline.
std::string CsvField(const std::string& s);

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t rows() const { return rows_.size(); }

  // Columns aligned by display width (UTF-8 aware); a column whose cells
  // all start like numbers is right-aligned; a rule under the header.
  std::string Render() const;
  // RFC 4180: cells with commas, quotes or newlines are quoted.
  std::string RenderCsv() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_TABLE_H_
