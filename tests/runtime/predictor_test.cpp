// The runtime layer on a tiny trained run of the built-in dataset: in-memory requests, one
// forward for many, several threads at once, dynamic batching, and bad inputs that name the
// request and the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/runtime/batcher.h"
#include "mmfuse/runtime/predictor.h"
#include "tools/tiny_run.h"

namespace mmfuse::runtime {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::tiny_run;

// The tiny run's test lines as requests (file bytes read into memory); every third request
// leaves its audio out, every fourth its text, so batches mix present and absent modalities.
std::vector<Request> test_requests() {
  const std::string dir = tiny_run().data_dir;
  std::ifstream in(dir + "/test.jsonl");
  std::vector<Request> out;
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line);
    Request r;
    if (j.value("image", json()).is_string()) {
      r.image = EncodedFile::read(dir + "/" + j["image"].get<std::string>());
    }
    if (out.size() % 3 != 0 && j.value("audio", json()).is_object()) {
      r.audio = EncodedFile::read(dir + "/" + j["audio"]["file"].get<std::string>());
    }
    if (out.size() % 4 != 0 && j.value("text", json()).is_string()) {
      r.text = j["text"].get<std::string>();
    }
    out.push_back(std::move(r));
  }
  return out;
}

double max_diff(const Prediction& a, const Prediction& b) {
  double d = 0;
  for (const auto& [target, pa] : a.targets) {
    const auto& pb = b.targets.at(target);
    EXPECT_EQ(pa.index, pb.index) << target;
    for (std::size_t i = 0; i < pa.probabilities.size(); ++i) {
      d = std::max<double>(d, std::abs(pa.probabilities[i] - pb.probabilities[i]));
    }
    for (std::size_t i = 0; i < pa.values.size(); ++i) {
      d = std::max<double>(d, std::abs(pa.values[i] - pb.values[i]));
    }
  }
  return d;
}

TEST(Predictor, OneBatchEqualsSingleCalls) {
  MMFUSE_REQUIRE_TINY_RUN();
  const Predictor p(load_run(tiny_run().run_dir));
  const auto requests = test_requests();
  ASSERT_EQ(requests.size(), 10u);
  const auto batched = p.predict(requests);
  ASSERT_EQ(batched.size(), requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto single = p.predict(std::vector<Request>{requests[i]});
    EXPECT_LE(max_diff(batched[i], single.front()), 1e-5) << "request " << i;
    EXPECT_EQ(batched[i].modalities, requests[i].modalities());
  }
  // Not the same answer for everything: the requests differ and so do the predictions.
  std::set<std::vector<float>> distinct;
  for (const auto& b : batched) distinct.insert(b.targets.at("digit").probabilities);
  EXPECT_GT(distinct.size(), 5u);
}

TEST(Predictor, ConcurrentCallersGetExactlyTheirSingleCallResults) {
  MMFUSE_REQUIRE_TINY_RUN();
  const Predictor p(load_run(tiny_run().run_dir));
  const auto requests = test_requests();
  std::vector<Prediction> expected;
  for (const auto& r : requests) expected.push_back(p.predict(std::vector<Request>{r}).front());
  std::vector<std::vector<Prediction>> got(requests.size());
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < requests.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 5; ++k) got[t].push_back(p.predict(std::vector<Request>{requests[t]}).front());
    });
  }
  for (auto& th : threads) th.join();
  for (std::size_t t = 0; t < requests.size(); ++t) {
    for (const auto& g : got[t]) {
      EXPECT_EQ(g.to_json(), expected[t].to_json()) << "request " << t;
    }
  }
  EXPECT_FALSE(p.run().model.module()->is_training());
}

