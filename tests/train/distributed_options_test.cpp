// DistributedOptions::from_environment: torchrun's variables through a fake getenv.
#include "mmfuse/train/distributed_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "mmfuse/core/error.h"

namespace mmfuse::train {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

DistributedOptions parse(const std::map<std::string, std::string>& env) {
  return DistributedOptions::from_environment([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

/// The UsageError message of parsing `env` ("" when it parses).
std::string error_of(const std::map<std::string, std::string>& env) {
  try {
    parse(env);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

const std::map<std::string, std::string> kTorchrun{{"RANK", "3"},
                                                   {"WORLD_SIZE", "4"},
                                                   {"LOCAL_RANK", "1"},
                                                   {"MASTER_ADDR", "10.1.2.3"},
                                                   {"MASTER_PORT", "29400"},
                                                   {"TORCHELASTIC_RESTART_COUNT", "2"},
                                                   {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                                   {"GLOO_SOCKET_IFNAME", "eth0,eth1"}};

TEST(DistributedOptions, AbsentWorldSizeIsASingleProcess) {
  auto o = parse({});
  EXPECT_EQ(o.world_size, 1);
  EXPECT_EQ(o.rank, 0);
  EXPECT_FALSE(o.distributed());
  // RANK alone (no WORLD_SIZE) does not make a job either.
  EXPECT_EQ(parse({{"RANK", "2"}, {"WORLD_SIZE", ""}}).world_size, 1);
  auto one = parse({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  EXPECT_FALSE(one.distributed());
}

TEST(DistributedOptions, ReadsTorchrunsContract) {
  auto o = parse(kTorchrun);
  EXPECT_EQ(o.rank, 3);
  EXPECT_EQ(o.world_size, 4);
  EXPECT_EQ(o.local_rank, 1);
  EXPECT_EQ(o.master_addr, "10.1.2.3");
  EXPECT_EQ(o.master_port, 29400);
  EXPECT_EQ(o.restart_count, 2);
  EXPECT_TRUE(o.use_agent_store);
  EXPECT_EQ(o.gloo_interfaces, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_TRUE(o.distributed());

  auto env = kTorchrun;
  env["TORCHELASTIC_USE_AGENT_STORE"] = "False";
  env.erase("TORCHELASTIC_RESTART_COUNT");
  env.erase("LOCAL_RANK");
  o = parse(env);
  EXPECT_FALSE(o.use_agent_store);
  EXPECT_EQ(o.restart_count, 0);
  EXPECT_EQ(o.local_rank, 0);
}

TEST(DistributedOptions, MalformedValuesNameTheVariableAndValue) {
  auto with = [](const std::string& name, const std::string& value) {
    auto env = kTorchrun;
    env[name] = value;
    return error_of(env);
  };
  EXPECT_THAT(with("RANK", "x1"), AllOf(HasSubstr("RANK"), HasSubstr("'x1'")));
  EXPECT_THAT(with("RANK", "4"), AllOf(HasSubstr("RANK"), HasSubstr("'4'"), HasSubstr("[0, ")));
  EXPECT_THAT(with("RANK", "-1"), HasSubstr("'-1'"));
  EXPECT_THAT(with("WORLD_SIZE", "0"), AllOf(HasSubstr("WORLD_SIZE"), HasSubstr("'0'")));
  EXPECT_THAT(with("WORLD_SIZE", "2.5"), AllOf(HasSubstr("WORLD_SIZE"), HasSubstr("'2.5'")));
  EXPECT_THAT(with("MASTER_PORT", "70000"), AllOf(HasSubstr("MASTER_PORT"), HasSubstr("'70000'")));
  EXPECT_THAT(with("MASTER_PORT", "29500 "), HasSubstr("'29500 '"));
  EXPECT_THAT(with("LOCAL_RANK", "one"), AllOf(HasSubstr("LOCAL_RANK"), HasSubstr("'one'")));
  EXPECT_THAT(with("TORCHELASTIC_RESTART_COUNT", "-2"),
              AllOf(HasSubstr("TORCHELASTIC_RESTART_COUNT"), HasSubstr("'-2'")));
  EXPECT_THAT(with("TORCHELASTIC_USE_AGENT_STORE", "yes"),
              AllOf(HasSubstr("TORCHELASTIC_USE_AGENT_STORE"), HasSubstr("'yes'")));
  EXPECT_EQ(with("RANK", "0"), "");
}

TEST(DistributedOptions, MissingRequiredVariablesAreNamed) {
  for (const char* name : {"RANK", "MASTER_ADDR", "MASTER_PORT"}) {
    auto env = kTorchrun;
    env.erase(name);
    EXPECT_THAT(error_of(env), AllOf(HasSubstr(name), HasSubstr("not set"))) << name;
  }
  // A single process needs no rendezvous address.
  EXPECT_EQ(parse({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).master_addr, "127.0.0.1");
}

TEST(DistributedOptions, ValidateRejectsInconsistentOptions) {
  DistributedOptions o;
  o.world_size = 2;
  o.rank = 2;
  EXPECT_THROW(o.validate(), UsageError);
  o.rank = 1;
  o.validate();
  o.timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(o.validate(), UsageError);
}

}  // namespace
}  // namespace mmfuse::train
