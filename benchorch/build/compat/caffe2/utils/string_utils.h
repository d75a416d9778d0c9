// benchorch compatibility header: caffe2/utils/string_utils.h.
//
// speed_benchmark_torch.cc includes this header but defines its own split()
// in an anonymous namespace; what it really uses is c10::stoi, which c10's
// installed string_utils.h provides. A small caffe2::split is kept for
// callers that expect it.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include <c10/util/string_utils.h>

namespace caffe2 {

inline std::vector<std::string> split(char separator, const std::string& text) {
  std::vector<std::string> parts;
  std::istringstream stream(text);
  for (std::string part; std::getline(stream, part, separator);) {
    parts.push_back(part);
  }
  return parts;
}

}  // namespace caffe2
