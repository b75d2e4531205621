#include "mmfuse/core/config.h"

#include <gtest/gtest.h>

namespace mmfuse {
namespace {

TEST(ConfigNode, ReadsTypedValuesAndDefaults) {
  auto cfg = ConfigNode::parse("model:\n  fusion:\n    rank: 16\n    name: lmf\n", "c.yaml");
  EXPECT_EQ(cfg["model"]["fusion"].get<int>("rank"), 16);
  EXPECT_EQ(cfg["model"]["fusion"].get<std::string>("name"), "lmf");
  EXPECT_EQ(cfg["model"]["fusion"].get<int>("width", 7), 7);
  EXPECT_EQ(cfg["model"]["fusion"]["rank"].path(), "model.fusion.rank");
}

TEST(ConfigNode, ErrorsNameTheSourceAndPath) {
  auto cfg = ConfigNode::parse("model:\n  fusion:\n    rank: high\n", "c.yaml");
  try {
    cfg["model"]["fusion"].get<int>("rank");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("c.yaml: model.fusion.rank"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("'high'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cfg["model"].get<int>("missing"), ConfigError);
}

TEST(ConfigNode, CheckKeysRejectsTypos) {
  auto cfg = ConfigNode::parse("rnak: 4\n");
  try {
    cfg.check_keys({"rank", "dim"});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("rnak"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("rank, dim"), std::string::npos);
  }
}

TEST(ConfigNode, ADuplicateKeyIsAnErrorNamingBothLines) {
  const std::string text = "train:\n  batch_size: 40\n  epochs: 4\n  batch_size: 20\n";
  try {
    ConfigNode::parse(text, "run.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("run.yaml:4: key 'train.batch_size' appears twice (first on line 2)"),
              std::string::npos)
        << e.what();
  }
  // Flow maps and maps inside lists are checked too; equal keys in different maps are fine.
  EXPECT_THROW(ConfigNode::parse("heads: [{a: 1, a: 2}]\n"), ConfigError);
  EXPECT_NO_THROW(ConfigNode::parse("x: {a: 1}\ny: {a: 2}\n"));
}

TEST(ConfigNode, OverridesCreateAndReplaceNestedKeys) {
  auto cfg = ConfigNode::parse("train:\n  epochs: 10\n");
  cfg.set_override("train.epochs=3");
  cfg.set_override("model.fusion.rank=16");
  cfg.set_override("model.fusion.combine=[concat, tensor]");
  EXPECT_EQ(cfg["train"].get<int>("epochs"), 3);
  EXPECT_EQ(cfg["model"]["fusion"].get<int>("rank"), 16);
  EXPECT_EQ(cfg["model"]["fusion"]["combine"].size(), 2u);
  EXPECT_THROW(cfg.set_override("no_equals_sign"), UsageError);
  EXPECT_THROW(cfg.set_override("train.epochs.x=1"), UsageError);
}

}  // namespace
}  // namespace mmfuse

namespace mmfuse {
namespace {

TEST(ConfigNode, AssignmentRebindsAndMissingKeysAreSafe) {
  auto a = ConfigNode::parse("x: 1\n");
  auto b = ConfigNode::parse("y: 2\n");
  ConfigNode held = a["x"];
  held = b["y"];  // must not overwrite a's data
  EXPECT_EQ(a.get<int>("x"), 1);
  EXPECT_EQ(held.as<int>(), 2);
  ConfigNode missing;
  missing = a["nope"];  // a missing key can be stored and queried
  EXPECT_TRUE(missing.is_null());
  EXPECT_EQ(missing.get<int>("deeper", 5), 5);
  EXPECT_EQ(missing["deeper"].path(), "nope.deeper");
}

}  // namespace
}  // namespace mmfuse
