// docs/adding_a_fusion.md shows max_pool.h verbatim; this keeps the page and the file identical
// and checks the example's behaviour by hand.
#include <gtest/gtest.h>

#include "mmfuse/core/fs.h"
#include "mmfuse/nn/fusion/max_pool.h"
#include "test_util.h"

namespace mmfuse::fusion {
namespace {

TEST(AddingAFusionDoc, ShowsTheRealFileVerbatim) {
  const std::string root = MMFUSE_SOURCE_DIR;
  const std::string doc = read_file(root + "/docs/adding_a_fusion.md");
  const std::string code = read_file(root + "/src/mmfuse/nn/fusion/max_pool.h");
  EXPECT_NE(doc.find("```cpp\n" + code + "```"), std::string::npos)
      << "docs/adding_a_fusion.md no longer matches src/mmfuse/nn/fusion/max_pool.h";
  EXPECT_NE(fusion_registry().find("max_pool"), nullptr);
}

TEST(MaxPoolFusion, TakesTheMaximumOverPresentModalitiesOnly) {
  MaxPoolFusion f(MaxPoolFusionOptions({2, 2}).dim(2));
  {
    torch::NoGradGuard g;
    for (const auto& p : f->named_parameters()) {
      if (p.key().find("weight") != std::string::npos) {
        p.value().copy_(torch::eye(2));
      } else {
        p.value().zero_();
      }
    }
  }
  nn::Encoded a, b;
  a.pooled = torch::tensor({{1.0f, 5.0f}, {1.0f, 5.0f}});
  b.pooled = torch::tensor({{3.0f, 2.0f}, {3.0f, 2.0f}});
  a.present = torch::tensor({true, true});
  b.present = torch::tensor({true, false});
  auto out = f->fuse({a, b}).fused;
  EXPECT_TRUE(torch::equal(out[0], torch::tensor({3.0f, 5.0f})));  // both present
  EXPECT_TRUE(torch::equal(out[1], torch::tensor({1.0f, 5.0f})));  // b absent: a alone
}

}  // namespace
}  // namespace mmfuse::fusion
