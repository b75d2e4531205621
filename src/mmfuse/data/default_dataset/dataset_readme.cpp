#include "mmfuse/data/default_dataset/dataset_readme.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace mmfuse::data::default_dataset {

namespace {

std::string pct(double p) {
  std::ostringstream s;
  s << std::round(p * 1000) / 10 << "%";
  return s.str();
}

}  // namespace

std::string dataset_yaml(const DefaultDatasetOptions& o) {
  std::ostringstream y;
  y << "# mmfuse built-in dataset: spoken and written digits (mmfuse data make-default --seed "
    << o.seed << ")\n"
    << "splits: {train: [train.jsonl], val: [val.jsonl], test: [test.jsonl]}\n"
    << "modalities:\n"
    << "  image: {pipeline: image, channels: 1, size: [28, 28]}\n"
    << "  audio: {pipeline: audio, sample_rate: " << o.speech.sample_rate
    << ", features: logmel, n_mels: 40, max_seconds: 1.5}\n"
    << "  text: {pipeline: text, output: ids, max_len: 8}\n"
    << "targets:\n"
    << "  digit: {field: label, type: class}\n"
    << "  value: {field: value, type: regression}\n";
  return y.str();
}

std::string DefaultDatasetSummary::format() const {
  std::ostringstream s;
  s << "default dataset (seed " << seed << ")\n";
  s << std::left << std::setw(7) << "split" << std::right << std::setw(8) << "samples"
    << std::setw(7) << "image" << std::setw(7) << "audio" << std::setw(7) << "text" << std::setw(7)
    << "typos"
    << "   per class 0..9\n";
  for (Split split : kAllSplits) {
    const SplitSummary& p = splits[index_of(split)];
    s << std::left << std::setw(7) << to_string(split) << std::right << std::setw(8) << p.samples
      << std::setw(7) << p.images << std::setw(7) << p.audios << std::setw(7) << p.texts
      << std::setw(7) << p.texts_with_typos << "  ";
    for (int64_t c : p.per_class) s << " " << c;
    s << "\n";
  }
  s << "sources: sklearn digit rows";
  for (Split split : kAllSplits) {
    s << " " << to_string(split) << "=" << splits[index_of(split)].source_digits;
  }
  s << "; speech bank utterances";
  for (Split split : kAllSplits) {
    s << " " << to_string(split) << "=" << splits[index_of(split)].utterances;
  }
  s << "; noise clips " << noise_clips << "\n";
  for (const char* what : {"text", "audio"}) {
    s << what << " languages:";
    for (Language l : kAllLanguages) {
      int64_t n = 0;
      for (const auto& p : splits) {
        n += std::string(what) == "text" ? p.text_languages[index_of(l)]
                                         : p.audio_languages[index_of(l)];
      }
      s << " " << to_string(l) << "=" << n;
    }
    s << "\n";
  }
  return s.str();
}

