// Runs a fuzz target's LLVMFuzzerTestOneInput over every file in the folders given (the seed
// corpus and the saved failing inputs), in the normal build without libFuzzer: a regression test
// of every past finding. Exit 1 (naming the file) when an input throws something other than the
// mmfuse::Error the target expects, or when a folder is missing.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  int files = 0;
  for (int a = 1; a < argc; ++a) {
    if (!fs::is_directory(argv[a])) continue;  // a target without regressions has no folder
    std::vector<fs::path> paths;
    for (const auto& e : fs::directory_iterator(argv[a]))
      if (e.is_regular_file()) paths.push_back(e.path());
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) {
      std::ifstream in(p, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      try {
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: unexpected exception: %s\n", p.c_str(), e.what());
        return 1;
      }
      ++files;
    }
  }
  std::printf("replayed %d inputs\n", files);
  return files > 0 ? 0 : 1;
}
