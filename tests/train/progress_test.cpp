#include "mmfuse/train/progress.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace mmfuse::train {
namespace {

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string s;
  char buf[512];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

TEST(Progress, PlainLinesWhenNotATerminal) {
  std::FILE* f = std::tmpfile();
  Progress p(f, /*tty=*/0, /*line_every=*/1e9);
  p.start_epoch(2, 5, 3);
  p.step(1, 1.0, 40);
  p.step(2, 0.5, 40);
  EXPECT_NE(p.status().find("epoch 2/5 step 2/3 loss 0.7500"), std::string::npos) << p.status();
  p.end_epoch("val accuracy 0.9");
  std::string out = read_all(f);
  std::fclose(f);
  EXPECT_EQ(out.find('\r'), std::string::npos);  // no in-place redraws
  EXPECT_NE(out.find("val accuracy 0.9\n"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);  // steps stayed quiet (line_every huge)
}

TEST(Progress, BarRedrawsInPlaceOnATerminal) {
  std::FILE* f = std::tmpfile();
  Progress p(f, /*tty=*/1);
  p.start_epoch(1, 1, 4);
  p.step(2, 0.3, 10);
  std::string out = read_all(f);
  std::fclose(f);
  EXPECT_NE(out.find("\r[############............]"), std::string::npos) << out;
}

TEST(Progress, SilentWithoutAStreamButStillCounts) {
  Progress p(nullptr);  // --no-progress
  p.start_epoch(3, 5, 10);
  p.step(4, 0.25, 8);
  p.end_epoch("val accuracy 0.5");
  EXPECT_EQ(p.status().rfind("epoch 3/5 step 4/10 loss ", 0), 0u) << p.status();
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(format_duration(65), "1:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(NAN), "?");
}

}  // namespace
}  // namespace mmfuse::train