std::string dataset_readme(const DefaultDatasetOptions& o, const DefaultDatasetSummary& summary) {
  const auto& im = o.image;
  const auto& sp = o.speech;
  std::ostringstream r;
  r << "# Spoken and written digits (mmfuse built-in dataset)\n\n"
    << "Made by `mmfuse data make-default --seed " << o.seed << " --samples " << o.samples
    << "`; the same command gives byte-identical files. Every sample is a digit 0..9 seen three "
       "ways. Each modality alone is deliberately unreliable, so a model that fuses them has "
       "something to gain; each one fails on different samples.\n\n"
    << "```\n"
    << summary.format() << "```\n\n"
    << "## Files\n"
    << "- `train.jsonl`, `val.jsonl`, `test.jsonl`: one JSON object per line, paths relative to "
       "this folder:\n"
       "  `{\"id\": \"train-00000\", \"label\": 7, \"value\": 7.0, \"image\": "
       "\"images/train/00000.png\", \"audio\": {\"file\": \"audio/train/7_es+f2_p40_s160.wav\", "
       "\"noise\": {\"file\": \"noise/train_pink.wav\", \"offset_s\": 3.141, \"snr_db\": -4.5}}, "
       "\"text\": \"siete\"}`\n"
       "  A modality that a sample lacks is left out of its line.\n"
    << "- `dataset.yaml`: the dataset spec (splits, pipelines, targets `label` as a class and "
       "`value` as a regression target).\n"
    << "- `images/<split>/NNNNN.png`: 28x28 8-bit grey, one per sample.\n"
    << "- `audio/<split>/<digit>_<voice>_p<pitch>_s<speed>.wav`: the speech bank, "
    << sp.sample_rate << " Hz mono PCM16, shared by the samples of its split.\n"
    << "- `noise/<train|test>_<white|pink|brown|babble>.wav`: " << o.noise.seconds
    << " s noise clips at RMS 0.1.\n\n"
    << "The audio of a sample is `file` plus `noise`: read the noise clip from `offset_s` "
       "seconds (wrapping around at its end) for as many samples as the speech has, scale it by "
       "g so that 10*log10(sum speech^2 / sum (g*noise)^2) = `snr_db`, and add it to the speech "
       "(floats in [-1, 1]); the same rule as AV-MNIST in ../shared/data/README.md.\n\n"
    << "## Image: handwritten digits, distorted\n"
    << "Real handwritten digits: the 1797 8x8 UCI digits shipped by Debian's python3-sklearn "
       "(`"
    << o.digits_csv
    << "`). The CSV rows are split in contiguous blocks (first 70% train, "
       "next 15% val, last 15% test); the rows come writer by writer, so val and test digits come "
       "mostly from writers never seen in training. Each sample draws a row of its label and "
       "renders it afresh: cubic upsampling into a 20x20 box centred in 28x28, then an affine "
       "distortion (rotation up to "
    << im.max_rotation_deg << " deg, scale " << im.min_scale << ".." << im.max_scale
    << ", shear up to " << im.max_shear << ", shift up to " << im.max_shift_px
    << " px), a blur with probability " << pct(im.blur_prob)
    << ", an occluding bar (erased or painted) with probability " << pct(im.occlusion_prob)
    << ", and Gaussian noise of standard deviation " << im.min_noise_std << ".." << im.max_noise_std
    << " (intensities in [0, 1]). The 8x8 sources carry little detail, and "
       "the distortions make 4/9, 1/7 and 3/8/5 easy to confuse.\n\n"
    << "## Audio: spoken digits under noise\n"
    << "espeak-ng speaks each digit in " << sp.voices_per_split[0] << "/" << sp.voices_per_split[1]
    << "/" << sp.voices_per_split[2]
    << " voice configurations for train/val/test (voice and variant such as en-us+f3 or de+m5, "
       "pitch "
    << sp.min_pitch << ".." << sp.max_pitch << ", speed " << sp.min_speed << ".." << sp.max_speed
    << " wpm, amplitude " << sp.min_amplitude << ".." << sp.max_amplitude << ", up to "
    << sp.max_lead_s << " s of leading silence). " << pct(sp.english_share)
    << " of the voices speak English; the others say the digit in Chinese (pinyin), Spanish, "
       "French, German, Italian, Portuguese or Japanese, so the same digit sounds very different "
       "from voice to voice. The voices of each split are distinct, so test utterances never "
       "occur in training. Noise: synthetic white, pink (1/f) and brown (1/f^2) noise, and babble "
       "of "
    << o.noise.babble_talkers
    << " espeak-ng talkers reading sentences without digits; "
       "train and val share one clip per kind, test uses its own. The SNR of each sample is "
       "drawn from "
    << o.min_snr_db << ".." << o.max_snr_db
    << " dB (white and babble noise mask the word most, brown noise the least). Even clean, "
       "the audio is hard: test voices are unseen and may speak another language than most "
       "training voices of the same digit.\n\n"
    << "## Text: the digit as a word\n"
    << "The digit written in English, Chinese (七), Spanish, French, German, Italian, Portuguese "
       "or Japanese (hiragana, なな), with no language tag. "
    << pct(o.text.absent_prob) << " of the samples have no text; " << pct(o.text.typo_prob)
    << " of the texts have a character-level typo (insert, delete, substitute or swap of code "
       "points, in the word's own script; a second one with probability "
    << pct(o.text.second_typo_prob)
    << "). Typos can erase a one-character Chinese or Japanese word's meaning entirely.\n\n"
    << "## Targets\n"
    << "`label`: the digit (10 balanced classes per split). `value`: the same digit as a float, "
       "for regression or multitask heads.\n";
  return r.str();
}

}  // namespace mmfuse::data::default_dataset