TEST(Batcher, ConcurrentRequestsAreBatchedAndAnsweredEach) {
  MMFUSE_REQUIRE_TINY_RUN();
  const Predictor p(load_run(tiny_run().run_dir));
  const auto requests = test_requests();
  BatcherOptions bo;
  bo.max_batch = 8;
  bo.max_delay = std::chrono::milliseconds(50);
  Batcher<Prediction> batcher(bo, [&](const std::vector<Prepared>& b) { return p.predict(b); });
  const int callers = 24;
  std::vector<Prediction> got(callers);
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      got[c] = batcher.submit(p.prepare(requests[c % requests.size()])).get();
    });
  }
  for (auto& th : threads) th.join();
  for (int c = 0; c < callers; ++c) {
    const auto single = p.predict(std::vector<Request>{requests[c % requests.size()]}).front();
    EXPECT_LE(max_diff(got[c], single), 1e-5) << "caller " << c;
  }
  const auto stats = batcher.stats();
  EXPECT_EQ(stats.requests, callers);
  EXPECT_LT(stats.batches, callers);  // several requests shared a forward
  EXPECT_LE(stats.largest, 8);
}

TEST(Batcher, AFullQueueIsRefusedWithQueueFull) {
  MMFUSE_REQUIRE_TINY_RUN();
  const Predictor p(load_run(tiny_run().run_dir));
  const auto prepared = p.prepare(test_requests().front());
  BatcherOptions bo;
  bo.max_batch = 1;
  bo.max_queue = 2;
  std::promise<void> release;
  auto gate = release.get_future().share();
  Batcher<int> batcher(bo, [&](const std::vector<Prepared>& b) {
    gate.wait();  // the first batch blocks the batcher thread
    return std::vector<int>(b.size(), 7);
  });
  auto first = batcher.submit(prepared);
  while (batcher.queued() > 0) std::this_thread::yield();  // the batcher took it
  auto second = batcher.submit(prepared);
  auto third = batcher.submit(prepared);
  EXPECT_THROW(batcher.submit(prepared), QueueFull);
  release.set_value();
  EXPECT_EQ(first.get(), 7);
  EXPECT_EQ(second.get(), 7);
  EXPECT_EQ(third.get(), 7);
}

// The error a request gives, as text ("" when it does not throw InputError).
std::string input_error(const Predictor& p, const std::vector<Request>& requests) {
  try {
    p.predict(requests);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Predictor, BadInputsAreInputErrorsNamingTheRequestAndField) {
  MMFUSE_REQUIRE_TINY_RUN();
  const Predictor p(load_run(tiny_run().run_dir));
  auto good = test_requests();
  const std::string png = *good[0].image->bytes;

  auto bad = good;  // truncated PNG bytes in the second request
  bad[1].image = EncodedFile::of(png.substr(0, png.size() / 2), "upload.png");
  EXPECT_THAT(input_error(p, bad), HasSubstr("request 2: field 'image': upload.png: cannot decode"));

  bad = good;  // a WAV whose header is broken
  std::string wav = *good[1].audio->bytes;
  wav.replace(0, 4, "RIFX");
  bad[1].audio = EncodedFile::of(wav, "speech.wav");
  bad[1].id = "abc";
  EXPECT_THAT(input_error(p, bad), HasSubstr("request abc: field 'audio': speech.wav: cannot decode audio"));

  bad = good;  // invalid UTF-8
  bad[2].text = std::string("sept \xff\xfe");
  EXPECT_THAT(input_error(p, bad), HasSubstr("request 3: field 'text': invalid UTF-8 at byte 5"));

  bad = good;  // a modality the run does not use
  bad[0].tabular = std::vector<float>{1.0f};
  EXPECT_THAT(input_error(p, bad), HasSubstr("request 1: field 'tabular': the run does not use tabular"));

  bad = good;  // empty bytes
  bad[0].image = EncodedFile::of("", "empty.png");
  EXPECT_THAT(input_error(p, bad), HasSubstr("request 1: field 'image': empty.png: empty image"));

  // Good requests still work after the bad ones, and a request may give no modality at all.
  EXPECT_EQ(input_error(p, good), "");
  EXPECT_EQ(p.predict(std::vector<Request>{Request{}}).size(), 1u);
}

TEST(Predictor, WrongTaskAndMissingRunAreClearErrors) {
  MMFUSE_REQUIRE_TINY_RUN();
  const Predictor p(load_run(tiny_run().run_dir));
  try {
    p.translate(test_requests());
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("is a supervised run; give a run trained with task: translate"));
  }
  testing::TempDir empty;
  try {
    load_run(empty.str());
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no config.yaml"));
  }
}

}  // namespace
}  // namespace mmfuse::runtime
