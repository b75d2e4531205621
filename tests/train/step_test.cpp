#include "mmfuse/train/step.h"

#include <gtest/gtest.h>

#include "mmfuse/core/error.h"

namespace mmfuse::train {
namespace {

TEST(Limited, KeepsTheFirstSamples) {
  auto set = std::make_shared<data::SampleSet>();
  for (int i = 0; i < 5; ++i) set->samples.push_back(data::Sample{std::to_string(i)});
  auto three = limited(set, 3);
  ASSERT_EQ(three->samples.size(), 3u);
  EXPECT_EQ(three->samples[2].id, "2");
  EXPECT_EQ(set->samples.size(), 5u);  // the input is untouched
  EXPECT_EQ(limited(set, 0), set);
  EXPECT_EQ(limited(set, 9), set);
}

}  // namespace
}  // namespace mmfuse::train
