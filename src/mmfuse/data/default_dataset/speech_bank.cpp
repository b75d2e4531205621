#include "mmfuse/data/default_dataset/speech_bank.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>

#include "mmfuse/core/error.h"
#include "mmfuse/data/default_dataset/text_variants.h"
#include "mmfuse/data/default_dataset/wav_buffer.h"

extern char** environ;

namespace mmfuse::data::default_dataset {

namespace {

const std::array<std::vector<std::string>, kNumLanguages>& voices_by_language() {
  static const std::array<std::vector<std::string>, kNumLanguages> voices = {{
      {"en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc"},
      {"cmn-latn-pinyin"},
      {"es", "es-419"},
      {"fr", "fr-be"},
      {"de"},
      {"it"},
      {"pt", "pt-br"},
      {"ja"},
  }};
  return voices;
}

constexpr const char* kVariants[] = {"",    "+m1", "+m2", "+m3", "+m4", "+m5", "+m6",
                                     "+m7", "+f1", "+f2", "+f3", "+f4", "+f5"};

[[noreturn]] void espeak_missing(const std::string& espeak, const std::string& why) {
  throw Error("cannot run '" + espeak + "' (" + why +
              "); the default dataset speaks its digits with espeak-ng: install it with "
              "`apt-get install espeak-ng` or pass the program's path");
}

// Runs argv, returns its stdout. Throws Error when it cannot start or fails.
std::string run_capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    espeak_missing(argv[0], std::strerror(rc));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) espeak_missing(argv[0], "exit code 127");
    throw Error("'" + cmd + "' failed (" +
                (WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                   : std::string("killed by a signal")) +
                "); check that espeak-ng and its voice data (espeak-ng-data) are installed");
  }
  return out;
}

// Cuts leading and trailing near-silence (below 2% of the peak), keeping 20 ms margins.
std::vector<float> trim_silence(const std::vector<float>& x, int sample_rate) {
  float peak = 0;
  for (float v : x) peak = std::max(peak, std::abs(v));
  const float threshold = 0.02f * peak;
  std::size_t begin = 0, end = x.size();
  while (begin < end && std::abs(x[begin]) < threshold) ++begin;
  while (end > begin && std::abs(x[end - 1]) < threshold) --end;
  const std::size_t margin = static_cast<std::size_t>(sample_rate / 50);
  begin = begin > margin ? begin - margin : 0;
  end = std::min(x.size(), end + margin);
  return std::vector<float>(x.begin() + static_cast<std::ptrdiff_t>(begin),
                            x.begin() + static_cast<std::ptrdiff_t>(end));
}

}  // namespace

VoiceConfig draw_voice(const SpeechBankOptions& o, Language language, Rng& rng) {
  VoiceConfig v;
  v.language = language;
  const auto& names = voices_by_language()[index_of(v.language)];
  v.voice =
      names[static_cast<std::size_t>(uniform_int(rng, 0, static_cast<int>(names.size()) - 1))];
  v.voice += kVariants[uniform_int(rng, 0, static_cast<int>(std::size(kVariants)) - 1)];
  v.pitch = uniform_int(rng, o.min_pitch, o.max_pitch);
  v.speed = uniform_int(rng, o.min_speed, o.max_speed);
  v.amplitude = uniform_int(rng, o.min_amplitude, o.max_amplitude);
  return v;
}

std::string VoiceConfig::name() const {
  return voice + "_p" + std::to_string(pitch) + "_s" + std::to_string(speed);
}

void check_espeak(const std::string& espeak) {
  run_capture({espeak, "--version"});
}

std::vector<float> speak(const std::string& espeak, const VoiceConfig& voice,
                         const std::string& text, int sample_rate) {
  std::string wav = run_capture({espeak, "-v", voice.voice, "-p", std::to_string(voice.pitch), "-s",
                                 std::to_string(voice.speed), "-a", std::to_string(voice.amplitude),
                                 "--stdout", text});
  MonoAudio audio = decode_audio(wav, espeak + " -v " + voice.voice + " '" + text + "'");
  return resample(audio.samples, audio.sample_rate, sample_rate);
}

std::string spoken_digit(Language language, int digit) {
  static const std::array<std::string, 10> pinyin = {"ling2", "yi1",  "er4", "san1", "si4",
                                                     "wu3",   "liu4", "qi1", "ba1",  "jiu3"};
  return language == Language::zh ? pinyin.at(static_cast<std::size_t>(digit))
                                  : digit_word(language, digit);
}

SpeechBank build_speech_bank(const SpeechBankOptions& o, uint64_t seed, int threads) {
  // Voices are drawn in one sequence and never repeat (same voice, pitch and speed), so the
  // utterances of different splits are distinct.
  SpeechBank bank;
  Rng rng = stream_rng(seed, Stream::voices, 0);
  std::set<std::string> used;
  for (Split split : kAllSplits) {
    // English for english_share of the voices, the other languages in turn for the rest, so
    // every language is spoken in every split that has enough voices.
    const int voices = o.voices_per_split[index_of(split)];
    const int english = static_cast<int>(std::lround(voices * o.english_share));
    const int first_other = uniform_int(rng, 0, kNumLanguages - 2);
    for (int k = 0; k < voices; ++k) {
      const Language language =
          k < english ? Language::en
                      : kAllLanguages.at(1 + (first_other + k - english) % (kNumLanguages - 1));
      VoiceConfig v = draw_voice(o, language, rng);
      for (int tries = 0; !used.insert(v.name()).second && tries < 100; ++tries) {
        v = draw_voice(o, language, rng);
      }
      for (int digit = 0; digit < 10; ++digit) {
        Utterance u;
        u.digit = digit;
        u.split = split;
        u.voice = v;
        u.file = "audio/" + std::string(to_string(split)) + "/" + std::to_string(digit) + "_" +
                 v.name() + ".wav";
        bank.index[index_of(split)][digit].push_back(bank.utterances.size());
        bank.utterances.push_back(std::move(u));
      }
    }
  }
  parallel_for(bank.utterances.size(), threads, [&](std::size_t i) {
    Utterance& u = bank.utterances[i];
    std::vector<float> speech = trim_silence(
        speak(o.espeak, u.voice, spoken_digit(u.voice.language, u.digit), o.sample_rate),
        o.sample_rate);
    Rng lead_rng = stream_rng(seed, Stream::utterance, i);
    const auto lead =
        static_cast<std::size_t>(uniform(lead_rng, 0.0, o.max_lead_s) * o.sample_rate);
    u.samples.assign(lead, 0.0f);
    u.samples.insert(u.samples.end(), speech.begin(), speech.end());
    u.samples.resize(u.samples.size() + static_cast<std::size_t>(o.sample_rate / 20), 0.0f);
  });
  return bank;
}

}  // namespace mmfuse::data::default_dataset
